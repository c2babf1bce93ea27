// `npm test`: each function answers requests in this process, validation and all (no server needed).
import assert from "node:assert/strict";
import { test } from "node:test";
import { callFunction } from "berthjs";
import { greet, square } from "../src/app.js";

test("square squares x", async () => {
  const response = await callFunction(square, "http://test/?x=12");
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { square: 144 });
});

test("square refuses an x that is not an integer, naming the field", async () => {
  const response = await callFunction(square, "http://test/?x=1.5");
  assert.equal(response.status, 422);
  const body = (await response.json()) as { error: { issues: { loc: string[] }[] } };
  assert.deepEqual(body.error.issues[0]?.loc, ["query", "x"]);
});

test("greet greets by name", async () => {
  const request = new Request("http://test/", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "Ada" }),
  });
  assert.deepEqual(await (await callFunction(greet, request)).json(), { greeting: "Hello, Ada!" });
});
