/** A simple endpoint's plain-value Response (src/sdk/plain-response.ts) reads like any other Response. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { PLAIN_BODY } from "../src/sdk/contract.js";
import { PlainResponse } from "../src/sdk/plain-response.js";

test("a PlainResponse is a Response whose body is built on first read", async () => {
  const response = new PlainResponse('{"a":1}', { status: 201, headers: { "content-type": "application/json" } });
  assert.ok(response instanceof Response);
  assert.equal(response[PLAIN_BODY], '{"a":1}');
  assert.equal(response.status, 201);
  response.headers.set("x-extra", "1");
  assert.equal(response.bodyUsed, false);
  const copy = response.clone();
  assert.deepEqual(await response.json(), { a: 1 });
  assert.equal(response.bodyUsed, true);
  await assert.rejects(response.text(), TypeError);
  assert.equal(copy.headers.get("x-extra"), "1");
  assert.equal(await copy.text(), '{"a":1}');
});

test("its body stream carries the text", async () => {
  const response = new PlainResponse("null", { headers: {} });
  assert.equal(await new Response(response.body).text(), "null");
});
