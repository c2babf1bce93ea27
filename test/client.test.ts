/**
 * The typed client (`berthjs/client`) against a real platform: the fixture
 * app (fixtures/typed-client/app.ts) deployed through the real bundler and
 * called over real HTTP, through the result URLs of long calls and past
 * proxy auth. Node's resolver does not know `*.localhost`, so the client is
 * given undici's fetch with a dispatcher that connects to loopback, the
 * recipe the README gives. Then its redirect rules with a scripted `fetch`,
 * and that it bundles for a browser.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { build } from "esbuild";
import { fetch as undiciFetch } from "undici";
import { BerthError, endpoint, issuesOf, type FetchFunction } from "../src/client/index.js";
import type * as app from "./fixtures/typed-client/app.js";
import { loopback, REPO, startPlatform } from "./support/platform.js";

/** undici's fetch through the loopback dispatcher: what a Node program calling `*.localhost` URLs needs. */
const local: FetchFunction = async (url, init) => (await undiciFetch(url, { ...init, dispatcher: loopback } as never)) as unknown as Response;

test("typed calls: query and body, defaults, methods, JSON results, a handler's own Response, errors with their fields", async (t) => {
  const platform = await startPlatform(t);
  const result = await platform.deploy("test/fixtures/typed-client/app.ts");
  const url = (name: string) => platform.url(result, name);

  const square = endpoint<typeof app.square>(url("square"), { fetch: local });
  assert.deepEqual(await square.get({ x: 42 }), { square: 1764, at: "1970-01-01T00:00:00.000Z" });

  const greet = endpoint<typeof app.greet>(url("greet"), { fetch: local });
  assert.deepEqual(await greet.post({ name: "Erik" }), { text: "Hello, Erik ×42" });
  assert.deepEqual(await greet.post({ name: "Erik", qty: 10 }), { text: "Hello, Erik ×10" });

  const search = endpoint<typeof app.search>(url("search"), { fetch: local });
  assert.deepEqual(await search.get({ q: "boats" }), { q: "boats", limit: 10, exact: null });
  assert.deepEqual(await search.get({ q: "boats", limit: 3, exact: "yes" }), { q: "boats", limit: 3, exact: "yes" });

  const remove = endpoint<typeof app.remove>(url("remove"), { fetch: local });
  assert.deepEqual(await remove.delete(undefined, { query: { id: "a1" } }), { deleted: "a1" });

  const echo = endpoint<typeof app.echo>(url("echo"), { fetch: local, headers: { "x-every": "call" } });
  assert.deepEqual(await echo.put({ any: ["json", 1] }, { query: { a: "1", b: [1, 2], skipped: undefined } }), {
    body: { any: ["json", 1] },
    query: { a: "1", b: ["1", "2"] },
  });

  // A Response the handler built comes back as it is (the fetch's own Response), even with a JSON content type.
  const page = await endpoint<typeof app.page>(url("page"), { fetch: local }).get();
  assert.equal(page.headers.get("content-type"), "application/json");
  assert.equal(await page.text(), '{"looks":"like JSON"}');

  // The client validates nothing: the endpoint's 422 arrives as a BerthError naming the field.
  const invalid = await square.get({ x: "abc" } as never).catch((error: unknown) => error);
  assert.ok(invalid instanceof BerthError);
  assert.equal(invalid.code, "invalid_input");
  assert.deepEqual(issuesOf(invalid).map((issue) => issue.loc), [["query", "x"]]);
  assert.equal(invalid.details.status, 422);

  // Any other failure: the status and the body's start.
  const teapot = await endpoint<typeof app.teapot>(url("teapot"), { fetch: local }).get().catch((error: unknown) => error);
  assert.ok(teapot instanceof BerthError);
  assert.equal(teapot.details.status, 418);
  assert.match(teapot.message, /HTTP 418: short and stout/);

  // Params select the pool; whole apps take plain requests.
  assert.deepEqual(await endpoint<typeof app.perRoot>(url("perRoot"), { fetch: local, params: { root: "/srv" } }).get(), { root: "/srv" });
  const api = endpoint<typeof app.api>(url("api"), { fetch: local });
  const response = await api.fetch("/items?x=1", { method: "POST" });
  assert.equal(await response.text(), "POST /items");
});

test("a long call: the client follows the 303 to its result URL, and that URL's own 303s, to the answer", async (t) => {
  const platform = await startPlatform(t, { callDelayMs: 300 });
  const result = await platform.deploy("test/fixtures/typed-client/app.ts");
  const seen: number[] = [];
  const counting: FetchFunction = async (target, init) => {
    const response = await local(target, init);
    seen.push(response.status);
    return response;
  };
  const slow = endpoint<typeof app.slow>(platform.url(result, "slow"), { fetch: counting });
  assert.deepEqual(await slow.get({ ms: 1500 }), { waited: 1500 });
  assert.ok(seen.filter((status) => status === 303).length >= 2, `a 303 to the result URL, then its own: ${seen.join(", ")}`);
  assert.equal(seen.at(-1), 200);
});

test("proxy auth: refused without credentials, served with them", async (t) => {
  const platform = await startPlatform(t);
  const result = await platform.deploy("test/fixtures/typed-client/app.ts");
  const url = platform.url(result, "guarded");
  const refused = await endpoint<typeof app.guarded>(url, { fetch: local }).get().catch((error: unknown) => error);
  assert.ok(refused instanceof BerthError);
  assert.equal(refused.code, "unauthorized");
  const token = await platform.client.createToken({ kind: "proxy" });
  const wrong = endpoint<typeof app.guarded>(url, { fetch: local, proxyAuth: { key: token.key!, secret: "ws-wrong" } });
  await assert.rejects(wrong.get(), (error: unknown) => error instanceof BerthError && error.code === "unauthorized");
  const guarded = endpoint<typeof app.guarded>(url, { fetch: local, proxyAuth: { key: token.key!, secret: token.secret! } });
  assert.equal(await guarded.get(), "let in");
});

/** A fetch that answers from a script and records what it was asked. */
function scripted(answers: Response[]) {
  const asked: { url: string; method: string; headers: Headers; body: unknown; redirect: string | undefined }[] = [];
  const fetch: FetchFunction = async (url, init) => {
    asked.push({ url, method: init.method ?? "GET", headers: new Headers(init.headers), body: init.body, redirect: init.redirect });
    const answer = answers.shift();
    if (!answer) throw new Error("no more answers");
    return answer;
  };
  return { fetch, asked };
}

const redirect = (status: number, location: string) => new Response(null, { status, headers: { location } });
const value = (json: unknown) => new Response(JSON.stringify(json), { headers: { "content-type": "application/json", "berth-return": "json" } });

test("redirects: a 303 turns a POST into a GET; credentials never leave the function's origin; a loop ends", async () => {
  const post = scripted([redirect(303, "/__berth/calls/abc"), redirect(303, "/__berth/calls/abc"), value({ ok: true })]);
  const greet = endpoint<typeof app.greet>("http://fn.example/", { fetch: post.fetch, proxyAuth: { key: "wk-1", secret: "ws-2" } });
  assert.deepEqual(await greet.post({ name: "a" }), { ok: true });
  assert.deepEqual(
    post.asked.map((a) => [a.method, a.url, a.body === null || a.body === undefined ? "no body" : "body", a.headers.get("berth-key")]),
    [
      ["POST", "http://fn.example/", "body", "wk-1"],
      ["GET", "http://fn.example/__berth/calls/abc", "no body", "wk-1"],
      ["GET", "http://fn.example/__berth/calls/abc", "no body", "wk-1"],
    ],
  );
  assert.equal(post.asked[0]!.redirect, "manual");

  const away = scripted([redirect(307, "https://elsewhere.example/x"), value("there")]);
  const guarded = endpoint<typeof app.guarded>("http://fn.example/", { fetch: away.fetch, proxyAuth: { key: "wk-1", secret: "ws-2" } });
  assert.equal(await guarded.get(), "there");
  assert.equal(away.asked[1]!.url, "https://elsewhere.example/x");
  assert.equal(away.asked[1]!.headers.get("berth-key"), null);
  assert.equal(away.asked[1]!.headers.get("berth-secret"), null);

  const loop = scripted(Array.from({ length: 30 }, () => redirect(302, "/again")));
  await assert.rejects(endpoint("http://fn.example/", { fetch: loop.fetch }).fetch("/"), /more than 20 redirects/);
});

test("in a browser the browser follows redirects (scripts cannot read a redirect's Location)", async (t) => {
  const browser = globalThis as { document?: unknown };
  browser.document = {};
  t.after(() => delete browser.document);
  const page = scripted([value(7)]);
  assert.equal(await endpoint<typeof app.square>("http://fn.example/", { fetch: page.fetch }).get({ x: 1 }), 7);
  assert.equal(page.asked[0]!.redirect, "follow");
});

test("the client bundles for a browser: no Node modules, nothing of the SDK's runtime but a header name", async () => {
  const bundle = await build({
    stdin: { contents: 'export { endpoint } from "berthjs/client";', resolveDir: REPO, loader: "ts" },
    bundle: true,
    write: false,
    platform: "browser",
    format: "esm",
    minify: true,
    logLevel: "silent",
  });
  const code = bundle.outputFiles[0]!.text;
  assert.doesNotMatch(code, /node:/);
  assert.ok(code.length < 8 * 1024, `the client bundle is ${code.length} bytes`);
});
