/**
 * The platform as users run it. `berth server` runs dist/ (compiled by
 * esbuild, scripts/build.js), so the benchmarks start that build, not the
 * TypeScript sources through tsx: tsx compiles with `keepNames`, which wraps
 * every function the gateway creates per request (closures, arrow
 * listeners) in a `__name` call, and that alone cost the gateway ~35% more
 * CPU per request than the build users get (hello endpoint, wrk, 50
 * connections, measured side by side). `npm run bench` rebuilds dist/ first.
 */
import { existsSync } from "node:fs";
import type * as Start from "../../src/server/start.js";

const entry = new URL("../../dist/server/start.js", import.meta.url);
if (!existsSync(entry)) throw new Error("dist/ is not built: run `npm run build` (npm run bench does) before a benchmark");

export const { startServer } = (await import(entry.href)) as typeof Start;
