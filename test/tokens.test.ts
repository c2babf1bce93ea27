/**
 * The control API behind API tokens, as `berth server` runs it: no token, a
 * bad one, one of another workspace and a revoked one are refused; tokens
 * are stored hashed and listed without secrets; the CLI saves its token in a
 * mode-0600 file and uses it.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ApiClient } from "../src/cli/client.js";
import { REPO, request, startPlatform } from "./support/platform.js";

test("every control API call but health needs a valid token: 401 with WWW-Authenticate: Bearer", async (t) => {
  const platform = await startPlatform(t, { requireAuth: true });
  const base = platform.server.url;
  assert.equal((await request(`${base}/api/health`)).status, 200);
  const calls: [string, string][] = [
    ["GET", "/api/apps"],
    ["POST", "/api/apps"],
    ["PUT", `/api/blobs/${"0".repeat(64)}`],
    ["GET", "/api/tokens"],
    ["POST", "/api/tokens"],
    ["GET", "/api/secrets"],
    ["PUT", "/api/secrets/x"],
    ["PUT", "/api/workspaces/test/limit"],
    ["GET", "/api/apps/x/logs"],
  ];
  const bogus = ["", "Bearer", "Bearer nope", `Bearer bt_${"0".repeat(16)}_${"A".repeat(43)}`, `Basic ${platform.server.bootstrapToken}`];
  for (const [method, path] of calls) {
    for (const authorization of bogus) {
      const response = await request(`${base}${path}`, { method, headers: authorization ? { authorization } : {}, body: method === "GET" ? undefined : "{}" });
      assert.equal(response.status, 401, `${method} ${path} with "${authorization}"`);
      assert.equal(response.headers.get("www-authenticate"), 'Bearer realm="berth"');
      assert.equal(((await response.json()) as { error: { code: string } }).error.code, "unauthorized");
    }
  }
  // An unauthenticated upload is answered at once and its connection closed, not drained.
  const port = Number(new URL(base).port);
  const refused = await new Promise<{ text: string; closed: boolean }>((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let text = "";
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closed: false });
    }, 5000);
    socket.on("data", (data) => (text += data.toString()));
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
    socket.on("error", () => {});
    socket.write(`PUT /api/blobs/${"0".repeat(64)} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000000\r\n\r\n${"x".repeat(1000)}`);
  });
  assert.match(refused.text, /^HTTP\/1\.1 401 /);
  assert.ok(refused.closed, "the connection was closed");

  const ok = await request(`${base}/api/apps`, { headers: { authorization: `Bearer ${platform.server.bootstrapToken}` } });
  assert.equal(ok.status, 200);
  const lower = await request(`${base}/api/apps`, { headers: { authorization: `bearer ${platform.server.bootstrapToken}` } });
  assert.equal(lower.status, 200, "the scheme is case-insensitive");
});

test("workspace scoping: a member token acts on its own workspace only; revocation is immediate", async (t) => {
  const platform = await startPlatform(t, { requireAuth: true });
  const admin = platform.client;
  const issued = await admin.createToken({ kind: "api", workspace: "team-a", name: "ci" });
  assert.match(issued.token!, /^bt_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
  assert.equal(issued.admin, false);
  const member = new ApiClient(platform.server.url, undefined, issued.token);

  const deployed = await platform.deploy("examples/hello.ts", { client: member });
  assert.match(platform.url(deployed, "f"), /^http:\/\/team-a--hello-f\.localhost:/);
  assert.equal((await request(platform.url(deployed, "f"))).status, 200);
  await platform.deploy("examples/square.ts");
  assert.deepEqual((await member.listApps()).map((app) => app.name), ["hello"]);
  assert.deepEqual((await admin.listApps()).map((app) => app.name), ["square"]);

  const intoTest = new ApiClient(platform.server.url, "test", issued.token);
  await assert.rejects(intoTest.listApps(), /belongs to workspace "team-a" and cannot act on "test"/);
  await assert.rejects(intoTest.stopApp("square"), /cannot act on "test"/);
  await assert.rejects(member.createToken({ kind: "api", admin: true }), /needs an admin token/);
  await assert.rejects(member.createToken({ kind: "proxy", workspace: "test" }), /cannot act on "test"/);
  await assert.rejects(member.setWorkspaceLimit("team-a", { rate: 1e6, burst: 1e6 }), /needs an admin token/);
  const adminId = (await admin.listTokens()).find((token) => token.admin)!.id;
  // Another workspace's token is "not found", exactly like a made-up id: no oracle of which ids exist.
  await assert.rejects(member.revokeToken(adminId), (error: Error) => /^no valid token with id/.test(error.message) && (error as { code?: string }).code === "not_found");
  await assert.rejects(member.revokeToken("bt_0123456789abcdef"), (error: Error) => /^no valid token with id/.test(error.message));
  await assert.rejects(member.listTokens(true), /needs an admin token/);
  // The deploy body's workspace field is checked too.
  const forged = await request(`${platform.server.url}/api/apps`, {
    method: "POST",
    headers: { authorization: `Bearer ${issued.token}`, "content-type": "application/json" },
    body: JSON.stringify({ workspace: "test", bundleHash: "0".repeat(64), manifest: { name: "x", functions: [] } }),
  });
  assert.equal(forged.status, 403);

  await assert.rejects(new ApiClient(platform.server.url, "Bad--Name", platform.server.bootstrapToken).listSecrets(), /workspace name "Bad--Name" is not valid/);

  // A member may issue proxy tokens for its own workspace.
  const proxy = await member.createToken({ kind: "proxy" });
  assert.equal(proxy.workspace, "team-a");

  await admin.revokeToken(issued.id);
  await assert.rejects(member.listApps(), /invalid or revoked/);
  await assert.rejects(admin.revokeToken(issued.id), /no valid token/);
  const listed = await admin.listTokens(true);
  assert.ok(listed.find((token) => token.id === issued.id)!.revokedAt !== null);
});

test("tokens are stored hashed and listed without secrets", async (t) => {
  const platform = await startPlatform(t, { requireAuth: true });
  const api = await platform.client.createToken({ kind: "api", name: "deploy bot" });
  const proxy = await platform.client.createToken({ kind: "proxy" });
  const secrets = [api.token!.slice(20), proxy.secret!, platform.server.bootstrapToken!.slice(20)];
  const listing = JSON.stringify(await platform.client.listTokens(true));
  const database = ["state.db", "state.db-wal"]
    .map((file) => join(platform.home, file))
    .filter(existsSync)
    .map((path) => readFileSync(path).toString("latin1"))
    .join("");
  for (const secret of secrets) {
    assert.ok(!listing.includes(secret), "a listing shows a secret");
    assert.ok(!database.includes(secret), "the database holds a secret");
  }
  assert.ok(listing.includes(api.id) && listing.includes(proxy.key!) && listing.includes("deploy bot"));
  assert.ok(!listing.includes("secretHash"));
});

test("a restarted server keeps its tokens and workspace limits and does not print a new admin token", async (t) => {
  const home = mkdtempSync(join(tmpdir(), "berth-tokens-"));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const first = await startPlatform(t, { requireAuth: true, home });
  const bootstrap = first.server.bootstrapToken!;
  assert.ok(bootstrap);
  await first.client.setWorkspaceLimit("test", { rate: 7, burst: 9 });
  await first.server.close();
  const second = await startPlatform(t, { requireAuth: true, home });
  assert.equal(second.server.bootstrapToken, undefined);
  const again = new ApiClient(second.server.url, undefined, bootstrap);
  assert.ok((await again.listTokens()).length >= 1);
  const kept = await again.workspaceLimit("test");
  assert.deepEqual({ rate: kept.rate, burst: kept.burst, custom: kept.custom }, { rate: 7, burst: 9, custom: true }, "workspace limits persist");
});

test("CLI: login saves the token in a mode-0600 file that later commands use; --token and BERTH_TOKEN work", async (t) => {
  const platform = await startPlatform(t, { requireAuth: true });
  const home = mkdtempSync(join(tmpdir(), "berth-cli-"));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  // Asynchronous: the platform answering the CLI runs in this very process.
  const berth = (args: string[], env: Record<string, string> = {}) =>
    new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [join(REPO, "bin/berth.js"), ...args],
        { env: { PATH: process.env.PATH!, BERTH_HOME: home, NO_COLOR: "1", ...env }, encoding: "utf8", timeout: 30_000 },
        (error, stdout, stderr) => resolve({ status: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });

  const denied = await berth(["secret", "list", "--server", platform.server.url]);
  assert.equal(denied.status, 1);
  assert.match(denied.stderr, /requires an API token: pass --token, set BERTH_TOKEN, or run `berth login`/);

  const token = platform.server.bootstrapToken!;
  const login = await berth(["login", "--server", platform.server.url, "--token", token]);
  assert.equal(login.status, 0, login.stderr);
  assert.equal(statSync(join(home, "config.json")).mode & 0o777, 0o600);

  const created = await berth(["secret", "create", "cli-secret", "K=cli-value-8a8a8a"]);
  assert.equal(created.status, 0, created.stderr);
  assert.doesNotMatch(created.stdout + created.stderr, /cli-value-8a8a8a/);
  const listed = await berth(["secret", "list"]);
  assert.equal(listed.stdout.trim(), "cli-secret               K");

  const proxy = await berth(["token", "create", "--proxy", "--json"]);
  assert.equal(proxy.status, 0, proxy.stderr);
  const issued = JSON.parse(proxy.stdout) as { key: string; secret: string };
  assert.match(issued.key, /^wk-/);
  const revoked = await berth(["token", "revoke", issued.key]);
  assert.equal(revoked.status, 0, revoked.stderr);

  const bad = await berth(["secret", "list", "--token", "bt_nope"]);
  assert.match(bad.stderr, /invalid or revoked/);
  const fromEnv = await berth(["secret", "list", "--server", platform.server.url], { BERTH_TOKEN: token, BERTH_HOME: join(home, "elsewhere") });
  assert.equal(fromEnv.status, 0, fromEnv.stderr);
});
