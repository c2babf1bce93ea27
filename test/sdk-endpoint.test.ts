/**
 * Unit tests of the simple web endpoint fetch handler (src/sdk/endpoint.ts),
 * its Standard Schema glue and its OpenAPI docs, driven with real `Request`s
 * and both zod 4 and valibot 1 schemas.
 */
import assert from "node:assert/strict";
import { describe, it, type TestContext } from "node:test";
import * as v from "valibot";
import { z } from "zod";
import { createEndpointFetch, type EndpointHandler, type EndpointOptions } from "../src/sdk/endpoint.js";
import { toJsonSchema, validate } from "../src/sdk/schema.js";

const BASE = "http://ws--demo.localhost:8600";

/**
 * Parsed JSON and documents under test, read field by field: the assertions
 * are what check their shape. The one `any` of the test suite.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = any;

function endpoint<Q = Loose, B = Loose>(
  options: EndpointOptions<Q, B>,
  handler: EndpointHandler<Q, B, Loose, Loose>,
  scope: { state: unknown; params: Record<string, unknown> } = { state: undefined, params: {} },
) {
  return createEndpointFetch("fn", options, handler, scope);
}

function post(path: string, body: string | undefined, headers: Record<string, string> = { "content-type": "application/json" }, method = "POST") {
  return new Request(BASE + path, { method, body, headers });
}

async function json(response: Response): Promise<Loose> {
  assert.equal(response.headers.get("content-type"), "application/json");
  return response.json();
}

/** The 422 body's issues, checking the envelope on the way. */
async function issuesOf(response: Response): Promise<{ loc: (string | number)[]; message: string }[]> {
  assert.equal(response.status, 422);
  const body = await json(response);
  assert.equal(body.error.code, "invalid_input");
  assert.equal(body.error.message, "Invalid request input.");
  for (const issue of body.error.issues) {
    assert.ok(Array.isArray(issue.loc));
    assert.equal(typeof issue.message, "string");
    assert.ok(issue.message.length > 0);
  }
  return body.error.issues;
}

const locs = (issues: { loc: (string | number)[] }[]) => issues.map((i) => JSON.stringify(i.loc)).sort();

const libraries = {
  zod: {
    square: z.object({ x: z.coerce.number().int() }),
    item: z.object({ name: z.string(), qty: z.number().default(42) }),
    order: z.object({
      customer: z.string(),
      items: z.array(z.object({ name: z.string(), qty: z.number().int().positive() })),
    }),
  },
  valibot: {
    square: v.object({ x: v.pipe(v.string(), v.toNumber(), v.integer()) }),
    item: v.object({ name: v.string(), qty: v.optional(v.number(), 42) }),
    order: v.object({
      customer: v.string(),
      items: v.array(v.object({ name: v.string(), qty: v.pipe(v.number(), v.integer(), v.minValue(1)) })),
    }),
  },
};

for (const [library, schemas] of Object.entries(libraries)) {
  describe(`simple endpoint with ${library} schemas`, () => {
    const square = endpoint({ query: schemas.square }, ({ query }) => ({ square: query.x ** 2 }));
    const greet = endpoint({ method: "POST", body: schemas.item }, ({ body }) => body);
    const order = endpoint({ method: "POST", body: schemas.order, query: schemas.square }, ({ body }) => body);

    it("validates and coerces the query", async () => {
      const response = await square(new Request(`${BASE}/?x=42`));
      assert.equal(response.status, 200);
      assert.deepEqual(await json(response), { square: 1764 });
    });

    it("answers 422 naming the bad query field", async () => {
      const issues = await issuesOf(await square(new Request(`${BASE}/?x=abc`)));
      assert.deepEqual(locs(issues), ['["query","x"]']);
      const missing = await issuesOf(await square(new Request(`${BASE}/`)));
      assert.deepEqual(locs(missing), ['["query","x"]']);
    });

    it("validates a JSON body and applies defaults", async () => {
      const response = await greet(post("/", JSON.stringify({ name: "Erik" })));
      assert.equal(response.status, 200);
      assert.deepEqual(await json(response), { name: "Erik", qty: 42 });
    });

    it("lists every bad body field, nested ones included", async () => {
      const issues = await issuesOf(
        await order(post("/?x=1", JSON.stringify({ items: [{ name: "a", qty: 1 }, { name: 7, qty: 0 }] }))),
      );
      assert.deepEqual(locs(issues), ['["body","customer"]', '["body","items",1,"name"]', '["body","items",1,"qty"]']);
    });

    it("reports query and body issues together", async () => {
      const issues = await issuesOf(await order(post("/?x=zz", JSON.stringify({ customer: "c", items: "no" }))));
      assert.deepEqual(locs(issues), ['["body","items"]', '["query","x"]']);
    });

    it("requires the body when there is a schema", async () => {
      const issues = await issuesOf(await greet(new Request(BASE, { method: "POST" })));
      assert.deepEqual(issues, [{ loc: ["body"], message: "body is required" }]);
      const empty = await issuesOf(await greet(post("/", "")));
      assert.deepEqual(empty, [{ loc: ["body"], message: "body is required" }]);
    });

    it("maps issue paths from validate()", async () => {
      const result = await validate(schemas.order, { customer: "c", items: [{ name: 1, qty: 1 }] }, "body");
      assert.deepEqual(result, { ok: false, issues: [{ loc: ["body", "items", 0, "name"], message: (result as Loose).issues[0].message }] });
      assert.deepEqual(await validate(schemas.square, { x: "3" }, "query"), { ok: true, value: { x: 3 } });
    });
  });
}

describe("query strings", () => {
  it("gives a repeated key as an array of strings and leaves coercion to schemas", async () => {
    let seen: unknown;
    const fetch = endpoint({}, ({ query }) => {
      seen = query;
      return null;
    });
    await fetch(new Request(`${BASE}/?a=1&b=x&a=2&a=3&c=&d=a+b%20c`));
    assert.deepEqual(seen, { a: ["1", "2", "3"], b: "x", c: "", d: "a b c" });
  });

  it("validates arrays with both libraries", async () => {
    const zodFetch = endpoint({ query: z.object({ tag: z.array(z.string()) }) }, ({ query }) => query.tag);
    const valibotFetch = endpoint({ query: v.object({ tag: v.array(v.string()) }) }, ({ query }) => query.tag);
    for (const fetch of [zodFetch, valibotFetch]) {
      assert.deepEqual(await (await fetch(new Request(`${BASE}/?tag=a&tag=b`))).json(), ["a", "b"]);
    }
  });

  it("does not let a __proto__ key replace the prototype", async () => {
    let seen: Loose;
    const fetch = endpoint({}, ({ query }) => {
      seen = query;
      return null;
    });
    await fetch(new Request(`${BASE}/?__proto__=x&y=1`));
    assert.equal(Object.getPrototypeOf(seen), Object.prototype);
    assert.deepEqual(Object.entries(seen), [["__proto__", "x"], ["y", "1"]]);
  });

  it("serves the handler at every path", async () => {
    const fetch = endpoint({ query: z.object({ x: z.string() }) }, ({ query }) => query.x);
    const response = await fetch(new Request(`${BASE}/some/deep/path?x=hi#frag`));
    assert.equal(await response.text(), '"hi"');
  });
});

describe("methods and CORS", () => {
  const getter = endpoint({}, () => "Hello world!");
  const poster = endpoint({ method: "POST" }, () => "ok");

  it("answers 405 with Allow for the wrong method", async () => {
    const response = await getter(post("/", "{}"));
    assert.equal(response.status, 405);
    assert.equal(response.headers.get("allow"), "GET, HEAD, OPTIONS");
    const body = await json(response);
    assert.equal(body.error.code, "method_not_allowed");
    assert.match(body.error.message, /POST/);

    const wrong = await poster(new Request(BASE));
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get("allow"), "POST, OPTIONS");
    const put = await poster(post("/", "{}", undefined, "PUT"));
    assert.equal(put.status, 405);
  });

  it("accepts HEAD on a GET endpoint and sends no body", async () => {
    const response = await getter(new Request(BASE, { method: "HEAD" }));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "application/json");
    assert.equal(response.body, null);
  });

  it("answers a CORS preflight permissively", async () => {
    const response = await poster(
      new Request(BASE, {
        method: "OPTIONS",
        headers: { origin: "https://app.example", "access-control-request-method": "POST", "access-control-request-headers": "content-type, x-custom" },
      }),
    );
    assert.equal(response.status, 204);
    assert.equal(response.headers.get("access-control-allow-origin"), "*");
    assert.equal(response.headers.get("access-control-allow-methods"), "POST, OPTIONS");
    assert.equal(response.headers.get("access-control-allow-headers"), "content-type, x-custom");
    assert.equal(response.headers.get("access-control-max-age"), "600");
  });

  it("answers a plain OPTIONS with Allow", async () => {
    const response = await getter(new Request(BASE, { method: "OPTIONS" }));
    assert.equal(response.status, 204);
    assert.equal(response.headers.get("allow"), "GET, HEAD, OPTIONS");
    assert.equal(response.headers.get("access-control-allow-origin"), null);
  });

  it("adds Access-Control-Allow-Origin only when the request has an Origin", async () => {
    const withOrigin = await getter(new Request(BASE, { headers: { origin: "https://app.example" } }));
    assert.equal(withOrigin.headers.get("access-control-allow-origin"), "*");
    const without = await getter(new Request(BASE));
    assert.equal(without.headers.get("access-control-allow-origin"), null);
    const invalid = await endpoint({ query: z.object({ x: z.string() }) }, () => null)(new Request(BASE, { headers: { origin: "https://a" } }));
    assert.equal(invalid.status, 422);
    assert.equal(invalid.headers.get("access-control-allow-origin"), "*");
  });

  it("keeps a handler's own CORS origin and copes with immutable headers", async () => {
    const own = endpoint({}, () => new Response("x", { headers: { "access-control-allow-origin": "https://only.example" } }));
    const response = await own(new Request(BASE, { headers: { origin: "https://a" } }));
    assert.equal(response.headers.get("access-control-allow-origin"), "https://only.example");
    const redirect = endpoint({}, () => Response.redirect("https://elsewhere.example/", 302));
    const moved = await redirect(new Request(BASE, { headers: { origin: "https://a" } }));
    assert.equal(moved.status, 302);
    assert.equal(moved.headers.get("location"), "https://elsewhere.example/");
    assert.equal(moved.headers.get("access-control-allow-origin"), "*");
  });
});

describe("synchronous answers", () => {
  // Each promise on a request's way costs the agent's per-request output context its bookkeeping: the usual case has none.
  it("answers without a promise when there is no schema, no body and the handler returns a value", async (t: TestContext) => {
    const sync = endpoint({}, () => "hi");
    const answer = sync(new Request(`${BASE}/`, { headers: { origin: "https://a.example" } }));
    assert.ok(answer instanceof Response, "a Response, not a promise");
    assert.equal(await json(answer), "hi");
    assert.equal(answer.headers.get("access-control-allow-origin"), "*");

    t.mock.method(console, "error", () => {});
    const thrown = endpoint({}, () => {
      throw new Error("boom");
    })(new Request(`${BASE}/`));
    assert.ok(thrown instanceof Response);
    assert.equal(thrown.status, 500);
  });

  it("waits when the handler returns a promise, a schema validates or a body is read, with the same answers", async (t: TestContext) => {
    const later = endpoint({}, async () => "hi")(new Request(`${BASE}/`));
    assert.ok(later instanceof Promise);
    assert.equal(await json(await later), "hi");
    const validated = endpoint({ query: z.object({ n: z.coerce.number() }) }, ({ query }) => query.n * 2)(new Request(`${BASE}/?n=21`));
    assert.ok(validated instanceof Promise);
    assert.equal(await json(await validated), 42);
    const posted = endpoint({ method: "POST" }, ({ body }) => body)(post("/", "[1]"));
    assert.ok(posted instanceof Promise);
    assert.deepEqual(await json(await posted), [1]);

    t.mock.method(console, "error", () => {});
    const rejected = await endpoint({}, async () => {
      throw new Error("boom");
    })(new Request(`${BASE}/`));
    assert.equal(rejected.status, 500);
    const head = await endpoint({}, async () => "hi")(new Request(`${BASE}/`, { method: "HEAD" }));
    assert.equal(head.status, 200);
    assert.equal(head.body, null);
  });
});

describe("request bodies", () => {
  const echo = endpoint({ method: "POST" }, ({ body }) => ({ body: body ?? "none" }));
  const typed = endpoint({ method: "PUT", body: z.object({ a: z.number() }) }, ({ body }) => body);

  it("accepts any JSON value without a schema", async () => {
    assert.deepEqual(await (await echo(post("/", "[1,2,3]"))).json(), { body: [1, 2, 3] });
    assert.deepEqual(await (await echo(post("/", '"s"'))).json(), { body: "s" });
    assert.deepEqual(await (await echo(new Request(BASE, { method: "POST" }))).json(), { body: "none" });
  });

  it("accepts +json media types and parameters", async () => {
    const response = await typed(post("/", '{"a":1}', { "content-type": "application/merge-patch+json; charset=utf-8" }, "PUT"));
    assert.deepEqual(await response.json(), { a: 1 });
    const upper = await typed(post("/", '{"a":2}', { "content-type": "Application/JSON;charset=UTF-8" }, "PUT"));
    assert.deepEqual(await upper.json(), { a: 2 });
  });

  it("answers 415 for a body that is not JSON", async () => {
    for (const fetch of [echo, typed]) {
      const method = fetch === echo ? "POST" : "PUT";
      const text = await fetch(post("/", "a=1", { "content-type": "application/x-www-form-urlencoded" }, method));
      assert.equal(text.status, 415);
      const body = await json(text);
      assert.equal(body.error.code, "unsupported_media_type");
      assert.match(body.error.message, /application\/x-www-form-urlencoded/);
      assert.match(body.error.message, /Content-Type: application\/json/);
      const untyped = await fetch(new Request(BASE, { method, body: new Uint8Array([123, 125]) }));
      assert.equal(untyped.status, 415);
    }
  });

  it("answers 422 naming the JSON parse error", async () => {
    const issues = await issuesOf(await echo(post("/", '{"a": 1,')));
    assert.equal(issues.length, 1);
    assert.deepEqual(issues[0]!.loc, ["body"]);
    assert.match(issues[0]!.message, /^Invalid JSON: .+/);
  });

  it("accepts a DELETE with a body schema and a body", async () => {
    const del = endpoint({ method: "DELETE", body: v.object({ id: v.string() }) }, ({ body }) => body.id);
    assert.equal(await (await del(post("/", '{"id":"k"}', undefined, "DELETE"))).text(), '"k"');
  });
});

describe("return values", () => {
  async function returned(value: unknown): Promise<Response> {
    return endpoint({}, () => value)(new Request(BASE));
  }

  it("JSON-encodes plain values, strings included", async () => {
    const hello = await returned("Hello world!");
    assert.equal(hello.status, 200);
    assert.equal(hello.headers.get("content-type"), "application/json");
    assert.equal(await hello.text(), '"Hello world!"');
    assert.equal(await (await returned(42)).text(), "42");
    assert.equal(await (await returned({ a: [1, { b: true }] })).text(), '{"a":[1,{"b":true}]}');
    assert.equal(await (await returned(Promise.resolve({ later: 1 }))).text(), '{"later":1}');
  });

  it("sends null for undefined and null", async () => {
    for (const value of [undefined, null]) {
      const response = await returned(value);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("content-type"), "application/json");
      assert.equal(await response.text(), "null");
    }
  });

  it("passes a Response through untouched", async () => {
    const original = new Response("<html>Hello, Erik!</html>", { status: 201, headers: { "content-type": "text/html", "x-a": "b" } });
    const response = await returned(original);
    assert.equal(response, original);
    assert.equal(await response.text(), "<html>Hello, Erik!</html>");
  });

  it("streams a ReadableStream as octet-stream", async () => {
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("ab"));
        controller.enqueue(new TextEncoder().encode("cd"));
        controller.close();
      },
    });
    const response = await returned(stream);
    assert.equal(response.headers.get("content-type"), "application/octet-stream");
    assert.equal(await response.text(), "abcd");
  });

  it("streams an async iterable of strings and bytes", async () => {
    let finished = false;
    async function* chunks() {
      try {
        yield "hello ";
        yield new TextEncoder().encode("world");
      } finally {
        finished = true;
      }
    }
    const response = await returned(chunks());
    assert.equal(response.headers.get("content-type"), "application/octet-stream");
    assert.equal(await response.text(), "hello world");
    assert.ok(finished);
  });

  it("closes the iterator when the client cancels", async () => {
    let finished = false;
    async function* forever() {
      try {
        for (;;) yield "x";
      } finally {
        finished = true;
      }
    }
    const response = await returned(forever());
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel();
    assert.ok(finished);
  });

  it("errors the stream and logs when a chunk is bad", async (t: TestContext) => {
    const log = t.mock.method(console, "error", () => {});
    async function* bad() {
      yield "ok";
      yield 5;
    }
    const response = await returned(bad());
    await assert.rejects(response.text());
    assert.equal(log.mock.callCount(), 1);
    assert.equal(log.mock.calls[0]!.arguments[0], "response stream failed:");
  });

  it("sends bytes as octet-stream rather than JSON", async () => {
    const response = await returned(new Uint8Array([104, 105]));
    assert.equal(response.headers.get("content-type"), "application/octet-stream");
    assert.equal(await response.text(), "hi");
  });
});

describe("handler failures", () => {
  it("answers a generic 500 and logs the stack (the platform adds function and request to the line)", async (t: TestContext) => {
    const log = t.mock.method(console, "error", () => {});
    const fetch = createEndpointFetch("squareRoot", {}, () => {
      throw new Error("secret detail");
    }, { state: undefined, params: {} });
    const response = await fetch(new Request(BASE));
    assert.equal(response.status, 500);
    const text = await response.text();
    assert.deepEqual(JSON.parse(text), { error: { code: "internal_error", message: "Internal Server Error" } });
    assert.doesNotMatch(text, /secret/);
    assert.equal(log.mock.callCount(), 1);
    const [prefix, error] = log.mock.calls[0]!.arguments as [string, Error];
    assert.equal(prefix, "request failed:");
    assert.match(String(error.stack), /secret detail/);
  });

  it("treats a rejected promise and an unserialisable value the same way", async (t: TestContext) => {
    const log = t.mock.method(console, "error", () => {});
    const rejects = endpoint({}, async () => {
      throw new Error("async");
    });
    assert.equal((await rejects(new Request(BASE))).status, 500);
    const bigint = endpoint({}, () => ({ n: 1n }));
    assert.equal((await bigint(new Request(BASE))).status, 500);
    const fn = endpoint({}, () => () => 1);
    assert.equal((await fn(new Request(BASE))).status, 500);
    assert.equal(log.mock.callCount(), 3);
  });
});

describe("context", () => {
  it("passes params, state (read per request), request and the client IP", async () => {
    const scope = { state: undefined as unknown, params: { root: "/srv" } };
    let seen: Loose;
    const fetch = createEndpointFetch("ctx", {}, (ctx) => {
      seen = ctx;
      return null;
    }, scope);
    scope.state = { db: "ready" };
    const request = new Request(BASE, { headers: { "x-forwarded-for": " 203.0.113.7 , 10.0.0.1" } });
    await fetch(request);
    assert.deepEqual(seen.params, { root: "/srv" });
    assert.deepEqual(seen.state, { db: "ready" });
    assert.equal(seen.request, request);
    assert.equal(seen.clientIp, "203.0.113.7");
    assert.deepEqual(seen.query, {});
    assert.equal(seen.body, undefined);

    await fetch(new Request(BASE));
    assert.equal(seen.clientIp, "");
  });
});

describe("definition errors", () => {
  const handler = () => null;
  it("refuses a GET endpoint with a body schema", () => {
    assert.throws(() => endpoint({ body: z.object({}) }, handler), /GET.*body/);
    assert.throws(() => endpoint({ method: "GET", body: v.object({}) }, handler), /method: "POST"/);
  });

  it("refuses unknown methods, with a hint for lowercase ones", () => {
    // What plain JavaScript could pass: the types would refuse it.
    assert.throws(() => endpoint({ method: "post" as never }, handler), /unsupported method "post" \(did you mean "POST"\?\)/);
    assert.throws(() => endpoint({ method: "OPTIONS" as never }, handler), /use one of "GET", "POST", "PUT", "PATCH", "DELETE"/);
    assert.throws(() => endpoint({ method: 5 as never }, handler), /unsupported method 5/);
  });

  it("refuses schemas that are not Standard Schemas", () => {
    assert.throws(() => endpoint({ query: { x: "number" } as never }, handler), /`query` must be a Standard Schema/);
    assert.throws(() => endpoint({ method: "POST", body: {} as never }, handler), /`body` must be a Standard Schema/);
  });
});

describe("docs", () => {
  const fetch = endpoint(
    {
      method: "POST",
      docs: true,
      query: z.object({ x: z.coerce.number().int().describe("the number"), tag: z.array(z.string()).optional() }),
      body: z.object({ name: z.string(), qty: z.number().default(42) }),
    },
    () => "handled",
  );

  it("serves an OpenAPI 3.1 document built from the schemas", async () => {
    const response = await fetch(new Request(`${BASE}/openapi.json`));
    assert.equal(response.status, 200);
    const doc = await json(response);
    assert.equal(doc.openapi, "3.1.0");
    assert.equal(doc.info.title, "fn");
    assert.deepEqual(Object.keys(doc.paths), ["/"]);
    const op = doc.paths["/"].post;
    assert.equal(op.operationId, "fn");
    assert.deepEqual(
      op.parameters.map((p: Loose) => [p.name, p.in, p.required]),
      [["x", "query", true], ["tag", "query", false]],
    );
    assert.equal(op.parameters[0].schema.type, "integer");
    assert.equal(op.parameters[0].description, "the number");
    assert.equal(op.requestBody.required, true);
    assert.deepEqual(op.requestBody.content["application/json"].schema, { $ref: "#/components/schemas/Body" });
    const body = doc.components.schemas.Body;
    assert.deepEqual(body.required, ["name"]);
    assert.equal(body.properties.qty.default, 42);
    assert.equal(body.$schema, undefined);
    assert.ok(op.responses["200"]);
    assert.equal(op.responses["422"].content["application/json"].schema.$ref, "#/components/schemas/ValidationError");
    assert.ok(doc.components.schemas.ValidationError);
    assertRefsResolve(doc);
  });

  it("serves a self-contained HTML page", async () => {
    const response = await fetch(new Request(`${BASE}/docs`));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "text/html; charset=utf-8");
    const html = await response.text();
    assert.match(html, /<!doctype html>/);
    assert.match(html, />POST</);
    assert.match(html, /<code>x<\/code>/);
    assert.match(html, /the number/);
    assert.match(html, /&quot;qty&quot;/);
    assert.match(html, /href="openapi.json"/);
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//);
  });

  it("still sends every other path to the handler", async () => {
    assert.equal(await (await fetch(post("/?x=1", '{"name":"a"}'))).text(), '"handled"');
    assert.equal(await (await fetch(post("/docs/extra?x=1", '{"name":"a"}'))).text(), '"handled"');
    const wrongMethod = await fetch(post("/openapi.json", "{}"));
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get("allow"), "GET, HEAD, OPTIONS");
  });

  it("is off by default", async () => {
    const plain = endpoint({}, () => "handler");
    assert.equal(await (await plain(new Request(`${BASE}/docs`))).text(), '"handler"');
    assert.equal(await (await plain(new Request(`${BASE}/openapi.json`))).text(), '"handler"');
  });

  it("moves recursive schema definitions into components", async () => {
    type Tree = { name: string; children: Tree[] };
    const Tree: z.ZodType<Tree> = z.object({ name: z.string(), get children() { return z.array(Tree); } });
    const recursive = endpoint({ method: "POST", docs: true, body: z.object({ left: Tree, right: Tree }) }, () => null);
    const doc = await (await recursive(new Request(`${BASE}/openapi.json`))).json();
    assert.equal(doc.components.schemas.Body.$defs, undefined);
    assertRefsResolve(doc);
    const self = endpoint({ method: "POST", docs: true, body: Tree }, () => null);
    assertRefsResolve(await (await self(new Request(`${BASE}/openapi.json`))).json());
  });

  it("still documents the operation when the schema library has no JSON Schema", async () => {
    const valibot = endpoint({ docs: true, query: v.object({ x: v.string() }) }, () => null);
    const doc = await (await valibot(new Request(`${BASE}/openapi.json`))).json();
    const op = doc.paths["/"].get;
    assert.equal(op.parameters, undefined);
    assert.ok(op.responses["422"]);
    const html = await (await valibot(new Request(`${BASE}/docs`))).text();
    assert.match(html, />GET</);
  });
});

describe("toJsonSchema", () => {
  it("uses Standard JSON Schema where the library implements it", () => {
    const schema = toJsonSchema(z.object({ x: z.string(), when: z.date() }));
    assert.equal((schema as Loose).properties.x.type, "string");
    assert.deepEqual((schema as Loose).properties.when, {});
  });

  it("is undefined for plain valibot 1, which does not implement it", () => {
    assert.equal(toJsonSchema(v.object({ x: v.string() })), undefined);
  });

  it("falls back to a zod-like toJSONSchema method", () => {
    const fake = {
      "~standard": { version: 1, vendor: "zod", validate: (value: unknown) => ({ value }) },
      _zod: {},
      toJSONSchema: (params: Record<string, unknown>) => ({ type: "object", io: params.io }),
    } as const;
    assert.deepEqual(toJsonSchema(fake as never), { type: "object", io: "input" });
  });
});

/** Every local `$ref` in the document points at something that exists. */
function assertRefsResolve(doc: Loose): void {
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (typeof node !== "object" || node === null) return;
    for (const [key, value] of Object.entries(node)) {
      if (key === "$ref") {
        assert.equal(typeof value, "string");
        assert.match(value as string, /^#\/components\/schemas\//);
        let target: Loose = doc;
        for (const part of (value as string).slice(2).split("/")) target = target?.[part.replace(/~1/g, "/").replace(/~0/g, "~")];
        assert.ok(target !== undefined, `dangling $ref ${String(value)}`);
      } else {
        visit(value);
      }
    }
  };
  visit(doc);
}
