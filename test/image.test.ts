/**
 * Images: npm packages named in `Image.npmInstall` are installed once into a
 * content-addressed image directory, kept out of the bundle, and resolved
 * from the image by the function at run time.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { bundleApp } from "../src/bundler/bundle.js";
import { request, startPlatform, tempApp } from "./support/platform.js";

// is-number is not a dependency of this repository: it can only come from the image.
const source = (appName: string) => `import { App, Image } from "berthjs";
import isNumber from "is-number";
const app = new App(${JSON.stringify(appName)}, { image: Image.debianSlim().npmInstall("is-number@7.0.0") });
export const check = app.function().webEndpoint(({ query }) => ({ isNumber: isNumber((query as { x?: string }).x) }));
`;

test("npmInstall packages are installed once, kept external, and resolved from the image", async (t) => {
  const platform = await startPlatform(t);
  const first = tempApp(t, "first.ts", source("image-one"));
  const bundle = await bundleApp(first);
  const code = Buffer.from(bundle.code).toString("utf8");
  assert.match(code, /from "is-number"/);
  assert.deepEqual(bundle.manifest.functions[0]!.image.steps, [{ kind: "npm", packages: ["is-number@7.0.0"] }]);

  const progress: string[] = [];
  const url = platform.url(await platform.deploy(first, { progress: (line) => progress.push(line) }), "check");
  assert.ok(progress.some((line) => line.includes("npm install is-number@7.0.0")), progress.join("\n"));
  assert.deepEqual(await (await request(`${url}?x=42`)).json(), { isNumber: true });
  assert.deepEqual(await (await request(`${url}?x=forty`)).json(), { isNumber: false });

  const images = readdirSync(join(platform.home, "images")).filter((name) => !name.endsWith(".tmp"));
  assert.equal(images.length, 1);
  assert.ok(existsSync(join(platform.home, "images", images[0]!, "node_modules", "is-number", "package.json")));

  // The same spec in another app is the same image: no second build.
  const again: string[] = [];
  const second = tempApp(t, "second.ts", source("image-two"));
  const url2 = platform.url(await platform.deploy(second, { progress: (line) => again.push(line) }), "check");
  assert.ok(!again.some((line) => line.includes("npm install")), again.join("\n"));
  assert.deepEqual(await (await request(`${url2}?x=7`)).json(), { isNumber: true });
});
