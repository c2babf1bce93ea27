/**
 * Public URLs and TLS. `--public-url` makes the printed URLs the ones
 * clients use (`https://<ws>--<label>.fns.example.com/`) and routes that
 * domain, as behind a proxy that terminates TLS; `--tls-cert/--tls-key`
 * serve HTTPS and WebSockets over TLS directly. The certificate is a
 * self-signed one made with openssl for this run; clients trust exactly it.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { Agent, fetch } from "undici";
import { publicOptions } from "../src/cli/server-flags.js";
import { functionUrl, parsePublicUrl } from "../src/hosts/public-url.js";
import { berth, tempHome } from "./support/cli.js";
import { request, startPlatform, tempApp } from "./support/platform.js";
import { connectWs, roundTrip } from "./support/websocket.js";

interface Certificate {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
}

/** A self-signed certificate for `names` (the first is the subject), valid for a day. */
function selfSigned(t: TestContext, names: string[]): Certificate {
  const dir = mkdtempSync(join(tmpdir(), "berth-tls-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
    "-keyout", keyFile, "-out", certFile, "-subj", `/CN=${names[0]}`,
    "-addext", `subjectAltName=${names.map((name) => `DNS:${name}`).join(",")}`,
  ], { stdio: "pipe" });
  return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
}

/** An undici dispatcher that trusts only `ca` and connects every host name to loopback. */
function trusting(ca: Buffer): Agent {
  return new Agent({
    connect: {
      ca,
      lookup: (_host, options, callback) => (options.all ? callback(null, [{ address: "127.0.0.1", family: 4 }]) : callback(null, "127.0.0.1", 4)),
    },
  });
}

const echoApp = `
import { App } from "berthjs";
import { createServer } from "node:http";
import { WebSocketServer } from "ws";
const app = new App("tls");
export const hello = app.function().webEndpoint(({ request }) => ({ proto: request.headers.get("x-forwarded-proto"), host: request.headers.get("x-forwarded-host") }));
export const echo = app.function({ concurrency: { maxInputs: 10 } }).nodeApp(() => {
  const server = createServer((_req, res) => res.end("plain"));
  new WebSocketServer({ server }).on("connection", (ws) => ws.on("message", (data) => ws.send("echo: " + String(data))));
  return server;
});
`;

test("public URLs: parsed strictly, printed with their scheme, host and port", () => {
  assert.deepEqual(parsePublicUrl("https://fns.example.com"), { scheme: "https", domain: "fns.example.com", port: undefined });
  assert.deepEqual(parsePublicUrl("http://Fns.Example.com:8080/"), { scheme: "http", domain: "fns.example.com", port: 8080 });
  assert.equal(functionUrl(parsePublicUrl("https://fns.example.com"), "local--web-demo-f"), "https://local--web-demo-f.fns.example.com/");
  assert.equal(functionUrl(parsePublicUrl("https://fns.example.com:443"), "a--b"), "https://a--b.fns.example.com/");
  assert.equal(functionUrl(parsePublicUrl("http://fns.example.com:8443"), "a--b"), "http://a--b.fns.example.com:8443/");
  assert.equal(functionUrl({ scheme: "http", domain: "localhost", port: 8600 }, "a--b"), "http://a--b.localhost:8600/");
  for (const [bad, why] of [
    ["fns.example.com", /not a URL/],
    ["ftp://fns.example.com", /must be http:\/\/ or https:\/\//],
    ["https://fns.example.com/base", /scheme, host and port only/],
    ["https://user:pw@fns.example.com", /scheme, host and port only/],
    ["https://10.0.0.1", /needs a domain name/],
  ] as const) {
    assert.throws(() => parsePublicUrl(bad), why, bad);
  }
});

test("--tls-cert and --tls-key: both or neither, readable PEM files", (t) => {
  const { certFile, keyFile } = selfSigned(t, ["localhost"]);
  assert.throws(() => publicOptions({ tlsCert: certFile }), /--tls-cert and --tls-key go together/);
  assert.throws(() => publicOptions({ tlsCert: certFile, tlsKey: "/nonexistent/key.pem" }), /--tls-key \/nonexistent\/key\.pem: cannot read it \(ENOENT\)/);
  const notPem = join(tmpdir(), `berth-not-pem-${process.pid}`);
  writeFileSync(notPem, "hello");
  t.after(() => rmSync(notPem, { force: true }));
  assert.throws(() => publicOptions({ tlsCert: notPem, tlsKey: keyFile }), /is not a PEM file/);
  const options = publicOptions({ tlsCert: certFile, tlsKey: keyFile, publicUrl: "https://fns.example.com" });
  assert.equal(options.publicUrl, "https://fns.example.com");
  assert.match(String(options.tls?.cert), /BEGIN CERTIFICATE/);
});

test("--public-url behind a TLS-terminating proxy: https URLs on its domain, routed by Host, X-Forwarded-Proto from the trusted proxy", async (t) => {
  const platform = await startPlatform(t, { publicUrl: "https://fns.example.com", trustProxy: ["127.0.0.1"] });
  const result = await platform.deploy(tempApp(t, "app.ts", echoApp));
  const url = platform.url(result, "hello");
  assert.equal(url, "https://test--tls-hello.fns.example.com/");
  // What the proxy sends on: plain HTTP to the gateway's port, with the public host and its forwarding headers.
  const proxied = await request(`http://test--tls-hello.fns.example.com:${platform.server.port}/`, {
    headers: { "x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.9" },
  });
  assert.equal(proxied.status, 200);
  assert.deepEqual(await proxied.json(), { proto: "https", host: `test--tls-hello.fns.example.com:${platform.server.port}` });
  // The old local hosts are not routed any more.
  const local = await request(`http://test--tls-hello.localhost:${platform.server.port}/`);
  assert.equal(local.status, 404);
  await assert.rejects(startPlatform(t, { publicUrl: "https://fns.example.com", domain: "other.example.com" }), /disagree: give --public-url alone/);
});

test("berth server --tls-cert --tls-key, berth deploy over HTTPS: HTTPS and WebSockets over TLS straight to the gateway; plain HTTP and untrusting clients get nothing", async (t) => {
  const certificate = selfSigned(t, ["fns.test", "*.fns.test", "localhost"]);
  const home = tempHome(t);
  // The CLI trusts the certificate the way Node programs do: NODE_EXTRA_CA_CERTS.
  const env = { BERTH_HOME: home, NODE_EXTRA_CA_CERTS: certificate.certFile };
  const server = berth(t, ["server", "--port", "0", "--domain", "fns.test", "--tls-cert", certificate.certFile, "--tls-key", certificate.keyFile], env);
  const [, base] = await server.waitFor(/listening on (https:\/\/localhost:(\d+))/, 60_000);
  const port = Number(new URL(base!).port);
  const deploy = berth(t, ["deploy", tempApp(t, "app.ts", echoApp), "--server", base!, "--typecheck=off"], env);
  assert.equal(await deploy.exited, 0, deploy.output());
  const url = /hello\s+(https:\/\/local--tls-hello\.fns\.test:\d+\/)/.exec(deploy.output())?.[1];
  const echoUrl = /echo\s+(https:\/\/local--tls-echo\.fns\.test:\d+\/)/.exec(deploy.output())?.[1];
  assert.equal(url, `https://local--tls-hello.fns.test:${port}/`, deploy.output());
  assert.ok(echoUrl, deploy.output());

  const response = await fetch(url, { dispatcher: trusting(certificate.cert) });
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), { proto: "https", host: `local--tls-hello.fns.test:${port}` });

  const ws = await connectWs(t, echoUrl, { ca: certificate.cert });
  assert.ok(ws.url.startsWith("wss://"), ws.url);
  assert.equal(await roundTrip(ws, "over TLS"), "echo: over TLS");
  ws.close();

  // A client that does not trust the certificate stops at the handshake; plain HTTP is not spoken on this port.
  await assert.rejects(fetch(url, { dispatcher: trusting(Buffer.from("")) }));
  const plain = await new Promise<string>((resolve) => {
    const socket = connect(port, "127.0.0.1", () => socket.write("GET / HTTP/1.1\r\nHost: local--tls-hello.fns.test\r\n\r\n"));
    let answer = "";
    socket.on("data", (chunk) => (answer += chunk.toString("latin1")));
    socket.on("close", () => resolve(answer));
    socket.on("error", () => resolve(answer));
    socket.setTimeout(10_000, () => socket.destroy());
  });
  assert.doesNotMatch(plain, /"proto"/, "no function answered plain HTTP");

  server.child.kill("SIGINT");
  assert.equal(await server.exited, 0);
});
