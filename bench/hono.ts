/**
 * Requests/s of one Hono app (apps/hono-routes.ts) through berth's gateway
 * (a fetchApp) next to the same app on a bare @hono/node-server in its own
 * process, in one run: closed loop (wrk -t1), rounds in alternating order,
 * medians; a ratio only when no request failed.
 *
 *   npx tsx bench/hono.ts [--seconds 2] [--rounds 4] [--connections 50] [--long]
 */
import { join } from "node:path";
import { deployBench } from "./support/deploy.js";
import { benchFlags } from "./support/options.js";
import { addFailures, failureText, loadAverage, ratioText, withheldNote, type Failures } from "./support/report.js";
import { alternate, median } from "./support/rounds.js";
import { LOAD_GENERATOR, runLoad, startHelper } from "./support/run.js";
import { printTable } from "./support/table.js";

const { seconds, rounds, connections } = benchFlags({ seconds: 2, rounds: 4, connections: 50 });

const SIDES = ["bare", "gateway"] as const;
type Side = (typeof SIDES)[number];
const LABELS: Record<Side, string> = { bare: "bare @hono/node-server", gateway: "through the berth gateway (fetchApp)" };

const loadBefore = loadAverage();
const bare = await startHelper("hono-server.ts");
const berth = await deployBench(join(import.meta.dirname, "apps", "hono-app.ts"), "hello");
try {
  const target: Record<Side, [number, string]> = { bare: [bare.port, "127.0.0.1"], gateway: [berth.port, berth.host] };
  // Warm-ups: the first request through the gateway starts the container; both sides get JIT time.
  for (const side of SIDES) await runLoad(...target[side], connections, 1);
  const results = await alternate(SIDES, rounds, (side) => runLoad(...target[side], connections, seconds));
  const failures = (side: Side) => results[side].reduce((all, r) => addFailures(all, r.failures), {} as Failures);
  const rps = (side: Side) => median(results[side].map((r) => r.rps));
  printTable(
    `Hono "Hello world!": ${connections} connections, ${rounds} rounds of ${seconds} s in alternating order, medians (${LOAD_GENERATOR}; load average ${loadBefore} before, ${loadAverage()} after)`,
    ["server", "req/s", "p50 ms", "p99 ms", "ratio", "failed", "req/s per round"],
    SIDES.map((side) => [
      LABELS[side],
      rps(side),
      median(results[side].map((r) => r.p50)),
      median(results[side].map((r) => r.p99)),
      ratioText(rps(side), rps("bare"), failures(side), failures("bare")),
      failureText(failures(side)),
      results[side].map((r) => Math.round(r.rps)).join(" "),
    ]),
  );
  const note = withheldNote(SIDES.map((side) => [LABELS[side], failures(side)]));
  if (note) console.log(note);
  console.log("Target (issue 9): ≥ 0.50× the bare server.");
} finally {
  bare.stop();
  await berth.close();
}
