/**
 * Deploys whose connection breaks (issue 10, item 4). A deploy carries an
 * id the CLI makes up, and the server runs each id once: the same request
 * again (a retry) gets the same version, even while the first is still
 * running. So when the connection breaks after the server took the deploy,
 * the CLI asks again with that id and reports what really happened; when it
 * cannot reach the server any more it says the outcome is unknown, never
 * that no server was reachable. A proxy between the real CLI and the real
 * server cuts the connection right after the server started answering.
 */
import assert from "node:assert/strict";
import { connect, createServer, type Server, type Socket } from "node:net";
import { test, type TestContext } from "node:test";
import { bundleApp } from "../src/bundler/bundle.js";
import { berth } from "./support/cli.js";
import { request, startPlatform, tempApp } from "./support/platform.js";

const APP = `
import { App } from "berthjs";
const app = new App("flaky");
export const f = app.function().webEndpoint(() => "deployed");
`;

/**
 * A TCP proxy to `port` that cuts the client's connection of the first
 * `POST /api/apps` as soon as the server starts answering it (the server
 * carries on, as it does when a client vanishes). `after`: whether the
 * proxy then passes later connections through, or is gone (refuses new
 * connections and cuts the open ones).
 */
async function cuttingProxy(t: TestContext, port: number, after: "pass" | "refuse"): Promise<{ url: string; cuts: () => number }> {
  let cuts = 0;
  const sockets = new Set<Socket>();
  const proxy: Server = createServer((client) => {
    const upstream = connect(port, "127.0.0.1");
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => sockets.delete(socket));
    }
    let deploying = false;
    client.on("data", (chunk: Buffer) => {
      if (cuts === 0 && chunk.toString("latin1").startsWith("POST /api/apps ")) deploying = true;
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (deploying && cuts === 0) {
        cuts += 1;
        client.destroy();
        // The server's side stays open and is read to the end: it finishes the deploy it took.
        if (after === "refuse") {
          // Gone for good: no new connections, and the kept-alive ones the CLI still holds are cut too.
          proxy.close();
          for (const socket of sockets) if (socket !== upstream) socket.destroy();
        }
        return;
      }
      if (!client.destroyed) client.write(chunk);
    });
    client.on("end", () => upstream.end());
    upstream.on("end", () => client.end());
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    proxy.close();
    for (const socket of sockets) socket.destroy();
  });
  const address = proxy.address();
  assert.ok(address && typeof address === "object");
  return { url: `http://127.0.0.1:${address.port}`, cuts: () => cuts };
}

test("the connection breaks after the server took the deploy: the CLI asks again by its id and reports the one version", async (t) => {
  const platform = await startPlatform(t);
  const proxy = await cuttingProxy(t, platform.server.port, "pass");
  const deploy = berth(t, ["deploy", tempApp(t, "flaky.ts", APP), "--server", proxy.url, "--no-typecheck"], { BERTH_TOKEN: platform.token });
  const code = await deploy.exited;
  assert.equal(proxy.cuts(), 1, `the proxy cut the deploy's connection: ${deploy.output()}`);
  assert.equal(code, 0, deploy.output());
  t.diagnostic(`berth deploy said:\n${deploy.output()}`);
  assert.match(deploy.output(), /connection .* broke/i);
  assert.match(deploy.output(), /Deployed app "flaky" \(version 1\)/);
  assert.doesNotMatch(deploy.output(), /no berth server reachable/);
  const apps = await platform.client.listApps();
  assert.deepEqual(apps.map((app) => [app.name, app.version]), [["flaky", 1]], "deployed once, not twice");
  const answer = await request(apps[0]!.functions[0]!.url);
  assert.equal(await answer.text(), '"deployed"');
});

test("the connection breaks and the server cannot be reached again: the outcome is unknown, and the CLI says so", async (t) => {
  const platform = await startPlatform(t);
  const proxy = await cuttingProxy(t, platform.server.port, "refuse");
  const deploy = berth(t, ["deploy", tempApp(t, "flaky.ts", APP), "--server", proxy.url, "--no-typecheck"], { BERTH_TOKEN: platform.token });
  const code = await deploy.exited;
  assert.equal(proxy.cuts(), 1, `the proxy cut the deploy's connection: ${deploy.output()}`);
  assert.equal(code, 1, deploy.output());
  t.diagnostic(`berth deploy said:\n${deploy.output()}`);
  assert.match(deploy.output(), /outcome .*unknown/i);
  assert.match(deploy.output(), /berth app list/);
  assert.doesNotMatch(deploy.output(), /no berth server reachable|start one/);
  // It had in fact gone through.
  assert.deepEqual((await platform.client.listApps()).map((app) => [app.name, app.version]), [["flaky", 1]]);
});

test("the API runs a deploy id once: a retry while it runs and one after it get the same version; another deployment under that id is refused", async (t) => {
  const platform = await startPlatform(t);
  const bundle = await bundleApp(tempApp(t, "flaky.ts", APP));
  await platform.client.uploadBlob(bundle.hash, bundle.code);
  const body = { bundleHash: bundle.hash, manifest: bundle.manifest, ephemeral: false, deployId: "0b0c7c1e-6a7d-4a53-9b9e-2f1f3c0d9a11" };
  const [first, concurrent] = await Promise.all([platform.client.deploy(body, () => {}), platform.client.deploy(body, () => {})]);
  const later = await platform.client.deploy(body, () => {});
  assert.deepEqual([first.version, concurrent.version, later.version], [1, 1, 1]);
  const fresh = await platform.client.deploy({ ...body, deployId: "5d7a3c51-8c1e-4f0e-a4f2-7a4d1c9e0b22" }, () => {});
  assert.equal(fresh.version, 2, "a new id is a new deploy");
  const other = await bundleApp(tempApp(t, "other.ts", APP.replace('"deployed"', '"other"')));
  await platform.client.uploadBlob(other.hash, other.code);
  await assert.rejects(platform.client.deploy({ ...body, bundleHash: other.hash, manifest: other.manifest }, () => {}), /deploy id .* another deployment/);
});
