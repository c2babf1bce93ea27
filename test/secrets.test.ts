/**
 * Secrets end to end: created through the API, sealed at rest under a key
 * file apart from the database, injected only into the functions that name
 * them, refused at deploy time when missing, and never shown in logs or API
 * responses.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { test, type TestContext } from "node:test";
import { ApiClient } from "../src/cli/client.js";
import { request, startPlatform, tempApp } from "./support/platform.js";
import { sandboxTest, startSandboxPlatform } from "./support/sandbox.js";

const TOKEN = "secret-random-token-8f2c1d";

function databaseBytes(home: string): string {
  return ["state.db", "state.db-wal"]
    .map((file) => join(home, file))
    .filter(existsSync)
    .map((path) => readFileSync(path).toString("latin1"))
    .join("");
}

test("the document's bearer-token example: 401 with WWW-Authenticate: Bearer, success with the secret's token (sandbox runtime)", sandboxTest(), async (t) => {
  const platform = await startSandboxPlatform(t);
  await platform.client.createSecret("my-web-auth-token", { AUTH_TOKEN: TOKEN });
  const url = platform.url(await platform.deploy("examples/bearer-auth.ts"), "f");

  for (const headers of [{}, { authorization: "Bearer wrong" }, { authorization: TOKEN }]) {
    const response = await request(url, { headers });
    assert.equal(response.status, 401);
    assert.equal(response.headers.get("www-authenticate"), "Bearer");
    assert.deepEqual(await response.json(), { detail: "Incorrect bearer token" });
  }
  const ok = await request(url, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(ok.status, 200);
  assert.equal(await ok.json(), "success!");
});

test("a missing secret or required key fails the deploy with a clear error, naming no value", async (t) => {
  const platform = await startPlatform(t);
  await assert.rejects(platform.deploy("examples/bearer-auth.ts"), /names secret "my-web-auth-token", which does not exist in workspace "test": create it with `berth secret create my-web-auth-token KEY=VALUE`/);

  await platform.client.createSecret("my-web-auth-token", { OTHER_KEY: "value-that-must-not-show" });
  const error = await platform.deploy("examples/bearer-auth.ts").catch((e: Error) => e);
  assert.ok(error instanceof Error);
  assert.match(error.message, /secret "my-web-auth-token" \(used by f\) lacks required key\(s\) AUTH_TOKEN; it has OTHER_KEY/);
  assert.doesNotMatch(error.message, /value-that-must-not-show/);
  assert.deepEqual(await platform.client.listApps(), [], "nothing was deployed");
});

/**
 * A control API client that goes through a recording proxy in front of the
 * platform: every response body the client reads is kept, as it crossed the wire.
 */
async function recordingClient(t: TestContext, target: string, token: string | undefined): Promise<{ client: ApiClient; bodies: string[] }> {
  const bodies: string[] = [];
  const proxy = createServer((incoming, outgoing) => {
    const forward = httpRequest(new URL(incoming.url ?? "/", target), { method: incoming.method, headers: incoming.headers }, (answer) => {
      outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
      const chunks: Buffer[] = [];
      answer.on("data", (chunk: Buffer) => (chunks.push(chunk), outgoing.write(chunk)));
      answer.on("end", () => (bodies.push(Buffer.concat(chunks).toString("utf8")), outgoing.end()));
    });
    forward.on("error", () => outgoing.destroy());
    incoming.pipe(forward);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => (proxy.closeAllConnections(), proxy.close(() => resolve()))));
  const { port } = proxy.address() as AddressInfo;
  return { client: new ApiClient(`http://127.0.0.1:${port}`, undefined, token), bodies };
}

test("secrets reach only the functions that name them; fromDict and fromDotenv work; values are sealed at rest and redacted from logs", async (t) => {
  const echoed: string[] = [];
  const platform = await startPlatform(t, { onLog: (entry) => echoed.push(JSON.stringify(entry)) });
  const { client, bodies: apiResponses } = await recordingClient(t, platform.server.url, platform.server.sessionToken);
  await client.createSecret("named", { NAMED_VALUE: "named-value-0c9e77" });
  const dir = tempApp(t, ".env", "DOTENV_VALUE='dotenv-value-51ab3f'\n# a comment\nexport OTHER=x\n");
  const app = tempApp(
    t,
    "secrets.ts",
    `
import { App, Secret } from "berthjs";
const app = new App("secrets");
const show = () => {
  const values = { named: process.env.NAMED_VALUE ?? null, dict: process.env.DICT_VALUE ?? null, dotenv: process.env.DOTENV_VALUE ?? null };
  console.log("env is", JSON.stringify(values));
  return values;
};
export const withSecrets = app
  .function({ secrets: [Secret.fromName("named"), Secret.fromDict({ DICT_VALUE: "dict-value-7d41e0" }), Secret.fromDotenv(${JSON.stringify(dir)})] })
  .webEndpoint(show);
export const without = app.function().webEndpoint(show);
`,
  );
  const result = await platform.deploy(app, { client });
  const withSecrets = await request(platform.url(result, "withSecrets"));
  assert.deepEqual(await withSecrets.json(), { named: "named-value-0c9e77", dict: "dict-value-7d41e0", dotenv: "dotenv-value-51ab3f" });
  const without = await request(platform.url(result, "without"));
  assert.deepEqual(await without.json(), { named: null, dict: null, dotenv: null });

  const values = ["named-value-0c9e77", "dict-value-7d41e0", "dotenv-value-51ab3f"];
  // Logs: the function printed every value; the log hub shows them masked.
  const lines: string[] = [];
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && !lines.some((line) => line.includes("[redacted]"))) {
    lines.length = 0;
    await client.logs("secrets", {}, (entry) => lines.push(JSON.stringify(entry)));
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.ok(lines.some((line) => line.includes("env is") && line.includes("[redacted]")), lines.join("\n"));

  // Every API response of this run (recorded as the client read them), every log line the server echoed.
  await client.listApps();
  await client.stats("secrets");
  await client.listTokens();
  assert.ok(apiResponses.length >= 6, `recorded ${apiResponses.length} API responses`);
  assert.ok(echoed.some((line) => line.includes("[redacted]")));
  for (const value of values) {
    for (const line of [...lines, ...echoed]) assert.ok(!line.includes(value), `log line shows ${value}: ${line}`);
    for (const body of apiResponses) assert.ok(!body.includes(value), `an API response shows ${value}: ${body}`);
    assert.ok(!databaseBytes(platform.home).includes(value), `the database holds ${value} in plain text`);
  }
  assert.deepEqual(
    (await client.listSecrets()).map(({ name, keys }) => ({ name, keys })),
    [{ name: "named", keys: ["NAMED_VALUE"] }],
    "list shows names and keys; inline secrets stay hidden",
  );
  assert.equal(statSync(join(platform.home, "secrets.key")).mode & 0o777, 0o600);
});

test("secret list, replace and delete; workspaces do not see each other's secrets", async (t) => {
  const platform = await startPlatform(t, { requireAuth: true });
  await platform.client.createSecret("db", { USER: "u", PASSWORD: "p4ssw0rd-xyz" });
  await platform.client.createSecret("db", { URL: "postgres://x" });
  assert.deepEqual((await platform.client.listSecrets()).map((s) => s.keys), [["URL"]]);

  const member = await platform.client.createToken({ kind: "api", workspace: "team-b" });
  const other = new ApiClient(platform.server.url, undefined, member.token);
  assert.deepEqual(await other.listSecrets(), []);
  await assert.rejects(new ApiClient(platform.server.url, "test", member.token).listSecrets(), /cannot act on "test"/);
  await assert.rejects(other.deleteSecret("db"), /no secret named "db" in workspace "team-b"/);

  await assert.rejects(platform.client.createSecret("bad name!", { A: "b" }), /secret name "bad name!" is not valid/);
  await assert.rejects(platform.client.createSecret("x", { "1BAD": "b" }), /not a valid environment variable name/);

  await platform.client.deleteSecret("db");
  assert.deepEqual(await platform.client.listSecrets(), []);
  await assert.rejects(platform.client.deleteSecret("db"), /no secret named "db"/);
});

test("a start-up failure that mentions a secret is redacted in the 503, stats and logs", async (t) => {
  const platform = await startPlatform(t);
  await platform.client.createSecret("leaky", { LEAK: "leaked-value-99d0c1" });
  const app = tempApp(
    t,
    "leaky.ts",
    `
import { App, Secret } from "berthjs";
const app = new App("leaky");
export const f = app
  .function({ secrets: [Secret.fromName("leaky")], enter: () => { throw new Error("cannot use " + process.env.LEAK); } })
  .webEndpoint(() => "never");
`,
  );
  const url = platform.url(await platform.deploy(app), "f");
  const response = await request(url);
  const body = await response.text();
  assert.equal(response.status, 503);
  assert.match(body, /\[redacted\]/);
  const lines: string[] = [];
  await platform.client.logs("leaky", {}, (entry) => lines.push(entry.line));
  const everything = [body, JSON.stringify(await platform.client.stats("leaky")), ...lines].join("\n");
  assert.ok(!everything.includes("leaked-value-99d0c1"), everything);
});

test("Secret.fromDotenv: a relative path starts at the app file's directory, not the working directory", async (t) => {
  const platform = await startPlatform(t);
  const envFile = tempApp(t, ".env.local", "FROM_DOTENV=found-beside-the-app\n");
  const app = join(dirname(envFile), "app.ts");
  writeFileSync(
    app,
    `import { App, Secret } from "berthjs";
const app = new App("dotenv-path");
export const f = app.function({ secrets: [Secret.fromDotenv(".env.local")] }).webEndpoint(() => process.env.FROM_DOTENV ?? null);
`,
  );
  assert.notEqual(process.cwd(), dirname(app));
  const result = await platform.deploy(app);
  assert.equal(await (await request(platform.url(result, "f"))).json(), "found-beside-the-app");

  writeFileSync(app, readFileSync(app, "utf8").replace('".env.local"', '"missing.env"'));
  await assert.rejects(platform.deploy(app), new RegExp(`Secret\\.fromDotenv: cannot read ${join(dirname(app), "missing.env").replace(/[.]/g, "\\.")} \\(ENOENT\\)`));
});
