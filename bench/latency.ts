/**
 * Latency at a fixed rate: 1,000 requests/s of the shared hello handler,
 * straight to a bare node:http server running it and through berth's
 * gateway to the `node` function running it, with an open-loop generator
 * (support/open-loop.ts: requests leave on a timetable and latency counts
 * from each one's scheduled time, so a stall is not hidden by coordinated
 * omission). Rounds in alternating order, medians of p50, p99 and p99.9,
 * and what the gateway adds (the median of the per-round differences).
 *
 *   npx tsx bench/latency.ts [--rate 1000] [--seconds 4] [--rounds 4] [--long]
 */
import { benchFlags } from "./support/options.js";
import { runOpenLoop, type OpenLoopResult } from "./support/open-loop.js";
import { addFailures, failureText, loadAverage, totalFailures, withheldNote, type Failures } from "./support/report.js";
import { alternate, median } from "./support/rounds.js";
import { benchPlatform, runLoad, startBare } from "./support/run.js";
import { printTable } from "./support/table.js";

const { rate, seconds, rounds } = benchFlags({ rate: 1000, seconds: 4, rounds: 4 });

const SIDES = ["direct", "gateway"] as const;
type Side = (typeof SIDES)[number];
const LABELS: Record<Side, string> = {
  direct: "direct: bare node:http (the handler)",
  gateway: "through the gateway → nodeApp (the same handler)",
};

const loadBefore = loadAverage();
const bare = await startBare();
const platform = await benchPlatform();
try {
  const target: Record<Side, [number, string]> = { direct: [bare.port, "localhost"], gateway: [platform.server.port, platform.hosts.node!] };
  for (const side of SIDES) await runLoad(...target[side], 50, 1);
  const results = await alternate(SIDES, rounds, (side) => runOpenLoop(...target[side], rate, seconds));

  const pick = (side: Side, key: keyof Omit<OpenLoopResult, "failures">) => median(results[side].map((r) => r[key]));
  const failures = (side: Side) => results[side].reduce((all, r) => addFailures(all, r.failures), {} as Failures);
  const anyFailed = SIDES.some((side) => totalFailures(failures(side)) > 0);
  const added = (key: "p50" | "p99" | "p999") => (anyFailed ? "withheld" : median(results.gateway.map((r, i) => r[key] - results.direct[i]![key])).toFixed(2));
  const rows: (string | number)[][] = SIDES.map((side) => [
    LABELS[side],
    pick(side, "p50").toFixed(2),
    pick(side, "p99").toFixed(2),
    pick(side, "p999").toFixed(2),
    pick(side, "max").toFixed(1),
    failureText(failures(side)),
    results[side].map((r) => r.p99.toFixed(2)).join(" "),
  ]);
  rows.push(["added by the gateway (median of per-round differences)", added("p50"), added("p99"), added("p999"), "", "", ""]);
  printTable(
    `Latency at a fixed ${rate} req/s (open loop, from each request's scheduled time): ${rounds} rounds of ${seconds} s in alternating order, medians (load average ${loadBefore} before, ${loadAverage()} after)`,
    ["path", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "failed", "p99 per round"],
    rows,
  );
  const note = withheldNote(SIDES.map((side) => [LABELS[side], failures(side)]));
  if (note) console.log(note);
  const lateness = median(SIDES.flatMap((side) => results[side].map((r) => r.latenessP99)));
  console.log(`The generator sent its requests up to ${lateness.toFixed(2)} ms after their slots (p99); that floor is in both rows.`);
  console.log("Target (issue 9): the gateway adds ≤ 2 ms at p99.");
} finally {
  bare.stop();
  await platform.close();
}
