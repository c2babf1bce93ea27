#!/usr/bin/env node
import { main } from "../dist/cli/main.js";

main(process.argv).catch((error) => {
  console.error(`berth: ${error?.message ?? error}`);
  process.exit(1);
});
