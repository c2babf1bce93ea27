/**
 * The security verbs through the real `berth` binary without a server: a
 * secret created in the state directory reaches `berth serve`'s functions,
 * a proxy token created there guards its endpoints, and the serve output
 * never shows the secret's value.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { berth, tempHome } from "./support/cli.js";
import { REPO, request, tempApp } from "./support/platform.js";

const VALUE = "tok-serve-5c1e2a";

test("secret and proxy token created with --home are used by berth serve; serve output redacts the value", async (t) => {
  const home = tempHome(t);
  const env = { BERTH_HOME: home };
  const created = berth(t, ["secret", "create", "my-web-auth-token", `AUTH_TOKEN=${VALUE}`, "--home", home], env);
  assert.equal(await created.exited, 0, created.output());
  assert.doesNotMatch(created.output(), new RegExp(VALUE));
  const piped = await new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(process.execPath, [join(REPO, "bin", "berth.js"), "secret", "create", "from-stdin", "--from-dotenv", "-", "--home", home], {
      env: { ...process.env, ...env, NO_COLOR: "1" },
    });
    let output = "";
    child.stdout.on("data", (data: Buffer) => (output += data.toString()));
    child.stderr.on("data", (data: Buffer) => (output += data.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
    child.stdin.end("DB_URL=postgres://u:p@db/x\nDB_POOL=4\n");
  });
  assert.equal(piped.code, 0, piped.output);
  const listed = berth(t, ["secret", "list", "--home", home], env);
  assert.equal(await listed.exited, 0, listed.output());
  assert.match(listed.output(), /from-stdin\s+DB_URL, DB_POOL/);
  assert.match(listed.output(), /my-web-auth-token\s+AUTH_TOKEN/);
  const proxy = berth(t, ["token", "create", "--proxy", "--json", "--home", home], env);
  assert.equal(await proxy.exited, 0, proxy.output());
  const issued = JSON.parse(proxy.output().slice(proxy.output().indexOf("{"))) as { key: string; secret: string; workspace: string };
  assert.equal(issued.workspace, "local");

  const file = tempApp(
    t,
    "served.ts",
    `
import { App, Secret } from "berthjs";
const app = new App("served-secrets");
const secrets = [Secret.fromName("my-web-auth-token", { requiredKeys: ["AUTH_TOKEN"] })];
export const f = app.function({ secrets }).webEndpoint(({ request }) => {
  console.log("token is", process.env.AUTH_TOKEN);
  return request.headers.get("authorization") === "Bearer " + process.env.AUTH_TOKEN ? "success!" : "nope";
});
export const guarded = app.function().webEndpoint({ requiresProxyAuth: true }, () => "inside");
`,
  );
  const serve = berth(t, ["serve", file, "--port", "0", "--no-typecheck"], env);
  const [, url] = await serve.waitFor(/f\s+(http:\/\/local--served-secrets-f-dev\.localhost:\d+\/)/);
  const [, guardedUrl] = await serve.waitFor(/guarded\s+(http:\/\/local--served-secrets-guarded-dev\.localhost:\d+\/)/);
  const ok = await request(url!, { headers: { authorization: `Bearer ${VALUE}` } });
  assert.equal(await ok.json(), "success!");
  await serve.waitFor(/token is \[redacted\]/);
  assert.equal((await request(guardedUrl!)).status, 401);
  const inside = await request(guardedUrl!, { headers: { "berth-key": issued.key, "berth-secret": issued.secret } });
  assert.equal(await inside.json(), "inside");
  assert.doesNotMatch(serve.output(), new RegExp(VALUE));
});
