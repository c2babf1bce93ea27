/**
 * berth as a user gets it: `npm pack`, then, in a fresh project in a
 * temporary directory outside the repository, the whole path of the README:
 * install the tarball, `npx berth init my-app`, `npm install`, the
 * template's own type check and test, `npx berth serve` and a real request,
 * then `npx berth deploy` to a real `npx berth server` and a request to the
 * deployed URL. The published types are compiled there too, in a project
 * without @types/node. `npm install`'s output must not warn about engines.
 *
 * A second test is the README's path to your own project, from a checkout of the
 * repository (berthjs is not on the registry yet): `npx berth init` in the
 * checkout, `npm install` in the project (which links the checkout), its
 * test, `npx berth serve` and a request.
 *
 * The npm registry is reachable (CI and here), and npm's cache already holds
 * what the repository installed, so installs prefer it. better-sqlite3
 * normally downloads a prebuilt binary from GitHub, which this machine
 * cannot reach; it is handed the one this checkout built, as a local
 * prebuild (`.prebuild-installrc` in the temporary directory: its install
 * script is the same, only the source differs), which saves compiling
 * SQLite on every run (minutes on a busy 2-core machine).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { spawnCli } from "./support/cli.js";
import { REPO, request } from "./support/platform.js";

const NPM = "npm";
const NPX = "npx";

interface Run {
  stdout: string;
  /** stdout, then stderr. */
  output: string;
  ms: number;
}

/** Runs a command to its end; fails the test with its output if it fails. */
function run(command: string, args: string[], cwd: string, env: Record<string, string>, timeoutMs = 300_000): Run {
  const started = performance.now();
  const result = spawnSync(command, args, { cwd, env: childEnv(env), encoding: "utf8", timeout: timeoutMs });
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}`;
  assert.equal(result.status, 0, `${command} ${args.join(" ")} failed (${result.error?.message ?? `exit ${result.status}`}):\n${output}`);
  return { stdout: result.stdout ?? "", output, ms: performance.now() - started };
}

/** This process's environment and `env`, without the test runner's marker (with it, the project's own `node --test` would not run). */
function childEnv(env: Record<string, string>): Record<string, string | undefined> {
  const { NODE_TEST_CONTEXT: _marker, ...rest } = process.env;
  return { ...rest, ...env };
}

/** better-sqlite3's prebuilt binary as prebuild-install names and packs it, made from the one this checkout compiled. */
function localPrebuild(dir: string): string {
  const module = join(REPO, "node_modules", "better-sqlite3");
  const { version } = JSON.parse(readFileSync(join(module, "package.json"), "utf8")) as { version: string };
  const stage = join(dir, "stage");
  mkdirSync(join(stage, "build", "Release"), { recursive: true });
  writeFileSync(join(stage, "build", "Release", "better_sqlite3.node"), readFileSync(join(module, "build", "Release", "better_sqlite3.node")));
  const prebuilds = join(dir, "prebuilds");
  mkdirSync(prebuilds);
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  run("tar", ["czf", join(prebuilds, name), "-C", stage, "build"], dir, {});
  return prebuilds;
}

function assertNoEngineWarnings(install: Run, where: string): void {
  assert.doesNotMatch(install.output, /EBADENGINE|Unsupported engine/i, `${where}: npm install warned about engines:\n${install.output}`);
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const response = await request(url);
  return { status: response.status, body: await response.text() };
}

/** Sends SIGINT (what Ctrl-C sends) to the process group and waits for the exit; the helper's cleanup kills it otherwise. */
async function interrupt(child: ReturnType<typeof spawnCli>): Promise<void> {
  try {
    process.kill(-child.child.pid!, "SIGINT");
  } catch {}
  await Promise.race([child.exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
}

test("npm pack → a fresh project: berth init, npm install, its test, serve and a request, deploy to a berth server", { timeout: 900_000 }, async (t: TestContext) => {
  const phases: Record<string, number> = {};
  const started = performance.now();
  const work = realpathSync(mkdtempSync(join(tmpdir(), "berth-package-")));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  assert.ok(!work.startsWith(REPO), "the project is outside the repository");
  assert.ok(existsSync(join(REPO, "dist", "sdk", "index.d.ts")), "dist/ is built (npm run build)");

  // The tarball: compiled JavaScript, types, the CLI, the template; no sources or tests.
  const pack = run(NPM, ["pack", "--ignore-scripts", "--json", "--pack-destination", work], REPO, {});
  phases.pack = pack.ms;
  const [packed] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
  const files = packed!.files.map((file) => file.path);
  for (const expected of ["bin/berth.js", "dist/cli/main.js", "dist/sdk/index.js", "dist/sdk/index.d.ts", "dist/client/index.js", "dist/client/index.d.ts", "templates/app/src/app.ts", "templates/app/gitignore"]) {
    assert.ok(files.includes(expected), `the package has ${expected}`);
  }
  assert.ok(!files.some((file) => file.startsWith("src/") || file.startsWith("test/") || file.startsWith("node_modules/")), "no sources, tests or dependencies");
  const tarball = join(work, packed!.filename);

  // prebuild-install looks for this file from the package's directory up, so every install below finds it.
  writeFileSync(join(work, ".prebuild-installrc"), `local-prebuilds=${localPrebuild(work)}\n`);
  const env = {
    BERTH_HOME: join(work, "home"),
    NO_COLOR: "1",
    npm_config_audit: "false",
    npm_config_fund: "false",
    npm_config_update_notifier: "false",
    npm_config_prefer_offline: "true",
  };

  // A project that has only berth installed runs `npx berth init`.
  const outer = join(work, "outer");
  mkdirSync(outer);
  writeFileSync(join(outer, "package.json"), JSON.stringify({ private: true, allowScripts: { "better-sqlite3": true, esbuild: true } }));
  const first = run(NPM, ["install", tarball], outer, env);
  phases["npm install berthjs"] = first.ms;
  assertNoEngineWarnings(first, "installing the tarball");
  const version = run(NPX, ["berth", "--version"], outer, env);
  assert.equal(version.stdout.trim(), JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).version);
  const init = run(NPX, ["berth", "init", "my-app"], outer, env);
  assert.match(init.output, /npx berth serve src\/app\.ts/);
  const app = join(outer, "my-app");
  for (const file of ["package.json", "tsconfig.json", "src/app.ts", "test/app.test.ts", ".gitignore", "README.md"]) assert.ok(existsSync(join(app, file)), file);
  const manifest = JSON.parse(readFileSync(join(app, "package.json"), "utf8")) as { name: string; dependencies: Record<string, string> };
  assert.equal(manifest.name, "my-app");
  assert.match(manifest.dependencies.berthjs!, /^\^\d+\.\d+\.\d+$/);
  const tsconfig = readFileSync(join(app, "tsconfig.json"), "utf8");
  assert.match(tsconfig, /"exactOptionalPropertyTypes": true/);

  // What the registry would serve for `berthjs@^x.y.z` is this tarball: it is not published.
  run(NPM, ["pkg", "set", `dependencies.berthjs=file:${tarball}`], app, env);
  const install = run(NPM, ["install"], app, env);
  phases["npm install (my-app)"] = install.ms;
  assertNoEngineWarnings(install, "my-app");

  // The template type-checks under its strict settings and its test passes.
  phases.typecheck = run(NPM, ["run", "typecheck"], app, env).ms;
  const tested = run(NPM, ["test"], app, env);
  phases["npm test (my-app)"] = tested.ms;
  assert.match(tested.output, /# pass 3/);

  // The published types in a project without @types/node, strictest settings, every .d.ts checked.
  const bare = join(app, "bare");
  mkdirSync(bare);
  writeFileSync(
    join(bare, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", lib: ["ES2023", "DOM", "DOM.Iterable"], types: [],
        strict: true, exactOptionalPropertyTypes: true, noUncheckedIndexedAccess: true, skipLibCheck: false, skipDefaultLibCheck: true, noEmit: true,
      },
      include: ["*.ts"],
    }),
  );
  writeFileSync(
    join(bare, "app.ts"),
    'import { App, Secret } from "berthjs";\nimport { z } from "zod";\nconst app = new App("bare", { secrets: [Secret.fromDotenv()] });\n' +
      'export const square = app.function({ timeout: 30 }).webEndpoint({ query: z.object({ x: z.coerce.number() }) }, ({ query }) => ({ square: query.x ** 2 }));\n',
  );
  writeFileSync(
    join(bare, "call.ts"),
    'import { endpoint } from "berthjs/client";\nexport const n: Promise<{ square: number }> = endpoint<typeof import("./app.js").square>("http://x/").get({ x: 4 });\n',
  );
  phases["tsc without @types/node"] = run(NPX, ["tsc", "-p", bare], app, env).ms;

  // `npx berth serve`: the URL, then a real request.
  const serveStarted = performance.now();
  const serve = spawnCli(t, NPX, ["berth", "serve", "src/app.ts", "--port", "0"], { cwd: app, env });
  const [squareUrl] = await serve.waitFor(/http:\/\/local--my-app-square-dev\.localhost:\d+\//, 180_000);
  phases["serve → URL"] = performance.now() - serveStarted;
  const served = await get(`${squareUrl}?x=12`);
  phases["serve → first 200"] = performance.now() - serveStarted;
  assert.deepEqual(served, { status: 200, body: '{"square":144}' });
  await serve.waitFor(/No type errors/, 120_000);
  await interrupt(serve);

  // `npx berth server`, then `npx berth deploy` to it: the deployed URL answers.
  const server = spawnCli(t, NPX, ["berth", "server", "--port", "0"], { cwd: app, env });
  const [, serverUrl] = await server.waitFor(/listening on (http:\/\/localhost:\d+)/, 120_000);
  const deployed = run(NPX, ["berth", "deploy", "src/app.ts", "--server", serverUrl!], app, env);
  phases.deploy = deployed.ms;
  const deployedUrl = /http:\/\/local--my-app-square\.localhost:\d+\//.exec(deployed.output)?.[0];
  assert.ok(deployedUrl, `deploy printed the URL:\n${deployed.output}`);
  assert.deepEqual(await get(`${deployedUrl}?x=3`), { status: 200, body: '{"square":9}' });
  const list = run(NPX, ["berth", "app", "list", "--server", serverUrl!], app, env);
  assert.match(list.stdout, /my-app\s+deployed\s+v1/);
  await interrupt(server);

  phases.total = performance.now() - started;
  t.diagnostic(Object.entries(phases).map(([phase, ms]) => `${phase}: ${(ms / 1000).toFixed(1)} s`).join("; "));
});

test("from a checkout, as the README says for your own project: berth init, npm install (the checkout linked), its test, serve and a request", { timeout: 600_000 }, async (t: TestContext) => {
  const phases: Record<string, number> = {};
  const work = realpathSync(mkdtempSync(join(tmpdir(), "berth-checkout-")));
  t.after(() => rmSync(work, { recursive: true, force: true }));
  const env = {
    BERTH_HOME: join(work, "home"),
    NO_COLOR: "1",
    npm_config_audit: "false",
    npm_config_fund: "false",
    npm_config_update_notifier: "false",
    npm_config_prefer_offline: "true",
  };
  const app = join(work, "my-app");
  const init = run(NPX, ["berth", "init", app], REPO, env);
  assert.match(init.output, /berthjs comes from this checkout/);
  const manifest = JSON.parse(readFileSync(join(app, "package.json"), "utf8")) as { dependencies: Record<string, string>; allowScripts: Record<string, boolean> };
  const spec = manifest.dependencies.berthjs!;
  assert.match(spec, /^file:/);
  assert.equal(manifest.allowScripts[spec], true, "the checkout's build is approved, so npm 11 does not warn about it");

  // Scripts off for this install only: the checkout's `prepare` would rebuild dist/ under the other test files running from it.
  const install = run(NPM, ["install", "--ignore-scripts"], app, env);
  phases["npm install"] = install.ms;
  assertNoEngineWarnings(install, "my-app from a checkout");
  assert.equal(realpathSync(join(app, "node_modules", "berthjs")), realpathSync(REPO), "berthjs is the checkout, linked");
  const tested = run(NPM, ["test"], app, env);
  phases["npm test"] = tested.ms;
  assert.match(tested.output, /# pass 3/);

  const serveStarted = performance.now();
  const serve = spawnCli(t, NPX, ["berth", "serve", "src/app.ts", "--port", "0", "--typecheck", "off"], { cwd: app, env });
  const [squareUrl] = await serve.waitFor(/http:\/\/local--my-app-square-dev\.localhost:\d+\//, 180_000);
  assert.deepEqual(await get(`${squareUrl}?x=42`), { status: 200, body: '{"square":1764}' });
  phases["serve → first 200"] = performance.now() - serveStarted;
  await interrupt(serve);
  t.diagnostic(Object.entries(phases).map(([phase, ms]) => `${phase}: ${(ms / 1000).toFixed(1)} s`).join("; "));
});
