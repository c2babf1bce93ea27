// URL label rules: name normalisation, the 63-character host label cut, Host
// header classification and label overrides.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { HostClassifier, classifyHost, functionLabel, hostLabel, normaliseLabel, validateLabelOverride } from "../src/hosts/labels.js";

test("functionLabel splits camelCase and joins app and function", () => {
  assert.equal(functionLabel("webDemo", "getItem"), "web-demo-get-item");
  assert.equal(functionLabel("web-demo", "square"), "web-demo-square");
  assert.equal(functionLabel("web-demo", "parseHTTPResponse"), "web-demo-parse-http-response");
  assert.equal(functionLabel("web-demo", "XMLHttpRequest"), "web-demo-xml-http-request");
});

test("functionLabel turns underscores and other characters into single dashes", () => {
  assert.equal(functionLabel("my_app", "get_item"), "my-app-get-item");
  assert.equal(functionLabel("my app!", "__private__"), "my-app-private");
  assert.equal(functionLabel("app", "$handler"), "app-handler");
  assert.equal(functionLabel("-app-", "--x--"), "app-x");
});

test("functionLabel lowercases and keeps digits", () => {
  assert.equal(functionLabel("WEB", "SQUARE"), "web-square");
  assert.equal(functionLabel("app2", "v2"), "app2-v2");
  assert.equal(functionLabel("app", "item2Go"), "app-item2-go");
  assert.equal(functionLabel("app", "getV2Item"), "app-get-v2-item");
  assert.equal(functionLabel("App", "Handler"), "app-handler");
});

test("functionLabel strips accents and refuses names with nothing URL-safe", () => {
  assert.equal(functionLabel("café", "crème"), "cafe-creme");
  assert.throws(() => functionLabel("应用", "函数"), /give it a label/);
});

test("normaliseLabel is idempotent", () => {
  for (const s of ["webDemo-getItem", "a__b", "X", "already-fine", "Ünïcode_Name"]) {
    assert.equal(normaliseLabel(normaliseLabel(s)), normaliseLabel(s), s);
  }
  assert.equal(normaliseLabel(""), "");
  assert.equal(normaliseLabel("---"), "");
});

function sha6(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 6);
}

test("hostLabel joins workspace and label, with -dev for serve", () => {
  assert.equal(hostLabel("alice", "web-demo-square", false), "alice--web-demo-square");
  assert.equal(hostLabel("alice", "web-demo-square", true), "alice--web-demo-square-dev");
});

test("hostLabel keeps a 63-character label and cuts a 64-character one to 63", () => {
  // "ws--" is 4 characters, so a 59-character label makes exactly 63.
  const at63 = hostLabel("ws", "a".repeat(59), false);
  assert.equal(at63.length, 63);
  assert.equal(at63, `ws--${"a".repeat(59)}`);

  const full = `ws--${"a".repeat(60)}`;
  const at64 = hostLabel("ws", "a".repeat(60), false);
  assert.equal(at64.length, 63);
  assert.equal(at64, `${full.slice(0, 56)}-${sha6(full)}`);
  assert.match(at64, /^ws--a{52}-[0-9a-f]{6}$/);
});

test("hostLabel hashes the full label including -dev, so long dev and deployed URLs differ", () => {
  const label = "a-very-long-function-label-that-goes-on-and-on-and-on-forever";
  const deployed = hostLabel("workspace", label, false);
  const dev = hostLabel("workspace", label, true);
  assert.equal(deployed.length, 63);
  assert.equal(dev.length, 63);
  assert.equal(deployed.slice(0, 56), dev.slice(0, 56));
  assert.notEqual(deployed, dev);
  assert.equal(dev.slice(57), sha6(`workspace--${label}-dev`));
  // -dev pushing a 61-character label to 65 triggers the cut too.
  const label57 = "b".repeat(57);
  assert.equal(hostLabel("ws", label57, false), `ws--${label57}`);
  assert.equal(hostLabel("ws", label57, true), `ws--${label57}`.slice(0, 56) + "-" + sha6(`ws--${label57}-dev`));
});

test("classifyHost: the bare domain and IPs are the control plane", () => {
  for (const host of ["localhost", "localhost:8600", "LOCALHOST:8600", "localhost.", "127.0.0.1", "127.0.0.1:8600", "[::1]", "[::1]:8600", "::1", "10.1.2.3:80", "[2001:db8::1]:443"]) {
    assert.deepEqual(classifyHost(host, "localhost"), { kind: "control" }, host);
  }
  assert.deepEqual(classifyHost("example.com", "example.com"), { kind: "control" });
  assert.deepEqual(classifyHost("Example.COM:443", "example.com"), { kind: "control" });
  assert.deepEqual(classifyHost("localhost:8600", "example.com"), { kind: "control" });
  assert.deepEqual(classifyHost("localhost:8600", ""), { kind: "control" });
});

test("classifyHost: one label under the domain is a function host", () => {
  assert.deepEqual(classifyHost("alice--web-demo-square.localhost:8600", "localhost"), {
    kind: "function",
    hostLabel: "alice--web-demo-square",
  });
  assert.deepEqual(classifyHost("Alice--Web-Demo-Square-DEV.LocalHost", "localhost"), {
    kind: "function",
    hostLabel: "alice--web-demo-square-dev",
  });
  assert.deepEqual(classifyHost("alice--api.example.com", "Example.com"), { kind: "function", hostLabel: "alice--api" });
  assert.deepEqual(classifyHost("alice--api.example.com.:443", "example.com"), { kind: "function", hostLabel: "alice--api" });
  const long = hostLabel("ws", "a".repeat(80), true);
  assert.deepEqual(classifyHost(`${long}.localhost:8600`, "localhost"), { kind: "function", hostLabel: long });
});

test("HostClassifier answers as classifyHost does, the same host again from memory, and forgets past 1024 hosts", () => {
  const hosts = new HostClassifier("example.com");
  for (const host of ["alice--api.example.com", "Example.COM:443", "a.b.example.com", "", undefined, "alice--api.example.com"]) {
    assert.deepEqual(hosts.classify(host), classifyHost(host, "example.com"), String(host));
  }
  const first = hosts.classify("bob--web.example.com");
  assert.equal(hosts.classify("bob--web.example.com"), first, "remembered");
  for (let n = 0; n < 1100; n += 1) assert.deepEqual(hosts.classify(`f${n}.example.com`), { kind: "function", hostLabel: `f${n}` });
  assert.notEqual(hosts.classify("bob--web.example.com"), first, "forgotten once over 1024 hosts");
  assert.deepEqual(hosts.classify("bob--web.example.com"), first);
});

test("classifyHost: everything else is unknown", () => {
  const cases: (string | undefined)[] = [
    undefined,
    "",
    "   ",
    "a.b.localhost",
    "alice--api.example.com",
    "example.com.evil.test",
    "evilexample.com",
    "-bad.localhost",
    "bad-.localhost",
    "under_score.localhost",
    `${"a".repeat(64)}.localhost`,
    ".localhost",
    "localhost:abc",
    "alice--api.localhost:80:80",
    "[::1",
    "[not-an-ip]:80",
    "[::1]x",
  ];
  for (const host of cases) {
    assert.deepEqual(classifyHost(host, "localhost"), { kind: "unknown" }, String(host));
  }
  assert.deepEqual(classifyHost("localhost.localhost", "example.com"), { kind: "unknown" });
});

test("validateLabelOverride normalises and accepts 1 to 63 characters", () => {
  assert.equal(validateLabelOverride("my-endpoint"), "my-endpoint");
  assert.equal(validateLabelOverride("My_Label"), "my-label");
  assert.equal(validateLabelOverride("x"), "x");
  assert.equal(validateLabelOverride("-trim-me-"), "trim-me");
  assert.equal(validateLabelOverride("a".repeat(63)), "a".repeat(63));
});

test("validateLabelOverride rejects empty and too-long labels with a clear message", () => {
  assert.throws(() => validateLabelOverride(""), /no letters or digits/);
  assert.throws(() => validateLabelOverride("---"), /no letters or digits/);
  assert.throws(() => validateLabelOverride("a".repeat(64)), /64 characters.*at most 63/);
});
