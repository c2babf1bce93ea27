/**
 * The flags every benchmark takes, so `npm run bench` (scripts/bench.js)
 * can pass the same ones to all: `--rounds N`, `--seconds S` and whatever
 * else a bench declares, and `--long` (or BERTH_BENCH_LONG=1, which is how
 * `npm run bench -- --long` passes it), which doubles the rounds and the
 * seconds for steadier figures (a default `npm run bench` stays within a
 * few minutes on a 2-core machine).
 */
import { parseArgs } from "node:util";

export function benchFlags<T extends Record<string, number>>(defaults: T): T {
  const options: Record<string, { type: "string" | "boolean" }> = { long: { type: "boolean" } };
  for (const name of Object.keys(defaults)) options[name] = { type: "string" };
  const { values } = parseArgs({ options, allowPositionals: false });
  const flags: Record<string, number> = {};
  for (const [name, fallback] of Object.entries(defaults)) {
    const given = values[name];
    const value = typeof given === "string" ? Number(given) : fallback;
    if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} takes a positive number, not ${String(given)}`);
    const long = values.long === true || process.env.BERTH_BENCH_LONG === "1";
    flags[name] = long && (name === "rounds" || name === "seconds" || name === "samples") && typeof given !== "string" ? value * 2 : value;
  }
  return flags as T;
}
