/**
 * The sandbox's network: outbound connections work by default (to a test
 * server the test runs in a network namespace of its own, reached over a
 * veth pair: never an outside address), `network: false` cuts them, and a
 * `webServer` port lives in each container's own namespace, so two replicas
 * on one hard-coded port both serve.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { test, type TestContext } from "node:test";
import { request, tempApp } from "./support/platform.js";
import { sandboxTest, startSandboxPlatform } from "./support/sandbox.js";
import { sleep } from "./support/wait.js";

/**
 * Runs `ip`. A veth end just created can be briefly missing on a busy
 * machine ("Cannot find device", seen once in CI): that is retried for up
 * to 2 s; any other failure throws at once.
 */
function ip(...args: string[]): void {
  for (let attempt = 0; ; attempt += 1) {
    const result = spawnSync("ip", args, { encoding: "utf8" });
    if (result.status === 0) return;
    const why = result.stderr || result.error?.message || "";
    if (!why.includes("Cannot find device") || attempt >= 20) throw new Error(`ip ${args.join(" ")}: ${why}`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  }
}

/**
 * An HTTP server in a network namespace of its own, joined to the host by a
 * veth pair on a /30 of 10.231.0.0/16; returns its URL. Everything goes
 * after the test.
 */
async function outsideServer(t: TestContext): Promise<string> {
  const tag = randomBytes(3).toString("hex");
  const namespace = `berth-test-${tag}`;
  const subnet = 4 * Math.floor(Math.random() * 16_000);
  const [hostAddress, serverAddress] = [subnet + 1, subnet + 2].map((n) => `10.231.${Math.floor(n / 256)}.${n % 256}`);
  ip("netns", "add", namespace);
  t.after(() => spawnSync("ip", ["netns", "del", namespace]));
  ip("link", "add", `bh${tag}`, "type", "veth", "peer", "name", `bn${tag}`);
  ip("link", "set", `bn${tag}`, "netns", namespace);
  ip("addr", "add", `${hostAddress}/30`, "dev", `bh${tag}`);
  ip("link", "set", `bh${tag}`, "up");
  ip("netns", "exec", namespace, "ip", "addr", "add", `${serverAddress}/30`, "dev", `bn${tag}`);
  ip("netns", "exec", namespace, "ip", "link", "set", `bn${tag}`, "up");
  const server = spawn(
    "ip",
    ["netns", "exec", namespace, process.execPath, "-e", `require("node:http").createServer((q, s) => s.end("hello from outside")).listen(8080, () => console.log("listening"))`],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  t.after(() => server.kill("SIGKILL"));
  await new Promise<void>((resolve, reject) => {
    server.stdout!.once("data", () => resolve());
    server.once("exit", (code) => reject(new Error(`the outside server exited (${code})`)));
  });
  return `http://${serverAddress}:8080/`;
}

const source = `import { createServer } from "node:http";
import { randomUUID } from "node:crypto";
import { App } from "berthjs";

const app = new App("net");

async function fetchOutside(query: unknown) {
  const url = (query as { url: string }).url;
  return fetch(url, { signal: AbortSignal.timeout(5000) }).then(
    async (response) => ({ answered: await response.text() }),
    (error: Error) => ({ failed: (error.cause as NodeJS.ErrnoException | undefined)?.code ?? error.name }),
  );
}

export const online = app.function().webEndpoint(({ query }) => fetchOutside(query));
export const offline = app.function({ network: false }).webEndpoint(({ query }) => fetchOutside(query));

const id = randomUUID();
export const replicas = app
  .function({ maxContainers: 2, concurrency: { maxInputs: 1 } })
  .webServer({ port: 8000 }, () => {
    createServer((_req, res) => setTimeout(() => res.end(id), 1500)).listen(8000);
  });
`;

test("outbound network works by default, to a server outside; network: false cuts it", sandboxTest(), async (t) => {
  const outside = await outsideServer(t);
  const platform = await startSandboxPlatform(t);
  const result = await platform.deploy(tempApp(t, "net.ts", source));
  const online = await request(`${platform.url(result, "online")}?url=${encodeURIComponent(outside)}`);
  assert.deepEqual(await online.json(), { answered: "hello from outside" });
  const offline = await request(`${platform.url(result, "offline")}?url=${encodeURIComponent(outside)}`);
  const cut = (await offline.json()) as { failed?: string };
  assert.ok(cut.failed, `no answer without network: ${JSON.stringify(cut)}`);
  assert.match(cut.failed!, /^(ENETUNREACH|EHOSTUNREACH|ECONNREFUSED|TimeoutError|EAI_AGAIN)$/);
});

test("two replicas of a web server on one hard-coded port both serve, each in its own network namespace", sandboxTest(), async (t) => {
  const platform = await startSandboxPlatform(t);
  const url = platform.url(await platform.deploy(tempApp(t, "net.ts", source)), "replicas");
  // Two calls at once, one input per container: two containers, both on port 8000.
  const first = request(url);
  await sleep(100);
  const answers = await Promise.all([first, request(url)]);
  assert.deepEqual(answers.map((r) => r.status), [200, 200]);
  const ids = await Promise.all(answers.map((r) => r.text()));
  assert.notEqual(ids[0], ids[1], "two different containers answered");
});
