// Runs every test file under test/ with Node's test runner (which, on Node
// 20, takes file paths rather than globs) and TypeScript through tsx. First
// it builds the base of the shared sandbox image store (once per machine;
// test/support/prepare-images.ts), so no test pays for it in its timeout.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";

const only = process.argv.slice(2);
const files = only.length > 0 ? only : readdirSync("test").filter((f) => f.endsWith(".test.ts")).sort().map((f) => `test/${f}`);
const prepared = spawnSync(process.execPath, ["--import", "tsx", "test/support/prepare-images.ts"], { stdio: "inherit" });
if (prepared.status !== 0) process.exit(prepared.status ?? 1);
// --test-force-exit: a test file whose tests have all ended exits even if a
// handle (a socket a platform's close left to the kernel) is still open; it
// once held a finished file until its 300 s timeout on a loaded machine.
const result = spawnSync(
  process.execPath,
  ["--import", "tsx", "--test", "--test-reporter=spec", "--test-concurrency=2", "--test-force-exit", "--test-timeout=300000", ...files],
  { stdio: "inherit" },
);
process.exit(result.status ?? 1);
