/**
 * Test support: Debian's Chromium driven by playwright-core (never
 * `playwright install`, which downloads browsers: CI installs the
 * `chromium` package instead, see .ci/run). The flags keep it from reaching
 * for the network it does not have (component updates, sync, QUIC), which
 * otherwise stalls it here; playwright gives each launch a fresh profile
 * directory (`--user-data-dir`) and removes it on close. The browser is
 * closed after the test, failing or not. Screenshots go to
 * `test-artifacts/dashboard/` (git-ignored).
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { chromium, type Browser } from "playwright-core";
import { REPO } from "./platform.js";

export const CHROMIUM = process.env.BERTH_CHROMIUM ?? "/usr/bin/chromium";

export const ARTIFACTS = join(REPO, "test-artifacts", "dashboard");

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export async function launchChromium(t: TestContext): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium), as .ci/run does`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS, timeout: 60_000 });
  t.after(() => browser.close());
  mkdirSync(ARTIFACTS, { recursive: true });
  return browser;
}
