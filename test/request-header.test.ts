/**
 * How a simple endpoint reads a request header: from the header lines the
 * agent attaches to the request (no `Headers` built per request), with the
 * same answer `request.headers.get` would give; a request without them
 * (built by user code, or in a unit test) falls back to `headers`.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { RAW_HEADERS } from "../src/sdk/contract.js";
import { createEndpointFetch } from "../src/sdk/endpoint.js";
import { requestHeader } from "../src/sdk/request-header.js";

function withLines(request: Request, lines: string[]): Request {
  return Object.assign(request, { [RAW_HEADERS]: lines });
}

test("header lines: any case, repeated lines joined as Headers.get joins them, absent is null", () => {
  const lines = ["Host", "x.localhost", "X-Forwarded-For", "203.0.113.7", "ORIGIN", "https://a.example", "x-forwarded-for", "10.0.0.1"];
  const request = withLines(new Request("http://x.localhost/"), lines);
  assert.equal(requestHeader(request, "origin"), "https://a.example");
  assert.equal(requestHeader(request, "x-forwarded-for"), "203.0.113.7, 10.0.0.1");
  assert.equal(requestHeader(request, "content-type"), null);

  const same = new Request("http://x.localhost/", { headers: [["X-Forwarded-For", "203.0.113.7"], ["x-forwarded-for", "10.0.0.1"], ["ORIGIN", "https://a.example"]] });
  assert.equal(requestHeader(same, "x-forwarded-for"), same.headers.get("x-forwarded-for"));
  assert.equal(requestHeader(same, "origin"), "https://a.example");
  assert.equal(requestHeader(same, "content-type"), null);
});

test("an endpoint reads clientIp and the CORS origin from the agent's header lines", async () => {
  let seen = "";
  const handler = createEndpointFetch("e", { cors: { origins: ["https://a.example"] } } as never, ({ clientIp }: { clientIp: string }) => {
    seen = clientIp;
    return "ok";
  }, { state: undefined, params: {} });
  const request = withLines(new Request("http://x.localhost/"), ["x-forwarded-for", "203.0.113.7, 10.0.0.1", "origin", "https://a.example"]);
  const response = await handler(request);
  assert.equal(response.status, 200);
  assert.equal(seen, "203.0.113.7");
  assert.equal(response.headers.get("access-control-allow-origin"), "https://a.example");
});
