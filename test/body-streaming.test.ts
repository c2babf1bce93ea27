/**
 * A 1 GiB request body streams through the gateway into a function without
 * being held in memory: the function counts every byte, and the memory of
 * the process that runs the gateway (and this client) stays bounded.
 */
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { test } from "node:test";
import { request as undiciRequest } from "undici";
import { loopback, startPlatform, tempApp } from "./support/platform.js";

const GiB = 1024 ** 3;
const CHUNK = 1024 * 1024;

const SINK = `
import { App } from "berthjs";
const app = new App("big");
export const sink = app.function().nodeApp(() => (req, res) => {
  let bytes = 0;
  req.on("data", (chunk) => (bytes += chunk.length));
  req.on("end", () => res.end(JSON.stringify({ bytes })));
});
`;

/** `total` bytes from one reused buffer, so the client itself allocates nothing per chunk. */
function zeros(total: number): Readable {
  const chunk = Buffer.alloc(CHUNK);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const size = Math.min(CHUNK, total - sent);
      sent += size;
      this.push(size === CHUNK ? chunk : chunk.subarray(0, size));
    },
  });
}

for (const framing of ["content-length", "chunked"] as const) {
  test(`a 1 GiB body (${framing}) reaches the function whole while the gateway's memory stays bounded`, async (t) => {
    const platform = await startPlatform(t);
    const url = platform.url(await platform.deploy(tempApp(t, "big.ts", SINK)), "sink");
    globalThis.gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    t.after(() => clearInterval(sampler));

    const started = performance.now();
    const response = await undiciRequest(url, {
      method: "POST",
      dispatcher: loopback,
      headers: framing === "content-length" ? { "content-length": String(GiB) } : {},
      body: zeros(GiB),
    });
    const result = (await response.body.json()) as { bytes: number };
    clearInterval(sampler);
    const seconds = (performance.now() - started) / 1000;
    const growthMiB = (peak - baseline) / 1024 / 1024;
    t.diagnostic(`1 GiB (${framing}) in ${seconds.toFixed(1)} s; RSS peak ${(peak / 1024 / 1024).toFixed(0)} MiB, +${growthMiB.toFixed(0)} MiB over baseline`);
    assert.equal(response.statusCode, 200);
    assert.equal(result.bytes, GiB);
    assert.ok(growthMiB < 256, `the gateway's memory grew by ${growthMiB.toFixed(0)} MiB while streaming 1 GiB`);
  });
}
