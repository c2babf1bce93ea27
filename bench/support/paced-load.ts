/**
 * An open-loop HTTP load generator: `rate` requests per second at a steady
 * pace (a batch every 10 ms), whatever the answers' latency, until its
 * stdin ends (the caller decides when, so slow steps of its own on a
 * loaded machine never outlast the load). Run in its own process. Prints
 * one JSON line: requests sent, answered 200, errors, and the rate
 * achieved.
 *
 *   node --import tsx bench/support/paced-load.ts <origin> <host> <rate>
 */
import { Pool } from "undici";

const [origin, host, rateText] = process.argv.slice(2);
const rate = Number(rateText);
const TICK_MS = 10;
const pool = new Pool(origin!, { connections: 32, pipelining: 1 });
let sent = 0;
let ok = 0;
let errors = 0;
const started = performance.now();
let stopped = false;
let seconds = 0;
process.stdin.on("end", () => (stopped = true)).resume();

const fire = () => {
  sent += 1;
  pool.request({ path: "/", method: "GET", headers: { host: host! } }).then(
    async ({ statusCode, body }) => {
      await body.dump();
      if (statusCode === 200) ok += 1;
      else errors += 1;
    },
    () => (errors += 1),
  );
};

await new Promise<void>((resolve) => {
  const timer = setInterval(() => {
    const now = performance.now();
    if (stopped) {
      seconds = (now - started) / 1000;
      clearInterval(timer);
      resolve();
      return;
    }
    // Catch up to where the schedule says we should be, so a late tick does not lower the rate.
    const due = Math.floor(((now - started) / 1000) * rate);
    while (sent < due) fire();
  }, TICK_MS);
});
await new Promise((resolve) => setTimeout(resolve, 500));
await pool.close();
process.stdout.write(`${JSON.stringify({ sent, ok, errors, rate: Math.round(sent / seconds) })}\n`);
