/**
 * The dashboard's pure parts: the cookie reader and the cross-site check
 * on crafted requests, the live feed's diff, and the parsing of a secret's
 * form. (Sessions have their own suite over real stores:
 * test/support/session-suite.ts.)
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Hono, type Context } from "hono";
import { crossSiteProblem, isSecure, sessionCookie } from "../src/dashboard/guard.js";
import { changes } from "../src/dashboard/live.js";
import { containersText, duration, ms, percent } from "../src/dashboard/model.js";
import { parseValues } from "../src/dashboard/workspace-routes.js";

/** Runs `check` on a request with these headers, as the dashboard's handlers see it. */
async function withRequest<T>(url: string, headers: Record<string, string>, check: (c: Context) => T): Promise<T> {
  let result: T | undefined;
  const app = new Hono();
  app.all("*", (c) => {
    result = check(c);
    return c.text("");
  });
  await app.request(url, { method: "POST", headers });
  return result as T;
}

test("the cross-site check: Sec-Fetch-Site same-origin and an Origin of this host pass; anything else is refused", async () => {
  const own = { host: "localhost:8600" };
  const cases: [Record<string, string>, boolean][] = [
    [{ ...own, origin: "http://localhost:8600", "sec-fetch-site": "same-origin" }, true],
    [{ ...own, origin: "https://localhost:8600" }, true], // TLS ended by a proxy in front
    [{ ...own }, true], // not a browser: only the CSRF token counts
    [{ ...own, "sec-fetch-site": "cross-site" }, false],
    [{ ...own, "sec-fetch-site": "same-site", origin: "http://w--app-f.localhost:8600" }, false],
    [{ ...own, "sec-fetch-site": "none" }, false],
    [{ ...own, origin: "http://evil.example" }, false],
    [{ ...own, origin: "http://localhost:8601" }, false],
    [{ ...own, origin: "null" }, false],
    [{ ...own, origin: "not a url" }, false],
  ];
  for (const [headers, allowed] of cases) {
    const problem = await withRequest("http://localhost:8600/w/x/tokens", headers, crossSiteProblem);
    assert.equal(problem === null, allowed, `${JSON.stringify(headers)}: ${problem}`);
  }
});

test("the session cookie is read strictly: its own name, once; on HTTPS only the __Host- one", async () => {
  const read = (cookie: string, url = "http://localhost/") => withRequest(url, { cookie }, (c) => sessionCookie(c, isSecure(c, undefined)));
  assert.equal(await read("berth_session=abc"), "abc");
  assert.equal(await read("other=1; berth_session=abc; more=2"), "abc");
  assert.equal(await read("berth_session=abc; berth_session=evil"), undefined, "two of them: ambiguous");
  assert.equal(await read("xberth_session=abc"), undefined);
  assert.equal(await read(""), undefined);
  assert.equal(await read("berth_session=abc", "https://localhost/"), undefined);
  assert.equal(await read("__Host-berth_session=abc", "https://localhost/"), "abc");
});

test("HTTPS is this server's own TLS, or the public host a TLS-ending proxy serves (and no other host)", async () => {
  const secure = (url: string, host: string, httpsHost?: string) => withRequest(url, { host }, (c) => isSecure(c, httpsHost));
  assert.equal(await secure("https://localhost:8600/", "localhost:8600"), true);
  assert.equal(await secure("http://localhost:8600/", "localhost:8600"), false);
  assert.equal(await secure("http://fns.example.com/", "fns.example.com", "fns.example.com"), true);
  assert.equal(await secure("http://fns.example.com/", "FNS.example.com", "fns.example.com"), true);
  assert.equal(await secure("http://localhost:8600/", "localhost:8600", "fns.example.com"), false, "plain HTTP on loopback stays plain");
  assert.equal(await secure("http://fns.example.com:8443/", "fns.example.com:8443", "fns.example.com"), false, "another port is another origin");
});

test("the live feed sends only the values that changed", () => {
  assert.equal(changes({ a: "1" }, { a: "1" }), null);
  assert.deepEqual(changes({ a: "1", b: "2" }, { a: "1", b: "3", c: "4" }), { b: "3", c: "4" });
  assert.deepEqual(changes({}, { a: "" }), { a: "" });
});

test("a secret's form: KEY=value lines, blank lines skipped, '=' allowed in values; anything else is named", () => {
  assert.deepEqual(parseValues("A=1\n\n B = two \r\nURL=postgres://u:p@h/db?x=1"), { A: "1", B: " two", URL: "postgres://u:p@h/db?x=1" });
  assert.equal(parseValues("A=1\nnope"), "line 2 is not KEY=value");
  assert.equal(parseValues("=value"), "line 1 is not KEY=value");
  assert.equal(parseValues("  \n"), "give at least one KEY=value");
});

test("numbers as the pages show them", () => {
  assert.equal(ms(null), "–");
  assert.equal(ms(0.42), "0.4 ms");
  assert.equal(ms(38.4), "38 ms");
  assert.equal(ms(12_345), "12.3 s");
  assert.equal(percent(0.0123), "1.2%");
  assert.equal(percent(0.5), "50%");
  assert.equal(duration(59_999), "59 s");
  assert.equal(duration(61_000), "1 min 1 s");
  assert.equal(duration(3_723_000), "1 h 2 min");
  const live = { starting: 1, ready: 2, busy: 0, draining: 0, inFlight: 0, queued: 0, coldStarts: 3, startFailures: 0, backoffMs: 0 };
  assert.equal(containersText(live), "2 ready · 1 starting");
});
