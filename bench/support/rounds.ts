/**
 * Rounds of a benchmark whose sides run one after another: the order of the
 * sides reverses every round (A B, B A, A B ... for two sides; A B C, C B A
 * for three), so a machine that gets busier or quieter during a run, or a
 * second run that is systematically slower than the first, favours no side.
 * Figures are the median over rounds.
 */
export async function alternate<S extends string, R>(sides: readonly S[], rounds: number, measure: (side: S, round: number) => Promise<R>): Promise<Record<S, R[]>> {
  const results = Object.fromEntries(sides.map((side) => [side, [] as R[]])) as Record<S, R[]>;
  for (let round = 0; round < rounds; round += 1) {
    const order = round % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) results[side].push(await measure(side, round));
  }
  return results;
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Nearest-rank percentile (`p` in 0-100) of values sorted ascending. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  // The epsilon keeps float error (99.9 / 100 * 1000 = 999.0000000000001) from skipping a rank.
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length - 1e-9) - 1))]!;
}
