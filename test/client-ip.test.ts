/**
 * The client's address: the document's client-IP example over real HTTP,
 * forged forwarding headers replaced, and trusted proxies' chains read right
 * to left (unit cases for the chain rules, then the platform).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { clientAddress, TrustedProxies } from "../src/gateway/client-ip.js";
import { request } from "./support/platform.js";
import { sandboxTest, startSandboxPlatform } from "./support/sandbox.js";

const FORGED = {
  "x-forwarded-for": "6.6.6.6",
  "x-real-ip": "6.6.6.6",
  forwarded: "for=6.6.6.6",
  "x-forwarded-proto": "https",
  "x-forwarded-host": "evil.example",
};

test("chain rules: untrusted peers are the client; trusted hops are skipped right to left; forged prefixes are dropped", () => {
  const none = new TrustedProxies();
  assert.deepEqual(clientAddress("10.0.0.9", "6.6.6.6", none), { clientIp: "10.0.0.9", forwardedFor: "10.0.0.9", trustedPeer: false });
  const lb = new TrustedProxies(["10.0.0.0/8", "::1"]);
  assert.deepEqual(clientAddress("10.0.0.9", "203.0.113.7", lb), { clientIp: "203.0.113.7", forwardedFor: "203.0.113.7, 10.0.0.9", trustedPeer: true });
  assert.equal(clientAddress("10.0.0.9", "6.6.6.6, 203.0.113.7, 10.1.2.3", lb).clientIp, "203.0.113.7");
  assert.equal(clientAddress("10.0.0.9", "6.6.6.6, 203.0.113.7, 10.1.2.3", lb).forwardedFor, "203.0.113.7, 10.1.2.3, 10.0.0.9");
  assert.equal(clientAddress("10.0.0.9", "garbage", lb).clientIp, "10.0.0.9");
  assert.equal(clientAddress("10.0.0.9", undefined, lb).clientIp, "10.0.0.9");
  assert.equal(clientAddress("::1", "2001:db8::1", lb).clientIp, "2001:db8::1");
  assert.equal(clientAddress("192.168.1.1", "203.0.113.7", lb).clientIp, "192.168.1.1");
  assert.throws(() => new TrustedProxies(["10.0.0.0/8/1"]), /not an IP address or CIDR/);
  assert.throws(() => new TrustedProxies(["example.com"]), /not an IP address or CIDR/);
});

test("the document's client-IP example: the real address, whatever the client claims (sandbox runtime)", sandboxTest(), async (t) => {
  const platform = await startSandboxPlatform(t);
  const result = await platform.deploy("examples/client-ip.ts");
  const endpoint = await request(platform.url(result, "getIpAddress"), { headers: FORGED });
  assert.equal(await endpoint.json(), "Your IP address is 127.0.0.1");
  const app = await request(platform.url(result, "headers"), { headers: FORGED });
  assert.deepEqual(await app.json(), { forwardedFor: "127.0.0.1" });
});

test("behind a trusted proxy (--trust-proxy), the forwarded client is believed (sandbox runtime)", sandboxTest(), async (t) => {
  const platform = await startSandboxPlatform(t, { trustProxy: ["127.0.0.1", "::1"] });
  const result = await platform.deploy("examples/client-ip.ts");
  const url = platform.url(result, "getIpAddress");
  const forwarded = await request(url, { headers: { "x-forwarded-for": "203.0.113.7" } });
  assert.equal(await forwarded.json(), "Your IP address is 203.0.113.7");
  // Only the hop our trusted proxy added counts; what the client put before it does not.
  const chained = await request(url, { headers: { "x-forwarded-for": "6.6.6.6, 203.0.113.7" } });
  assert.equal(await chained.json(), "Your IP address is 203.0.113.7");
  const app = await request(platform.url(result, "headers"), { headers: { "x-forwarded-for": "6.6.6.6, 203.0.113.7" } });
  assert.deepEqual(await app.json(), { forwardedFor: "203.0.113.7, 127.0.0.1" });
});
