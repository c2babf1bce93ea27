/**
 * Two real `berth server` nodes on the sandbox runtime sharing one real
 * PostgreSQL database, each with an image store of its own, behind the
 * round-robin load balancer. An app whose image copies files from the
 * deploying machine (`addLocalFile`, `addLocalDir`) is deployed with the
 * real CLI through the balancer, so its archives, its bundle and the
 * deploy itself land on whichever nodes the balancer picks: every node
 * must fetch the archives from the database, check them, build the image
 * itself and serve what the files hold.
 */
import assert from "node:assert/strict";
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { berth } from "./support/cli.js";
import { startCluster } from "./support/cluster.js";
import { request, tempApp } from "./support/platform.js";
import { privateImageCache, sandboxTest } from "./support/sandbox.js";
import { waitFor } from "./support/wait.js";

/** The blobs a node holds as files (its cache of the database's blobs). */
function cachedBlobs(home: string): string[] {
  return readdirSync(join(home, "blobs", "sha256"))
    .filter((name) => /^[0-9a-f]{64}$/.test(name))
    .sort();
}

function isTar(path: string): boolean {
  const header = Buffer.alloc(512);
  const fd = openSync(path, "r");
  try {
    return readSync(fd, header, 0, 512, 0) === 512 && header.toString("latin1", 257, 262) === "ustar";
  } finally {
    closeSync(fd);
  }
}

test("files added to an image through one node reach the image every node builds", { ...sandboxTest(), timeout: 600_000 }, async (t) => {
  const cluster = await startCluster(t, { nodes: 2, runtime: "sandbox", nodeExtra: () => ["--image-cache", privateImageCache(t)] });
  const local = mkdtempSync(join(tmpdir(), "berth-local-"));
  t.after(() => rmSync(local, { recursive: true, force: true }));
  const marker = `m-${Date.now().toString(36)}`;
  writeFileSync(join(local, "config.json"), JSON.stringify({ marker }));
  mkdirSync(join(local, "static"));
  writeFileSync(join(local, "static", "index.html"), `<h1>${marker}</h1>`);
  const app = tempApp(
    t,
    "copied.ts",
    `import { readFileSync } from "node:fs";
import { App, Image } from "berthjs";
const image = Image.debianSlim()
  .addLocalFile(${JSON.stringify(join(local, "config.json"))}, "/srv/config.json")
  .addLocalDir(${JSON.stringify(join(local, "static"))}, "/srv/static");
const app = new App("copied", { image });
export const look = app.function().webEndpoint(() => ({
  config: JSON.parse(readFileSync("/srv/config.json", "utf8")),
  page: readFileSync("/srv/static/index.html", "utf8"),
}));
`,
  );
  const deploy = berth(t, ["deploy", app, "--server", cluster.lb, "--token", cluster.token, "--no-typecheck"]);
  assert.equal(await deploy.exited, 0, deploy.output());
  const url = new URL(deploy.output().match(/look\s+(http:\/\/\S+)/)![1]!);

  const expected = JSON.stringify({ config: { marker }, page: `<h1>${marker}</h1>` });
  for (const node of cluster.nodes) {
    url.port = String(node.port);
    // The node that did not take the deploy builds the copy layers when the change reaches it.
    await waitFor(
      `node ${node.id} to serve the copied files`,
      async () => {
        const response = await request(url.toString());
        return response.status === 200 && (await response.text()) === expected;
      },
      120_000,
      200,
    );
  }

  // Both archives are on every node's disk now, each a tar archive whatever node received its upload.
  const [first, second] = cluster.nodes.map((node) => cachedBlobs(node.home));
  assert.equal(first!.length, 2, `node n1 holds ${first!.join(", ")}`);
  assert.deepEqual(second, first);
  for (const node of cluster.nodes) for (const hash of first!) assert.ok(isTar(join(node.home, "blobs", "sha256", hash)));
});
