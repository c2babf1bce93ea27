// The bundler's answers to an app's mistakes, through the real esbuild pass.
import assert from "node:assert/strict";
import { test } from "node:test";
import { bundleApp } from "../src/bundler/bundle.js";
import { tempApp } from "./support/platform.js";

test('an app importing "berth" (not "berthjs") is refused naming the right package', async (t) => {
  const app = tempApp(t, "typo.ts", `import { App } from "berth";\nconst app = new App("typo");\nexport const f = app.function().webEndpoint(() => 1);\n`);
  await assert.rejects(bundleApp(app), /There is no package "berth": berth's SDK is "berthjs"/);
  const client = tempApp(t, "client.ts", `import { connect } from "berth/client";\nimport { App } from "berthjs";\nconst app = new App("c");\nexport const f = app.function().webEndpoint(() => String(connect));\n`);
  await assert.rejects(bundleApp(client), /There is no package "berth\/client"/);
});
