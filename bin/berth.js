#!/usr/bin/env node
import { main } from "../dist/cli/main.js";
import { formatError } from "../dist/cli/output.js";

main(process.argv).catch((error) => {
  process.stderr.write(`berth: ${formatError(error)}\n`);
  process.exit(1);
});
