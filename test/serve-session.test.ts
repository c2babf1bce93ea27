/**
 * `berth serve`'s embedded control API against the cross-site attack: a web
 * page the user visits can send requests to localhost, with an Origin
 * header and a `text/plain` body (no preflight), but cannot read files. The
 * platform demands the session token the serve process holds, which it
 * leaves only in a mode-0600 file for the same user's CLI; a page's deploy
 * and stop are refused, the user's own `berth app stats --dev` works, and
 * the file is gone when serve stops.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { berth, tempHome } from "./support/cli.js";
import { request, tempApp } from "./support/platform.js";

const APP = `import { App } from "berthjs";\nconst app = new App("victim");\nexport const f = app.function().webEndpoint(() => "still here");\n`;

/** What a malicious page would post: a manifest whose image build runs a command on the user's machine. */
const EVIL = JSON.stringify({
  bundleHash: "0".repeat(64),
  manifest: {
    name: "evil",
    functions: [{ name: "f", kind: "endpoint", requiresProxyAuth: false, image: { base: "debian-slim", steps: [{ kind: "run", commands: ["id > /tmp/pwned"] }] } }],
  },
});

test("serve: cross-site deploys and stops are refused without the session token; the user's CLI finds it in a 0600 file", { timeout: 120_000 }, async (t) => {
  const home = tempHome(t);
  const env = { BERTH_HOME: home };
  const serve = berth(t, ["serve", tempApp(t, "victim.ts", APP), "--port", "0", "--no-typecheck"], env);
  const [, url] = await serve.waitFor(/f\s+(http:\/\/local--victim-f-dev\.localhost:(\d+)\/)/);
  const port = new URL(url!).port;
  const api = `http://localhost:${port}`;
  const page = { origin: "http://evil.example", "content-type": "text/plain" };

  const deploy = await request(`${api}/api/apps`, { method: "POST", headers: page, body: EVIL });
  assert.equal(deploy.status, 401);
  assert.equal(((await deploy.json()) as { error: { code: string } }).error.code, "unauthorized");
  const stop = await request(`${api}/api/apps/victim/stop?dev=1`, { method: "POST", headers: page, body: "" });
  assert.equal(stop.status, 401);
  const secret = await request(`${api}/api/secrets/x`, { method: "PUT", headers: page, body: '{"values":{"A":"b"}}' });
  assert.equal(secret.status, 401);
  assert.equal(await (await request(url!)).json(), "still here", "the app was not stopped");

  const sessionFile = join(home, "sessions", `serve-${port}.json`);
  assert.equal(statSync(sessionFile).mode & 0o777, 0o600);
  const { token } = JSON.parse(readFileSync(sessionFile, "utf8")) as { token: string };
  // Even holding the token, a body that is not declared JSON is never parsed.
  const plain = await request(`${api}/api/apps`, { method: "POST", headers: { ...page, authorization: `Bearer ${token}` }, body: EVIL });
  assert.equal(plain.status, 415);
  const apps = await request(`${api}/api/apps`, { headers: { authorization: `Bearer ${token}` } });
  assert.deepEqual(((await apps.json()) as { apps: { name: string }[] }).apps.map((app) => app.name), ["victim"], "nothing was deployed");
  assert.ok(!existsSync("/tmp/pwned") || statSync("/tmp/pwned").mtimeMs < Date.now() - 120_000, "no build step ran");

  // The user's own CLI, in another terminal, needs nothing more.
  const stats = berth(t, ["app", "stats", "victim", "--dev", "--server", api], env);
  assert.equal(await stats.exited, 0, stats.output());
  assert.match(stats.output(), /^f\s/m);

  serve.child.kill("SIGINT");
  assert.equal(await serve.exited, 0);
  assert.equal(existsSync(sessionFile), false, "the session file goes with the serve process");
});
