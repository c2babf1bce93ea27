/**
 * The `cors` option of simple endpoints: permissive by default, off, or
 * narrowed to a list of origins. Unit cases on the fetch handler, then the
 * same through the gateway.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createEndpointFetch } from "../src/sdk/endpoint.js";
import { request, startPlatform, tempApp } from "./support/platform.js";

const BASE = "http://test--x.localhost/";
const APP = "https://app.example.com";
const preflight = (origin: string) =>
  new Request(BASE, {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type, x-evil" },
  });
const build = (cors: unknown) =>
  createEndpointFetch("e", { method: "POST", cors } as never, () => "ok", { state: undefined, params: {} });

test("cors: false answers no CORS at all", async () => {
  const handler = build(false);
  const answer = await handler(preflight(APP));
  assert.equal(answer.status, 204);
  assert.equal(answer.headers.get("allow"), "POST, OPTIONS");
  assert.equal(answer.headers.get("access-control-allow-origin"), null);
  const actual = await handler(new Request(BASE, { method: "POST", headers: { origin: APP, "content-type": "application/json" }, body: "{}" }));
  assert.equal(actual.status, 200);
  assert.equal(actual.headers.get("access-control-allow-origin"), null);
});

test("cors with origins echoes only listed origins, with Vary: Origin, credentials and fixed headers", async () => {
  const handler = build({ origins: [APP], credentials: true, allowHeaders: ["content-type"], exposeHeaders: ["x-total"], maxAge: 60 });
  const allowed = await handler(preflight(APP));
  assert.equal(allowed.headers.get("access-control-allow-origin"), APP);
  assert.equal(allowed.headers.get("access-control-allow-credentials"), "true");
  assert.equal(allowed.headers.get("access-control-allow-headers"), "content-type");
  assert.equal(allowed.headers.get("access-control-max-age"), "60");
  assert.match(allowed.headers.get("vary") ?? "", /Origin/);

  const other = await handler(preflight("https://evil.example"));
  assert.equal(other.headers.get("access-control-allow-origin"), null);
  assert.match(other.headers.get("vary") ?? "", /Origin/);

  const actual = await handler(new Request(BASE, { method: "POST", headers: { origin: APP, "content-type": "application/json" }, body: "{}" }));
  assert.equal(actual.headers.get("access-control-allow-origin"), APP);
  assert.equal(actual.headers.get("access-control-expose-headers"), "x-total");
  const foreign = await handler(new Request(BASE, { method: "POST", headers: { origin: "https://evil.example", "content-type": "application/json" }, body: "{}" }));
  assert.equal(foreign.status, 200, "CORS is a browser rule: the server still answers");
  assert.equal(foreign.headers.get("access-control-allow-origin"), null);
});

test("cors definition mistakes throw at import time", () => {
  assert.throws(() => build({ credentials: true }), /credentials: true` needs an explicit list of origins/);
  assert.throws(() => build({ origins: ["https://app.example.com/"] }), /must be a bare origin/);
  assert.throws(() => build({ origins: ["app.example.com"] }), /must be a bare origin/);
  assert.throws(() => build("yes"), /must be true, false or/);
});

test("through the gateway: default, off and narrowed CORS", async (t) => {
  const platform = await startPlatform(t);
  const file = tempApp(
    t,
    "cors.ts",
    `
import { App } from "berthjs";
const app = new App("cors");
export const open = app.function().webEndpoint({ method: "POST" }, () => "ok");
export const closed = app.function().webEndpoint({ method: "POST", cors: false }, () => "ok");
export const narrow = app.function().webEndpoint({ method: "POST", cors: { origins: ["${APP}"] } }, () => "ok");
`,
  );
  const result = await platform.deploy(file);
  const ask = async (fn: string, origin: string) =>
    (await request(platform.url(result, fn), { method: "OPTIONS", headers: { origin, "access-control-request-method": "POST" } })).headers.get(
      "access-control-allow-origin",
    );
  assert.equal(await ask("open", "https://anywhere.example"), "*");
  assert.equal(await ask("closed", APP), null);
  assert.equal(await ask("narrow", APP), APP);
  assert.equal(await ask("narrow", "https://evil.example"), null);
});
