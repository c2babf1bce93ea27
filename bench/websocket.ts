/**
 * WebSocket echo round trips/s through berth's gateway next to a direct
 * connection to the same `ws` server in the same container, in one run
 * (support/ws-load.ts in its own process): rounds in alternating order,
 * medians; a ratio only when no round trip failed.
 *
 *   npx tsx bench/websocket.ts [--seconds 2] [--rounds 4] [--connections 20] [--long]
 */
import { join } from "node:path";
import { request } from "undici";
import { deployBench } from "./support/deploy.js";
import { benchFlags } from "./support/options.js";
import { addFailures, failureText, loadAverage, ratioText, withheldNote, type Failures } from "./support/report.js";
import { alternate, median } from "./support/rounds.js";
import { printTable } from "./support/table.js";
import { runWsLoad } from "./support/ws-load.js";

const { seconds, rounds, connections } = benchFlags({ seconds: 2, rounds: 4, connections: 20 });

const SIDES = ["direct", "gateway"] as const;
type Side = (typeof SIDES)[number];
const LABELS: Record<Side, string> = { direct: "direct to the container's ws server", gateway: "through the berth gateway" };

const loadBefore = loadAverage();
const berth = await deployBench(join(import.meta.dirname, "apps", "ws-echo.ts"), "echo");
try {
  // The echo server answers plain GETs with its port, so it can be reached without the gateway too.
  const answer = await request(`http://127.0.0.1:${berth.port}/`, { headers: { host: berth.host } });
  const serverPort = Number(await answer.body.text());
  const target: Record<Side, [number, string]> = { direct: [serverPort, "127.0.0.1"], gateway: [berth.port, berth.host] };
  for (const side of SIDES) await runWsLoad(target[side][0], "/", target[side][1], connections, 1);
  const results = await alternate(SIDES, rounds, (side) => runWsLoad(target[side][0], "/", target[side][1], connections, seconds));
  const failures = (side: Side) => results[side].reduce((all, r) => addFailures(all, r.failures), {} as Failures);
  const rps = (side: Side) => median(results[side].map((r) => r.rps));
  printTable(
    `WebSocket echo (64 B): ${connections} connections, ${rounds} rounds of ${seconds} s in alternating order, medians (node generator; load average ${loadBefore} before, ${loadAverage()} after)`,
    ["path", "round trips/s", "p50 ms", "p99 ms", "ratio", "failed", "per round"],
    SIDES.map((side) => [
      LABELS[side],
      rps(side),
      median(results[side].map((r) => r.p50)),
      median(results[side].map((r) => r.p99)),
      ratioText(rps(side), rps("direct"), failures(side), failures("direct")),
      failureText(failures(side)),
      results[side].map((r) => Math.round(r.rps)).join(" "),
    ]),
  );
  const note = withheldNote(SIDES.map((side) => [LABELS[side], failures(side)]));
  if (note) console.log(note);
} finally {
  await berth.close();
}
