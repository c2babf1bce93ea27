/**
 * The load generator of bench/gateway-guards.ts, run as its own process so
 * that it does not share the gateway's CPU thread. Two modes:
 *
 *   requests <port> <host> <connections> <seconds> [headers JSON]
 *     closed loop of GETs; prints { rps, p50, p99, errors } (ms)
 *   upload <port> <host> <bytes>
 *     one POST of <bytes> zeros with Content-Length; prints { seconds, status, body }
 */
import { Readable } from "node:stream";
import { Pool } from "undici";

const [mode, port, host] = process.argv.slice(2);
const origin = `http://127.0.0.1:${port}`;

if (mode === "requests") {
  const connections = Number(process.argv[5]);
  const seconds = Number(process.argv[6]);
  const headers = { host: host!, ...(JSON.parse(process.argv[7] ?? "{}") as Record<string, string>) };
  const pool = new Pool(origin, { connections, pipelining: 1 });
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < end) {
        const started = performance.now();
        try {
          const response = await pool.request({ path: "/", method: "GET", headers });
          await response.body.dump();
          if (response.statusCode === 200) latencies.push(performance.now() - started);
          else errors++;
        } catch {
          errors++;
        }
      }
    }),
  );
  await pool.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  process.stdout.write(JSON.stringify({ rps: latencies.length / seconds, p50: at(0.5), p99: at(0.99), errors }));
} else if (mode === "upload") {
  const total = Number(process.argv[5]);
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
  const pool = new Pool(origin);
  const started = performance.now();
  const response = await pool.request({ path: "/", method: "POST", headers: { host: host!, "content-length": String(total) }, body });
  const text = await response.body.text();
  await pool.close();
  process.stdout.write(JSON.stringify({ seconds: (performance.now() - started) / 1000, status: response.statusCode, body: text }));
} else {
  process.stderr.write("usage: guards-load.ts requests|upload ...\n");
  process.exit(2);
}
