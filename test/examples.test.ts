/**
 * The source document's simple endpoints, as TypeScript examples, deployed
 * to a real platform on the sandbox runtime (what `berth server` runs) and
 * called over real HTTP.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { request } from "./support/platform.js";
import { sandboxTest, startSandboxPlatform as startPlatform } from "./support/sandbox.js";

test("hello world returns the JSON string", sandboxTest(), async (t) => {
  const platform = await startPlatform(t);
  const result = await platform.deploy("examples/hello.ts");
  const url = platform.url(result, "f");
  assert.match(url, /^http:\/\/test--hello-f\.localhost:\d+\/$/);
  const response = await request(url);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "application/json");
  assert.ok(response.headers.get("berth-request-id"));
  assert.equal(await response.text(), '"Hello world!"');
});

test("square with a query parameter: valid, missing and non-integer", sandboxTest(), async (t) => {
  const platform = await startPlatform(t);
  const url = platform.url(await platform.deploy("examples/square.ts"), "square");
  const ok = await request(`${url}?x=42`);
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { square: 1764 });

  for (const query of ["", "?x=abc", "?x=1.5"]) {
    const bad = await request(`${url}${query}`);
    assert.equal(bad.status, 422, query);
    const body = (await bad.json()) as { error: { code: string; issues: { loc: string[] }[] } };
    assert.equal(body.error.code, "invalid_input");
    assert.deepEqual(body.error.issues[0]!.loc, ["query", "x"]);
  }
  const wrongMethod = await request(url, { method: "POST" });
  assert.equal(wrongMethod.status, 405);
});

test("square with a POST body: JSON object, malformed JSON, wrong content type", sandboxTest(), async (t) => {
  const platform = await startPlatform(t);
  const url = platform.url(await platform.deploy("examples/square-post.ts"), "square");
  const json = { "content-type": "application/json" };
  const ok = await request(url, { method: "POST", headers: json, body: '{"x": 42}' });
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), { square: 1764 });

  const malformed = await request(url, { method: "POST", headers: json, body: '{"x": 4' });
  assert.equal(malformed.status, 422);
  assert.deepEqual(((await malformed.json()) as { error: { issues: { loc: string[] }[] } }).error.issues[0]!.loc, ["body"]);

  const wrongType = await request(url, { method: "POST", headers: { "content-type": "text/plain" }, body: '{"x": 42}' });
  assert.equal(wrongType.status, 415);
  assert.equal(((await wrongType.json()) as { error: { code: string } }).error.code, "unsupported_media_type");
});

test("web-demo: typed body with a default returns HTML; bad fields are named; docs are served", sandboxTest(), async (t) => {
  const platform = await startPlatform(t);
  const url = platform.url(await platform.deploy("examples/web-demo.ts"), "f");
  const ok = await request(url, { method: "POST", headers: { "content-type": "application/json" }, body: '{"name": "Erik", "qty": 10}' });
  assert.equal(ok.status, 200);
  assert.match(ok.headers.get("content-type")!, /^text\/html/);
  assert.equal(await ok.text(), "<html>Hello, Erik!</html>");

  const bad = await request(url, { method: "POST", headers: { "content-type": "application/json" }, body: '{"name": 7, "qty": "x"}' });
  assert.equal(bad.status, 422);
  const locs = ((await bad.json()) as { error: { issues: { loc: string[] }[] } }).error.issues.map((i) => i.loc.join("."));
  assert.deepEqual(locs.sort(), ["body.name", "body.qty"]);

  const openapi = await request(`${url}openapi.json`);
  assert.equal(openapi.status, 200);
  const doc = (await openapi.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
  assert.match(doc.openapi, /^3\.1/);
  assert.ok(doc.paths["/"]!.post);
  const docs = await request(`${url}docs`);
  assert.equal(docs.status, 200);
  assert.match(await docs.text(), /<html/i);
});
