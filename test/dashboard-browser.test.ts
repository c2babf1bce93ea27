/**
 * The dashboard in a real browser (Debian's Chromium through
 * playwright-core) against a real `berth server`-like platform: sign in,
 * see the app the test deployed, watch requests move the counters and a
 * deploy made through the control API appear without a reload, follow a
 * request into the logs, roll back and see the version change, revoke a
 * token, make a secret, and a member token that cannot see another
 * workspace. Screenshots of the main pages are saved to
 * test-artifacts/dashboard/.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { Page } from "playwright-core";
import { ApiClient } from "../src/cli/client.js";
import { ARTIFACTS, launchChromium } from "./support/browser.js";
import { berth, tempHome } from "./support/cli.js";
import { request, startPlatform, tempApp, type TestPlatform } from "./support/platform.js";

const appSource = (version: string) => `import { App } from "berthjs";
const app = new App("shop");
export const search = app.function().webEndpoint(({ request }) => {
  console.log("searching for", new URL(request.url).searchParams.get("q"), "in ${version}");
  return "${version}";
});
`;

/** Two versions of an app; the second one serves. */
async function deployTwice(t: Parameters<typeof tempApp>[0], platform: TestPlatform): Promise<string> {
  await platform.deploy(tempApp(t, "shop.ts", appSource("v1")));
  const result = await platform.deploy(tempApp(t, "shop.ts", appSource("v2")));
  return platform.url(result, "search");
}

async function signIn(page: Page, base: string, token: string): Promise<void> {
  await page.goto(`${base}/`);
  assert.match(page.url(), /\/login/);
  await page.fill("#token", token);
  await page.click("button[type=submit]");
  await page.waitForURL(/\/w\/[a-z0-9-]+\/$/);
}

/** Marks the page so a reload would be noticed: live updates must not reload. */
async function mark(page: Page): Promise<void> {
  await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
}

async function stillSamePage(page: Page): Promise<boolean> {
  return page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded === true);
}

test("in Chromium: sign in, live counters and deploys, rollback, revoking a token", { timeout: 240_000 }, async (t) => {
  const platform = await startPlatform(t, { requireAuth: true });
  const url = await deployTwice(t, platform);
  const browser = await launchChromium(t);
  const page = await browser.newPage({ viewport: { width: 1280, height: 760 } });
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("dialog", (dialog) => void dialog.accept());
  const base = platform.server.url;

  await signIn(page, base, platform.token);
  await page.waitForSelector('a[data-app="shop"]');
  assert.equal(await page.textContent('[data-version="shop"]'), "2");
  await page.waitForSelector("#live-dot.on");
  await mark(page);

  // Requests move the counters on the open page.
  const rpm = page.locator('[data-k="shop||search|rpm"]');
  assert.equal(await rpm.textContent(), "0");
  for (let i = 0; i < 3; i += 1) assert.equal(await (await request(`${url}?q=boots`)).json(), "v2");
  await page.waitForFunction(() => document.querySelector('[data-k="shop||search|rpm"]')?.textContent === "3", undefined, { timeout: 15_000 });
  await page.waitForFunction(() => /ms$/.test(document.querySelector('[data-k="shop||search|p50"]')?.textContent ?? ""), undefined, { timeout: 15_000 });
  assert.match((await page.textContent('[data-k="shop||search|containers"]')) ?? "", /1 ready/);

  // A deploy through the control API (what `berth deploy` does) appears without a reload.
  await platform.deploy("examples/hello.ts");
  await page.waitForSelector('a[data-app="hello"]', { timeout: 15_000 });
  assert.ok(await stillSamePage(page), "the page was not reloaded");
  await page.screenshot({ path: join(ARTIFACTS, "apps.png") });

  // The logs: what the handler printed, live; a click on an access line shows that request's lines alone.
  await page.goto(`${base}/w/test/apps/shop/logs`);
  await page.waitForSelector('.l.stdout:has-text("searching for boots in v2")');
  await page.waitForSelector("#live-dot.on");
  await mark(page);
  await request(`${url}?q=hats`);
  const hats = page.locator('.l.stdout:has-text("searching for hats in v2")');
  await hats.waitFor({ timeout: 15_000 });
  assert.ok(await stillSamePage(page), "the line arrived live");
  const requestId = await hats.getAttribute("data-request");
  assert.ok(requestId);
  await page.waitForSelector(`.l.access[data-request="${requestId}"]`);
  await page.screenshot({ path: join(ARTIFACTS, "logs.png") });
  await page.click(`.l.access[data-request="${requestId}"] a.access`);
  await page.waitForURL(new RegExp(`request=${requestId}`));
  const rows = await page.locator(".l").evaluateAll((els) => els.map((el) => [el.getAttribute("data-request"), el.className]));
  assert.deepEqual(rows, [
    [requestId, "l stdout"],
    [requestId, "l access"],
  ]);
  // The level filter: nothing was written to stderr.
  await page.goto(`${base}/w/test/apps/shop/logs?stream=stderr`);
  assert.equal(await page.locator(".l").count(), 0);
  await page.goto(`${base}/w/test/apps/shop/logs?stream=access&function=search`);
  assert.equal(await page.locator(".l.access").count(), 4);
  assert.equal(await page.locator(".l:not(.access)").count(), 0);

  // The function: its container, its numbers, its charts.
  await page.goto(`${base}/w/test/`);
  await page.click('a[href="/w/test/apps/shop/functions/search"]');
  await page.waitForSelector("#containers tr[data-container]");
  assert.equal(await page.locator(".chart canvas").count(), 5, "five uPlot charts");
  assert.equal(await page.textContent('[data-k="shop||search|total"]'), "4");
  await mark(page);
  await request(`${url}?q=socks`);
  await page.waitForFunction(() => document.querySelector('[data-k="shop||search|total"]')?.textContent === "5", undefined, { timeout: 15_000 });
  assert.ok(await stillSamePage(page));
  await page.screenshot({ path: join(ARTIFACTS, "function.png"), fullPage: true });

  // Roll back to version 1: it is deployed again as version 3, and serves v1.
  await page.goto(`${base}/w/test/apps/shop`);
  assert.equal(await page.textContent("#current-version"), "2");
  await page.click('[data-rollback="1"]');
  await page.waitForSelector(".flash.ok");
  assert.match((await page.textContent(".flash.ok")) ?? "", /version 3/);
  assert.equal(await page.textContent("#current-version"), "3");
  assert.equal(await (await request(url)).json(), "v1");
  assert.equal(await page.locator("tr[data-version-row]").count(), 3);
  await page.screenshot({ path: join(ARTIFACTS, "app.png") });

  // Revoke a token from the tokens page: it is refused from then on.
  const doomed = await platform.client.createToken({ kind: "api", name: "ci deploy key" });
  const client = new ApiClient(base, undefined, doomed.token);
  assert.ok(await client.listApps());
  await page.goto(`${base}/w/test/tokens`);
  await page.click(`[data-revoke="${doomed.id}"]`);
  await page.waitForSelector(".flash.ok");
  assert.match((await page.textContent(`tr[data-token="${doomed.id}"]`)) ?? "", /revoked/);
  await assert.rejects(client.listApps(), /invalid or revoked/);
  // A new token's secret is shown once, right after it is made.
  await page.fill("#create-token input[name=name]", "made in the browser");
  await page.click("#create-token button[type=submit]");
  const secret = (await page.textContent("#new-secret")) ?? "";
  assert.match(secret, /^bt_/);
  await page.screenshot({ path: join(ARTIFACTS, "tokens.png") });
  await page.reload();
  assert.equal(await page.locator("#new-secret").count(), 0);
  assert.ok(!(await page.content()).includes(secret));

  // A secret made in the browser: its keys are listed, its values never shown.
  await page.goto(`${base}/w/test/secrets`);
  await page.fill("#create-secret input[name=name]", "stripe");
  await page.fill("#create-secret textarea[name=values]", "STRIPE_KEY=sk_live_made_in_chromium\nWEBHOOK_SECRET=whsec_also_hidden");
  await page.click("#create-secret button[type=submit]");
  await page.waitForSelector('tr[data-secret="stripe"]');
  assert.equal(await page.textContent('tr[data-secret="stripe"] td:nth-child(2)'), "STRIPE_KEY, WEBHOOK_SECRET");
  assert.doesNotMatch(await page.content(), /sk_live_made_in_chromium|whsec_also_hidden/);
  await page.screenshot({ path: join(ARTIFACTS, "secrets.png") });

  await page.goto(`${base}/w/test/limits`);
  await page.screenshot({ path: join(ARTIFACTS, "limits.png") });
  assert.deepEqual(errors, [], "no script errors");
});

test("in Chromium: a member token sees its own workspace and not another", { timeout: 120_000 }, async (t) => {
  const platform = await startPlatform(t, { requireAuth: true });
  await deployTwice(t, platform);
  const member = await platform.client.createToken({ kind: "api", workspace: "team-b", name: "team b member" });
  const browser = await launchChromium(t);
  const page = await browser.newPage();
  await signIn(page, platform.server.url, member.token!);
  assert.match(page.url(), /\/w\/team-b\/$/);
  assert.equal(await page.locator("a[data-app]").count(), 0, "team-b has no apps");
  assert.equal(await page.locator("#switch").count(), 0, "no workspace switch");
  const response = await page.goto(`${platform.server.url}/w/test/`);
  assert.equal(response?.status(), 403);
  assert.match((await page.textContent("#error-message")) ?? "", /belongs to workspace "team-b" and cannot see "test"/);
  assert.equal(await page.locator('a[data-app="shop"]').count(), 0);
  const fn = await page.goto(`${platform.server.url}/w/test/apps/shop/functions/search`);
  assert.equal(fn?.status(), 403);
  // The page's own feed, asked for the other workspace by hand, is refused too.
  const status = await page.evaluate(async () => (await fetch("/w/test/events?view=apps")).status);
  assert.equal(status, 403);
});

test("in Chromium: berth serve's printed link opens its dashboard without signing in, and a live reload shows up", { timeout: 120_000 }, async (t) => {
  const file = tempApp(t, "shop.ts", appSource("v1"));
  const serve = berth(t, ["serve", file, "--port", "0", "--no-typecheck"], { BERTH_HOME: tempHome(t) });
  const [, link] = await serve.waitFor(/Dashboard: (http:\/\/localhost:\d+\/\?key=[\w-]+)/);
  await serve.waitFor(/Serving app "shop"/);
  const browser = await launchChromium(t);
  const page = await browser.newPage();
  await page.goto(link!);
  await page.waitForURL(/\/w\/local\/$/);
  assert.doesNotMatch(page.url(), /key=/, "the key leaves the address bar");
  await page.waitForSelector('a[data-app="shop"]');
  assert.equal(await page.textContent('[data-version="shop"]'), "1");
  assert.equal(await page.locator("text=Sign out").count(), 0);
  await page.waitForSelector("#live-dot.on");
  await mark(page);
  writeFileSync(file, appSource("v2"));
  await page.waitForFunction(() => document.querySelector('[data-version="shop"]')?.textContent === "2", undefined, { timeout: 30_000 });
  assert.ok(await stillSamePage(page), "updated live, not reloaded");
  // Without the key, the same address asks for a token.
  const stranger = await browser.newPage();
  await stranger.goto(link!.replace(/\?key=.*/, ""));
  assert.match(stranger.url(), /\/login/);
  serve.child.kill("SIGINT");
  assert.equal(await serve.exited, 0);
});
