/**
 * The dashboard over plain HTTP against a real platform, as an attacker or
 * a careless client would meet it: what an anonymous client gets, sign-in,
 * the session cookie, cross-site and CSRF refusals, a member token held to
 * its workspace, a revoked token signed out, secrets never shown, `berth
 * serve`'s link, and the live feed announcing a deploy made through the
 * control API. (test/dashboard-browser.test.ts drives the same pages in
 * Chromium.)
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { Response } from "undici";
import { ApiClient } from "../src/cli/client.js";
import { startServer } from "../src/server/start.js";
import { Browser } from "./support/form-browser.js";
import { request, startPlatform, tempApp, type TestPlatform } from "./support/platform.js";
import { freePort } from "./support/ports.js";
import { sandboxTest, startSandboxPlatform } from "./support/sandbox.js";
import { waitFor } from "./support/wait.js";

async function platformWithApp(t: Parameters<typeof startPlatform>[0]): Promise<TestPlatform> {
  const platform = await startPlatform(t, { requireAuth: true });
  await platform.deploy("examples/hello.ts");
  return platform;
}

test("an anonymous client gets the sign-in page and its stylesheet, nothing else", async (t) => {
  const platform = await platformWithApp(t);
  const anon = new Browser(platform.server.url);
  for (const path of ["/", "/w/test/", "/w/test/apps/hello", "/w/test/apps/hello/functions/f", "/w/test/apps/hello/logs", "/w/test/tokens", "/w/test/secrets", "/w/test/limits", "/w/other/"]) {
    const response = await anon.get(path);
    assert.equal(response.status, 303, path);
    assert.match(response.headers.get("location") ?? "", /^\/login/, path);
    assert.doesNotMatch(await response.text(), /hello/);
  }
  assert.equal((await anon.get("/w/test/events?view=apps")).status, 401);
  assert.equal((await anon.get("/w/test/events?view=logs&app=hello")).status, 401);
  assert.equal((await anon.post("/w/test/tokens", { kind: "api" })).status, 401);
  assert.equal((await anon.post("/logout", {})).status, 401);
  const login = await anon.get("/login");
  assert.equal(login.status, 200);
  const html = await login.text();
  assert.match(html, /<form class="login" method="post" action="\/login">/);
  assert.doesNotMatch(html, /<script/, "the sign-in page runs no script");
  const style = /href="(\/assets\/style\.[0-9a-f]+\.css)"/.exec(html)?.[1];
  assert.ok(style);
  assert.equal((await anon.get(style)).status, 200);
  // The other assets are for signed-in pages only; learn their names from one.
  const admin = new Browser(platform.server.url);
  await admin.signIn(platform.token);
  const page = await (await admin.get("/w/test/apps/hello/functions/f")).text();
  const scripts = [...page.matchAll(/(?:src|href)="(\/assets\/(?:client|uplot)\.[^"]+)"/g)].map((m) => m[1]!);
  assert.equal(scripts.length, 3, page.slice(0, 800));
  for (const script of scripts) {
    assert.equal((await admin.get(script)).status, 200, script);
    assert.equal((await anon.get(script)).status, 404, script);
  }
  // Every answer carries the headers that keep other origins out.
  assert.match(login.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/);
  assert.equal(login.headers.get("x-frame-options"), "DENY");
  assert.equal(login.headers.get("cross-origin-resource-policy"), "same-origin");
});

test("sign-in: a bad token is refused, a good one gets an HttpOnly SameSite=Strict cookie; a cross-site sign-in is refused", async (t) => {
  const platform = await platformWithApp(t);
  const browser = new Browser(platform.server.url);
  const bad = await browser.signIn("bt_0000000000000000_nope");
  assert.equal(bad.status, 401);
  assert.match(await bad.text(), /not valid/);
  assert.equal(browser.cookie, undefined);
  assert.equal((await browser.post("/login", { token: platform.token }, { origin: "http://evil.example" })).status, 403);
  assert.equal((await browser.post("/login", { token: platform.token }, { "sec-fetch-site": "cross-site" })).status, 403);
  assert.equal(browser.cookie, undefined);

  const ok = await browser.signIn(platform.token);
  assert.equal(ok.status, 303);
  const cookie = ok.headers.get("set-cookie") ?? "";
  assert.match(cookie, /^berth_session=[\w-]{40,}; Path=\/; HttpOnly; SameSite=Strict$/);
  const apps = await browser.get("/w/test/");
  assert.equal(apps.status, 200);
  const html = await apps.text();
  assert.match(html, /data-app="hello"/);
  assert.doesNotMatch(html, new RegExp(platform.token), "the token never reaches a page");

  // A second cookie of the same name (one a function host set for the whole domain) makes the session ambiguous: none.
  const shadowed = await browser.get("/w/test/", { cookie: `${browser.cookie}; berth_session=attacker` });
  assert.equal(shadowed.status, 303);
  // The cookie is not a bearer token for the control API.
  assert.equal((await request(`${platform.server.url}/api/apps`, { headers: { cookie: browser.cookie! } })).status, 401);
  // `next` leads back only to this dashboard.
  const away = await new Browser(platform.server.url).post("/login?next=//evil.example/x", { token: platform.token });
  assert.equal(away.headers.get("location"), "/");
});

test("a forged, unknown or malformed cookie is the sign-in page, never an error (expiry: test/support/session-suite.ts)", async (t) => {
  const platform = await platformWithApp(t);
  const browser = new Browser(platform.server.url);
  await browser.signIn(platform.token);
  const real = browser.cookie!.split("=")[1]!;
  // The real id with its last character changed (to another one: it may have been an "A").
  const nearly = `${real.slice(0, 42)}${real.endsWith("A") ? "B" : "A"}`;
  const values = ["", "x", "x".repeat(43), nearly, real.slice(1), `${real}A`, "a".repeat(8000), "%00%ff%fe", "../../state.db", `${real}%00`, "é"];
  for (const value of values) {
    const page = await request(`${platform.server.url}/w/test/`, { headers: { cookie: `berth_session=${value}` } });
    assert.equal(page.status, 303, JSON.stringify(value.slice(0, 40)));
    assert.match(page.headers.get("location") ?? "", /^\/login/);
    const post = await request(`${platform.server.url}/w/test/tokens`, { method: "POST", headers: { cookie: `berth_session=${value}`, "content-type": "application/x-www-form-urlencoded" }, body: "kind=api" });
    assert.equal(post.status, 401, JSON.stringify(value.slice(0, 40)));
  }
  assert.equal((await browser.get("/w/test/")).status, 200, "the real session is untouched");
});

test("a restart keeps the sessions (the state store holds them, sealed); signing out ends them", async (t) => {
  const home = mkdtempSync(join(tmpdir(), "berth-restart-"));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const first = await startServer({ home, port: 0, workspace: "test", warmAgents: 1, requireAuth: true });
  let closed = false;
  t.after(() => (closed ? undefined : first.close()));
  const token = first.bootstrapToken!;
  const browser = new Browser(first.url);
  await browser.signIn(token);
  const csrf = await browser.csrf("/w/test/tokens");
  await first.close();
  closed = true;
  const again = await startServer({ home, port: 0, workspace: "test", warmAgents: 1, requireAuth: true });
  t.after(() => again.close());
  browser.base = again.url;
  const page = await browser.get("/w/test/tokens");
  assert.equal(page.status, 200, "still signed in after the restart");
  assert.match(await page.text(), new RegExp(`data-csrf="${csrf}"`), "with the same CSRF token");
  assert.equal((await browser.post("/logout", { _csrf: csrf })).status, 303);
  assert.equal((await browser.get("/w/test/")).status, 303);
});

test("behind a proxy that ends TLS (--public-url https://…), sessions on the public host get the Secure __Host- cookie; loopback keeps the plain one", async (t) => {
  const port = await freePort();
  const publicBase = `https://fns.test:${port}`;
  const platform = await startPlatform(t, { requireAuth: true, port, publicUrl: publicBase });
  assert.equal(platform.server.dashboardUrl, `${publicBase}/`);
  // What the proxy forwards: plain HTTP, the browser's Host (fns.test:<port>) and Origin (https://fns.test:<port>).
  const proxied = new Browser(`http://fns.test:${port}`);
  const signedIn = await proxied.post("/login", { token: platform.token }, { origin: publicBase });
  assert.match(signedIn.headers.get("set-cookie") ?? "", /^__Host-berth_session=[\w-]{40,}; Path=\/; HttpOnly; SameSite=Strict; Secure$/);
  assert.equal((await proxied.get("/w/test/")).status, 200);
  // A cookie without the prefix (which any function host could set for the whole domain) opens nothing there.
  const local = new Browser(platform.server.url);
  const plain = await local.signIn(platform.token);
  assert.match(plain.headers.get("set-cookie") ?? "", /^berth_session=[\w-]{40,}; Path=\/; HttpOnly; SameSite=Strict$/);
  assert.equal((await local.get("/w/test/")).status, 200);
  assert.equal((await proxied.get("/w/test/", { cookie: local.cookie! })).status, 303);
});

test("every state-changing request needs this origin and the session's CSRF token", async (t) => {
  const platform = await platformWithApp(t);
  const browser = new Browser(platform.server.url);
  await browser.signIn(platform.token);
  const csrf = await browser.csrf("/w/test/tokens");
  const before = (await platform.client.listTokens()).length;
  const attempts: [string, Record<string, string>, Record<string, string>][] = [
    ["no CSRF token", { kind: "api" }, {}],
    ["a wrong CSRF token", { kind: "api", _csrf: "x".repeat(43) }, {}],
    ["another site's form", { kind: "api", _csrf: csrf }, { origin: "http://evil.example", "sec-fetch-site": "cross-site" }],
    ["a function host's page (same site, other origin)", { kind: "api", _csrf: csrf }, { origin: "http://test--hello-f.localhost", "sec-fetch-site": "same-site" }],
    ["an opaque origin", { kind: "api", _csrf: csrf }, { origin: "null" }],
  ];
  for (const [what, form, headers] of attempts) {
    const response = await browser.post("/w/test/tokens", form, headers);
    assert.equal(response.status, 403, what);
  }
  assert.equal((await platform.client.listTokens()).length, before, "no token was created");
  for (const path of ["/w/test/apps/hello/stop", "/w/test/apps/hello/rollback", "/w/test/secrets", "/logout"]) {
    assert.equal((await browser.post(path, { version: "1", name: "x", values: "A=b" })).status, 403, path);
  }
  assert.equal((await (await request(platform.url(await platform.deploy("examples/hello.ts"), "f"))).json()), "Hello world!", "nothing was stopped");

  const made = await browser.post("/w/test/tokens", { kind: "api", name: "from the dashboard", _csrf: csrf });
  assert.equal(made.status, 303);
  assert.equal((await platform.client.listTokens()).length, before + 1);
  const shown = await (await browser.get("/w/test/tokens")).text();
  const secret = /<code id="new-secret">(bt_[^<]+)<\/code>/.exec(shown)?.[1];
  assert.ok(secret, "the new token is shown once");
  assert.doesNotMatch(await (await browser.get("/w/test/tokens")).text(), new RegExp(secret), "and never again");
  assert.ok(await new ApiClient(platform.server.url, undefined, secret).listApps(), "it is a working API token");
});

test("a member token sees its own workspace only, pages, feeds and actions alike", async (t) => {
  const platform = await platformWithApp(t);
  const member = await platform.client.createToken({ kind: "api", workspace: "team-b", name: "member" });
  const browser = new Browser(platform.server.url);
  assert.equal((await browser.signIn(member.token!)).headers.get("location"), "/");
  assert.equal((await browser.get("/")).headers.get("location"), "/w/team-b/");
  const own = await browser.get("/w/team-b/");
  assert.equal(own.status, 200);
  const ownHtml = await own.text();
  assert.doesNotMatch(ownHtml, /data-app="hello"/);
  assert.doesNotMatch(ownHtml, /<select name="workspace"/, "no workspace switch for a member");
  const csrf = /data-csrf="([^"]+)"/.exec(ownHtml)![1]!;
  for (const path of ["/w/test/", "/w/test/apps/hello", "/w/test/apps/hello/functions/f", "/w/test/apps/hello/logs", "/w/test/tokens", "/w/test/secrets", "/w/test/limits"]) {
    const response = await browser.get(path);
    assert.equal(response.status, 403, path);
    assert.doesNotMatch(await response.text(), /data-app="hello"|local--hello|test--hello/, path);
  }
  assert.equal((await browser.get("/w/test/events?view=apps")).status, 403);
  assert.equal((await browser.get("/w/test/events?view=logs&app=hello")).status, 403);
  assert.equal((await browser.post("/w/test/apps/hello/stop", { _csrf: csrf })).status, 403);
  assert.equal((await browser.post("/w/test/tokens", { kind: "api", _csrf: csrf })).status, 403);
  assert.equal((await browser.get("/w/Not_A_Workspace/")).status, 404);
  // Its own workspace's limit is readable, not changeable.
  assert.doesNotMatch(await (await browser.get("/w/team-b/limits")).text(), /id="set-limit"/);
  const refused = await browser.post("/w/team-b/limits", { rate: "5", _csrf: csrf });
  assert.equal(refused.status, 303);
  assert.match(await (await browser.get("/w/team-b/limits")).text(), /needs an admin token/);

  // The admin sees both workspaces in its switch.
  const admin = new Browser(platform.server.url);
  await admin.signIn(platform.token);
  const adminHtml = await (await admin.get("/w/test/")).text();
  assert.match(adminHtml, /<option value="team-b"/);
  assert.equal((await admin.get("/w/team-b/tokens")).status, 200);
});

test("revoking a token signs its sessions out at once, the live feed included", async (t) => {
  const platform = await platformWithApp(t);
  const member = await platform.client.createToken({ kind: "api", name: "soon revoked" });
  const browser = new Browser(platform.server.url);
  await browser.signIn(member.token!);
  assert.equal((await browser.get("/w/test/")).status, 200);
  const feed = await browser.get("/w/test/events?view=apps");
  assert.equal(feed.status, 200);
  const events = sse(feed);
  await platform.client.revokeToken(member.id);
  await waitFor("the feed's signed-out event", async () => (await events.next()).value?.event === "signed-out" || undefined);
  const after = await browser.get("/w/test/");
  assert.equal(after.status, 303);
  assert.match(after.headers.get("location") ?? "", /^\/login/);
});

test("secrets: created through the dashboard, listed by key, their values never on a page", async (t) => {
  const platform = await platformWithApp(t);
  const browser = new Browser(platform.server.url);
  await browser.signIn(platform.token);
  const csrf = await browser.csrf("/w/test/secrets");
  assert.equal((await browser.post("/w/test/secrets", { name: "db", values: "DB_URL=postgres://u:hunter2-secret@db/x\nMODE=prod", _csrf: csrf })).status, 303);
  const html = await (await browser.get("/w/test/secrets")).text();
  assert.match(html, /Saved secret db with key\(s\) DB_URL, MODE/);
  assert.match(html, /data-secret="db"/);
  assert.doesNotMatch(html, /hunter2-secret|prod</);
  // Bad input is an error message, not a crash.
  assert.equal((await browser.post("/w/test/secrets", { name: "../x", values: "A=b", _csrf: csrf })).status, 303);
  assert.match(await (await browser.get("/w/test/secrets")).text(), /class="flash error"/);
  assert.equal((await browser.post("/w/test/secrets", { name: "x", values: "no equals sign", _csrf: csrf })).status, 303);
  assert.match(await (await browser.get("/w/test/secrets")).text(), /line 1 is not KEY=value/);
  const huge = await browser.post("/w/test/secrets", { name: "big", values: `A=${"x".repeat(100_000)}`, _csrf: csrf });
  assert.equal(huge.status, 413);
});

test("the live feed sends moving numbers, and a deploy through the control API as new regions", async (t) => {
  const platform = await platformWithApp(t);
  const browser = new Browser(platform.server.url);
  await browser.signIn(platform.token);
  const page = await (await browser.get("/w/test/")).text();
  const live = /data-live="([^"]+)"/.exec(page)![1]!.replace(/&amp;/g, "&");
  const feed = await browser.get(live);
  assert.equal(feed.headers.get("content-type"), "text/event-stream");
  const events = sse(feed);
  const first = (await events.next()).value;
  assert.equal(first?.event, "values", "the page's shape is current: numbers only");
  assert.equal(first?.data["hello||f|rpm"], "0");
  await request(platform.url(await platform.deploy("examples/hello.ts"), "f"));
  const moved = await waitFor("the request counted", async () => {
    const event = (await events.next()).value;
    return event?.data["hello||f|rpm"] === "1" ? event : undefined;
  });
  assert.ok(moved);
  await platform.deploy("examples/square.ts");
  const regions = await waitFor("the new app in a regions event", async () => {
    const event = (await events.next()).value;
    return event?.event === "regions" ? event : undefined;
  });
  assert.match(String(regions.data.regions?.apps), /data-app="square"/);
  assert.match(String(regions.data.regions?.apps), /data-version="hello">2</, "hello's redeploy is there too");
});

test("a container killed for running out of memory shows on its function page, live: a crash, with the limit it went over", sandboxTest(), async (t) => {
  const platform = await startSandboxPlatform(t, { requireAuth: true });
  const result = await platform.deploy(
    tempApp(
      t,
      "hog.ts",
      `import { App } from "berthjs";
const app = new App("hog");
export const eat = app.function({ memory: 256 }).webEndpoint(({ query }) => ({ bytes: Buffer.alloc(Number((query as { mb: string }).mb) << 20, 1).length }));
`,
    ),
  );
  const url = platform.url(result, "eat");
  assert.equal((await request(`${url}?mb=10`)).status, 200);
  const browser = new Browser(platform.server.url);
  await browser.signIn(platform.token);
  const path = "/w/test/apps/hog/functions/eat";
  const before = await (await browser.get(path)).text();
  assert.doesNotMatch(before, /id="failures"/);
  const live = /data-live="([^"]+)"/.exec(before)![1]!.replace(/&amp;/g, "&");
  const events = sse(await browser.get(live));

  assert.equal((await request(`${url}?mb=500`)).status, 502);
  const regions = await waitFor("the crash in a regions event", async () => {
    const event = (await events.next()).value;
    return event?.event === "regions" && /data-failure="crash"/.test(String(event.data.regions?.containers)) ? event : undefined;
  });
  assert.match(String(regions.data.regions?.containers), /was killed: out of memory \(limit 256 MiB\)/);
  const page = await (await browser.get(path)).text();
  assert.match(page, /<tr data-failure="crash">.*crashed.*was killed: out of memory \(limit 256 MiB\)/s);
  assert.match(page, /data-k="hog\|\|eat\|crashes"[^>]*>1</);
  assert.match(page, /data-k="hog\|\|eat\|failures"[^>]*>0</, "a crash is not a start failure");
  assert.equal(page.match(/was killed: out of memory/g)?.length, 1, "said once, in the recent failures");
});

test("berth serve's dashboard opens from its printed link without signing in; a wrong key gets the sign-in page", async (t) => {
  const platform = await startPlatform(t);
  await platform.deploy("examples/hello.ts", { ephemeral: true });
  const link = platform.server.dashboardUrl;
  assert.match(link, /\/\?key=[\w-]{40,}$/);
  const wrong = new Browser(platform.server.url);
  assert.match((await wrong.get("/?key=nope")).headers.get("location") ?? "", /^\/login/);
  const browser = new Browser(platform.server.url);
  const open = await browser.get(link.slice(platform.server.url.length));
  assert.equal(open.status, 303);
  assert.equal(open.headers.get("location"), "/", "the key leaves the address bar");
  assert.match(open.headers.get("set-cookie") ?? "", /HttpOnly; SameSite=Strict/);
  const html = await (await browser.get("/w/test/")).text();
  assert.match(html, /data-app="hello"/);
  assert.doesNotMatch(html, /Sign out/);
  // Cross-site requests are refused the same way.
  const csrf = /data-csrf="([^"]+)"/.exec(html)![1]!;
  assert.equal((await browser.post("/w/test/apps/hello/stop?dev=1", { _csrf: csrf }, { origin: "http://evil.example", "sec-fetch-site": "cross-site" })).status, 403);
  assert.equal((await browser.post("/w/test/apps/hello/stop?dev=1", {})).status, 403);
  assert.equal((await platform.client.listApps()).find((a) => a.name === "hello")?.state, "deployed");
});

/** A loopback port free a moment ago, for a server whose public URL must name its port. */

interface SseEvent {
  event: string;
  data: Record<string, string> & { regions?: Record<string, string> };
}

/** The events of a server-sent event stream, one at a time; each `next()` waits at most 15 s. */
async function* sse(response: Response): AsyncGenerator<SseEvent> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      let end = buffer.indexOf("\n\n");
      while (end === -1) {
        const chunk = await Promise.race([reader.read(), new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no event within 15 s")), 15_000).unref())]);
        if (chunk.done) return;
        buffer += decoder.decode(chunk.value, { stream: true });
        end = buffer.indexOf("\n\n");
      }
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = block
        .split("\n")
        .filter((line) => line.startsWith("data: "))
        .map((line) => line.slice(6))
        .join("\n");
      if (event) yield { event, data: JSON.parse(data) as SseEvent["data"] };
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

test("the log filters the logs page uses, on the control API: container, stream, and a follow that resumes after a cursor", async (t) => {
  const platform = await platformWithApp(t);
  const url = platform.url(await platform.deploy("examples/hello.ts"), "f");
  for (let i = 0; i < 3; i += 1) await request(url);
  const logs = (query: string) => request(`${platform.server.url}/api/apps/hello/logs?${query}`, { headers: platform.auth });
  const all = (await waitFor("three access lines", async () => {
    const page = (await (await logs("stream=access")).json()) as { entries: { stream: string; container: string }[]; cursor: string };
    return page.entries.length === 3 ? page : undefined;
  }))!;
  assert.ok(all.entries.every((e) => e.stream === "access"));
  const container = all.entries[0]!.container;
  const system = (await (await logs(`stream=system&container=${container}`)).json()) as { entries: { stream: string; container: string; line: string }[] };
  assert.ok(system.entries.length >= 1 && system.entries.every((e) => e.stream === "system" && e.container === container));
  assert.equal(((await (await logs("container=nobody")).json()) as { entries: unknown[] }).entries.length, 0);
  for (const bad of ["stream=debug", "container=../x", "container=" + "a".repeat(40)]) assert.equal((await logs(bad)).status, 422, bad);
  // A follow from the cursor of the page sends only what came after it.
  const follow = await logs(`follow=1&stream=access&after=${all.cursor}`);
  const reader = follow.body!.getReader();
  t.after(() => reader.cancel().catch(() => {}));
  const response = await request(url);
  const id = response.headers.get("berth-request-id");
  const { value } = await reader.read();
  const lines = new TextDecoder().decode(value).trim().split("\n").map((line) => JSON.parse(line) as { requestId: string });
  assert.deepEqual(lines.map((l) => l.requestId), [id]);
});

test("what a container prints reaches the logs page as text, never as markup, live or not", async (t) => {
  const platform = await startPlatform(t, { requireAuth: true });
  const file = tempApp(
    t,
    "xss.ts",
    `import { App } from "berthjs";
const app = new App("xss");
export const f = app.function().webEndpoint(() => {
  console.log('<script>alert(1)</script><img src=x onerror="alert(2)">');
  return "ok";
});
`,
  );
  const url = platform.url(await platform.deploy(file), "f");
  const browser = new Browser(platform.server.url);
  await browser.signIn(platform.token);
  await request(url);
  const html = await waitFor("the line on the page", async () => {
    const text = await (await browser.get("/w/test/apps/xss/logs")).text();
    return text.includes("alert(1)") ? text : undefined;
  });
  assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;&lt;img src=x onerror=&quot;alert\(2\)&quot;&gt;/);
  assert.doesNotMatch(html, /<script>alert|<img src=x/);
  const live = /data-live="([^"]+)"/.exec(html)![1]!.replace(/&amp;/g, "&");
  const events = sse(await browser.get(live));
  await request(url);
  const rows = await waitFor("the live row", async () => {
    const event = (await events.next()).value;
    return event?.event === "logs" && String(event.data.html).includes("alert(1)") ? String(event.data.html) : undefined;
  });
  assert.match(rows, /&lt;script&gt;alert\(1\)/);
  assert.doesNotMatch(rows, /<script>alert|<img src=x/);
});
