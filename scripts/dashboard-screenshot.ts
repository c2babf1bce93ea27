// Regenerates docs/dashboard.png, the README's picture of the dashboard: a
// real platform, a small shop app under a few minutes of varied traffic
// (some 4xx and 5xx, a burst that scales it out, one container crash half
// way), then Chromium's screenshot of its function page.
//   npx tsx scripts/dashboard-screenshot.ts [minutes=6]
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";
import { bundleApp } from "../src/bundler/bundle.js";
import { ApiClient } from "../src/cli/client.js";
import { startServer } from "../src/server/start.js";

const minutes = Number(process.argv[2] ?? 6);
const ROOT = resolve(import.meta.dirname, "..");
const home = mkdtempSync(join(tmpdir(), "berth-shot-"));
const dir = mkdtempSync(join(ROOT, "test", ".tmp-"));
const file = join(dir, "shop.ts");
writeFileSync(
  file,
  `import { App } from "berthjs";
const app = new App("shop");
export const search = app.function({ concurrency: { maxInputs: 4 }, scaledownWindow: 20 }).webEndpoint(async ({ request }) => {
  const q = new URL(request.url).searchParams.get("q") ?? "";
  await new Promise((r) => setTimeout(r, 5 + Math.random() * (q === "slow" ? 400 : 40)));
  if (q === "missing") return new Response("no such item", { status: 404 });
  if (q === "boom") throw new Error("the index is not reachable");
  if (q === "crash") setTimeout(() => process.exit(3), 10);
  console.log("search", q);
  return { results: q.length };
});
export const checkout = app.function().webEndpoint(() => ({ ok: true }));
`,
);
const server = await startServer({ home, port: 0, workspace: "team-a", requireAuth: true, rateLimit: null, warmAgents: 1 });
try {
  const client = new ApiClient(server.url, undefined, server.bootstrapToken);
  const bundle = await bundleApp(file);
  await client.uploadBlob(bundle.hash, bundle.code);
  const result = await client.deploy({ bundleHash: bundle.hash, manifest: bundle.manifest, ephemeral: false }, () => {});
  await client.deploy({ bundleHash: bundle.hash, manifest: bundle.manifest, ephemeral: false }, () => {});
  const host = new URL(result.functions.find((fn) => fn.name === "search")!.url).host;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const hit = (q: string) =>
    new Promise<void>((done) => {
      http.get({ host: "127.0.0.1", port: server.port, path: `/?q=${q}`, headers: { host }, agent }, (res) => res.resume().on("end", done)).on("error", () => done());
    });
  const end = Date.now() + minutes * 60_000;
  let crashed = false;
  while (Date.now() < end) {
    if (!crashed && end - Date.now() < (minutes * 60_000) / 2) {
      crashed = true;
      void hit("crash");
    }
    const phase = ((end - Date.now()) / 60_000) % 3;
    const rate = phase < 1 ? 15 : phase < 2 ? 60 : 30;
    for (let i = 0; i < rate / 5; i += 1) {
      const roll = Math.random();
      void hit(roll < 0.04 ? "missing" : roll < 0.05 ? "boom" : roll < 0.08 ? "slow" : `item${i}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  await page.goto(`${server.url}/login`);
  await page.fill("#token", server.bootstrapToken!);
  await page.click("button[type=submit]");
  await page.goto(`${server.url}/w/team-a/apps/shop/functions/search`);
  await page.waitForTimeout(1500);
  await page.screenshot({ path: join(ROOT, "docs", "dashboard.png") });
  await browser.close();
} finally {
  await server.close();
  rmSync(home, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
}
