/**
 * One upload for bench/gateway-guards.ts, in its own process so that it
 * does not share the gateway's CPU thread: a POST of <bytes> zeros with
 * Content-Length, streamed. Prints { seconds, status, body }.
 *
 *   node --import tsx bench/support/upload.ts <port> <host> <bytes>
 */
import { Readable } from "node:stream";
import { Pool } from "undici";

const [port, host, bytes] = process.argv.slice(2);
const total = Number(bytes);
const chunk = Buffer.alloc(1024 * 1024);
let sent = 0;
const body = new Readable({
  read() {
    if (sent >= total) return void this.push(null);
    const size = Math.min(chunk.length, total - sent);
    sent += size;
    this.push(size === chunk.length ? chunk : chunk.subarray(0, size));
  },
});
const pool = new Pool(`http://127.0.0.1:${port}`);
const started = performance.now();
const response = await pool.request({ path: "/", method: "POST", headers: { host: host!, "content-length": String(total) }, body });
const text = await response.body.text();
await pool.close();
process.stdout.write(JSON.stringify({ seconds: (performance.now() - started) / 1000, status: response.statusCode, body: text }));
