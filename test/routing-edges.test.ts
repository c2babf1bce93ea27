/**
 * The control plane's edges, against a real platform: a request names one
 * host (two Host headers, or a target that names another host, are 400,
 * the control host's included); names follow one grammar, checked by the
 * SDK when the app is imported and by the API with a 422 naming the field;
 * a HEAD on a result URL leaves the result for the GET; `/metrics` needs a
 * token (a member token sees its own workspace) unless the server runs
 * with `--public-metrics`.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { bundleApp } from "../src/bundler/bundle.js";
import { ApiClient } from "../src/cli/client.js";
import { BerthError, issuesOf } from "../src/errors/codes.js";
import { App, Secret } from "../src/sdk/index.js";
import { berth, tempHome } from "./support/cli.js";
import { request, startPlatform, tempApp } from "./support/platform.js";
import { exchange, statusOf } from "./support/raw-http.js";

const APP = `
import { App } from "berthjs";
const app = new App("edges");
export const where = app.function().nodeApp(() => (req, res) => res.end(JSON.stringify({ url: req.url, host: req.headers.host })));
export const slow = app.function().webEndpoint(async () => {
  await new Promise((resolve) => setTimeout(resolve, 1500));
  return "finally";
});
`;

test("one host per request: two Hosts or a target naming another host are 400, on the control host too", { timeout: 60_000 }, async (t) => {
  const platform = await startPlatform(t);
  const result = await platform.deploy(tempApp(t, "edges.ts", APP));
  const fn = new URL(platform.url(result, "where"));
  const port = platform.server.port;
  const control = `localhost:${port}`;
  const ask = async (head: string) => (await exchange(port, `${head}\r\nConnection: close\r\n\r\n`)).text;

  const twoHosts = await ask(`GET /metrics HTTP/1.1\r\nHost: ${control}\r\nHost: ${fn.host}`);
  assert.equal(statusOf(twoHosts), 400, twoHosts);
  assert.match(twoHosts, /exactly one Host header/);
  assert.equal(statusOf(await ask(`GET /api/health HTTP/1.1\r\nHost: ${control}\r\nhost: ${control}`)), 400, "even the same host twice");
  assert.equal(statusOf(await ask(`GET / HTTP/1.1\r\nHost: ${fn.host}\r\nHOST: ${control}`)), 400);

  // An absolute target naming a function host, with the control host in Host (and the other way round).
  const smuggled = await ask(`GET http://${fn.host}/api/health HTTP/1.1\r\nHost: ${control}`);
  assert.equal(statusOf(smuggled), 400, smuggled);
  assert.match(smuggled, /names another host/);
  assert.equal(statusOf(await ask(`GET http://${control}/ HTTP/1.1\r\nHost: ${fn.host}`)), 400);
  assert.equal(statusOf(await ask(`GET * HTTP/1.1\r\nHost: ${fn.host}`)), 400);

  // Agreeing absolute targets are served, and what follows sees the origin form.
  const agreed = await ask(`GET http://${fn.host.toUpperCase()}/p?q=1 HTTP/1.1\r\nHost: ${fn.host}`);
  assert.equal(statusOf(agreed), 200, agreed);
  assert.deepEqual(JSON.parse(agreed.slice(agreed.indexOf("\r\n\r\n") + 4)), { url: "/p?q=1", host: fn.host });
  assert.equal(statusOf(await ask(`GET http://${control}/api/health HTTP/1.1\r\nHost: ${control}`)), 200);
});

test("names: the SDK refuses them at import; the API answers 422 naming the field", { timeout: 60_000 }, async (t) => {
  assert.throws(() => new App("bad\nname"), /app name "bad\\nname" is not valid/);
  assert.throws(() => new App("../etc"), /is not valid/);
  assert.throws(() => Secret.fromName("a/b"), /secret name "a\/b" is not valid/);
  const dollar = tempApp(t, "dollar.ts", `import { App } from "berthjs";\nconst app = new App("fine");\nexport const $f = app.function().webEndpoint(() => 1);\n`);
  await assert.rejects(bundleApp(dollar), /export \$f: function name "\$f" is not valid/);

  const platform = await startPlatform(t);
  const bundle = await bundleApp(tempApp(t, "ok.ts", `import { App } from "berthjs";\nconst app = new App("ok");\nexport const f = app.function().webEndpoint(() => 1);\n`));
  await platform.client.uploadBlob(bundle.hash, bundle.code);
  const deploy = (mutate: (manifest: Record<string, unknown> & { functions: Record<string, unknown>[] }) => void) => {
    const manifest = structuredClone(bundle.manifest) as unknown as Record<string, unknown> & { functions: Record<string, unknown>[] };
    mutate(manifest);
    return platform.client.deploy({ bundleHash: bundle.hash, manifest: manifest as never, ephemeral: false }, () => {});
  };
  const refusal = async (promise: Promise<unknown>) => {
    const error = await promise.then(
      () => assert.fail("accepted"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof BerthError);
    assert.equal(error.code, "invalid_input");
    return issuesOf(error);
  };
  assert.deepEqual((await refusal(deploy((m) => (m.name = "forged\n[f] line"))))[0]?.loc, ["manifest", "name"]);
  assert.deepEqual((await refusal(deploy((m) => (m.functions[0]!.name = "../up"))))[0]?.loc, ["manifest", "functions", 0, "name"]);
  const secret = await refusal(deploy((m) => (m.functions[0]!.secrets = [{ kind: "name", name: "a b", requiredKeys: [] }])));
  assert.deepEqual(secret[0]?.loc, ["manifest", "functions", 0, "secrets", 0, "name"]);
  assert.deepEqual((await refusal(platform.client.createSecret("bad/name", { A: "b" })))[0]?.loc, ["path", "name"]);
  assert.deepEqual((await refusal(new ApiClient(platform.server.url, "Team A", platform.token).listApps()))[0]?.loc, ["query", "workspace"]);
  assert.deepEqual((await refusal(platform.client.stats("a%0Ab")))[0]?.loc, ["path", "name"]);
  assert.equal((await platform.client.listApps()).length, 0, "nothing was deployed");

  // The CLI checks --workspace before it sends anything.
  const cli = berth(t, ["app", "list", "--workspace", "Bad--Name", "--server", "http://127.0.0.1:9"], { BERTH_HOME: tempHome(t) });
  assert.equal(await cli.exited, 1);
  assert.match(cli.output(), /workspace name "Bad--Name" is not valid/);
});

test("HEAD on a result URL answers the result's head and leaves it for the GET", { timeout: 60_000 }, async (t) => {
  const platform = await startPlatform(t, { callDelayMs: 300 });
  const result = await platform.deploy(tempApp(t, "edges.ts", APP));
  const url = platform.url(result, "slow");
  const first = await request(url);
  assert.equal(first.status, 303);
  const location = new URL(first.headers.get("location")!, url).toString();
  await first.arrayBuffer();
  for (let i = 0; i < 2; i++) {
    let head = await request(location, { method: "HEAD" });
    // Still running after the delay: the HEAD is redirected to the same URL, like a GET.
    while (head.status === 303) head = await request(location, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");
  }
  const get = await request(location);
  assert.equal(get.status, 200);
  assert.equal(await get.json(), "finally");
  assert.equal((await request(location)).status, 404, "the GET took it");
});

test("/metrics needs a token: 401 without, a member token sees its own workspace, --public-metrics opens it", { timeout: 60_000 }, async (t) => {
  const platform = await startPlatform(t, { requireAuth: true });
  await platform.deploy("examples/hello.ts");
  const member = await platform.client.createToken({ kind: "api", workspace: "team-b" });
  const memberClient = new ApiClient(platform.server.url, undefined, member.token);
  const other = await platform.deploy("examples/square.ts", { client: memberClient });
  await request(platform.url(other, "square") + "?x=3");
  const admin = await platform.deploy("examples/hello.ts");
  await request(platform.url(admin, "f"));

  const anonymous = await request(`${platform.server.url}/metrics`);
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.headers.get("www-authenticate"), 'Bearer realm="berth"');
  const all = await (await request(`${platform.server.url}/metrics`, { headers: platform.auth })).text();
  assert.match(all, /workspace="test",app="hello"/);
  assert.match(all, /workspace="team-b",app="square"/);
  const own = await (await request(`${platform.server.url}/metrics`, { headers: { authorization: `Bearer ${member.token}` } })).text();
  assert.match(own, /berth_requests_total\{workspace="team-b",app="square"/);
  assert.doesNotMatch(own, /workspace="test"/, "another workspace's apps and traffic are not shown");
  assert.match(own, /# TYPE berth_requests_total counter/);

  const open = await startPlatform(t, { requireAuth: true, publicMetrics: true });
  assert.equal((await request(`${open.server.url}/metrics`)).status, 200);
  assert.equal((await request(`${open.server.url}/api/apps`)).status, 401, "only /metrics is opened");
});
