/**
 * The `berth` command end to end: `serve` with live reload, `server` +
 * `deploy` surviving a kill -9, and `app list|stop`, all through the real
 * binary and real HTTP.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";
import { berth, tempHome } from "./support/cli.js";
import { REPO, request, tempApp } from "./support/platform.js";

const app = (answer: string) => `
import { App } from "berthjs";
const app = new App("reload-demo");
export const answer = app.function().webEndpoint(async () => {
  await new Promise((resolve) => setTimeout(resolve, 20));
  return ${JSON.stringify(answer)};
});
`;

async function text(url: string): Promise<string> {
  const response = await request(url);
  assert.equal(response.status, 200, `status of ${url}`);
  return (await response.json()) as string;
}

test("serve: prints -dev URLs, reloads on change without failing a request, keeps the last good version on errors", async (t) => {
  const file = tempApp(t, "app.ts", app("one"));
  const cli = berth(t, ["serve", file, "--port", "0"], { BERTH_HOME: tempHome(t) });
  const [, url] = await cli.waitFor(/answer\s+(http:\/\/local--reload-demo-answer-dev\.localhost:\d+\/)/);
  assert.equal(await text(url!), "one");

  // Requests keep flowing while the code changes under them: none may fail.
  let stop = false;
  const answers: string[] = [];
  const load = (async () => {
    for (let i = 0; i < 2000 && !stop; i += 1) answers.push(await text(url!));
  })();
  writeFileSync(file, app("two"));
  await cli.waitFor(/Reloaded \(version 2\)/);
  for (let i = 0; i < 100 && answers.at(-1) !== "two"; i += 1) await new Promise((r) => setTimeout(r, 50));
  stop = true;
  await load;
  assert.equal(answers.at(-1), "two");
  assert.ok(answers.every((a) => a === "one" || a === "two"));

  writeFileSync(file, `${app("three")}\nexport const broken = ;\n`);
  await cli.waitFor(/✗ .*app\.ts:\d+:\d+: error/);
  assert.equal(await text(url!), "two");

  // A type error does not hold the reload back (--typecheck=warn): it is served, and reported when the check ends.
  let mark = cli.output().length;
  writeFileSync(file, `${app("four")}\nexport const typed: number = "not a number";\n`);
  await cli.waitFor(/Reloaded \(version 3\)/, 30_000, mark);
  assert.equal(await text(url!), "four");
  await cli.waitFor(/⚠ Type errors[^\n]*\n.*app\.ts\(\d+,\d+\): error TS2322/, 120_000, mark);

  mark = cli.output().length;
  writeFileSync(file, app("five"));
  await cli.waitFor(/Reloaded \(version 4\)/, 30_000, mark);
  assert.equal(await text(url!), "five");
  await cli.waitFor(/✓ No type errors/, 120_000, mark);

  cli.child.kill("SIGINT");
  assert.equal(await cli.exited, 0);
});

test("serve --typecheck=block: a type error keeps the last good version serving", async (t) => {
  const file = tempApp(t, "app.ts", app("one"));
  const cli = berth(t, ["serve", file, "--port", "0", "--typecheck=block"], { BERTH_HOME: tempHome(t) });
  const [, url] = await cli.waitFor(/answer\s+(http:\/\/local--reload-demo-answer-dev\.localhost:\d+\/)/, 120_000);
  assert.equal(await text(url!), "one");
  writeFileSync(file, `${app("two")}\nexport const typed: number = "not a number";\n`);
  await cli.waitFor(/✗ type errors:[\s\S]*TS2322[\s\S]*still serving the last good version/, 120_000);
  assert.equal(await text(url!), "one");
  writeFileSync(file, app("three"));
  await cli.waitFor(/Reloaded \(version 2\)/, 120_000);
  assert.equal(await text(url!), "three");
  cli.child.kill("SIGINT");
  assert.equal(await cli.exited, 0);
});

test("serve and deploy: a file that is not there fails at once, in one line", async (t) => {
  for (const verb of ["serve", "deploy"]) {
    const cli = berth(t, [verb, "nope.ts"], { BERTH_HOME: tempHome(t) });
    assert.equal(await cli.exited, 1);
    assert.equal(cli.output(), "berth: nope.ts: no such file (give the app's TypeScript file, e.g. berth serve app.ts)\n");
  }
  const bad = berth(t, ["serve", "examples/hello.ts", "--typecheck=sometimes"], { BERTH_HOME: tempHome(t) });
  assert.equal(await bad.exited, 1);
  assert.match(bad.output(), /--typecheck takes off, warn or block, not "sometimes"/);
});

test("serve waits for a missing secret and starts serving once `berth secret create` makes it", async (t) => {
  const file = tempApp(
    t,
    "app.ts",
    `import { App, Secret } from "berthjs";
const app = new App("later-secret");
export const f = app.function({ secrets: [Secret.fromName("made-later", { requiredKeys: ["GREETING"] })] }).webEndpoint(() => process.env.GREETING);
`,
  );
  const home = tempHome(t);
  const cli = berth(t, ["serve", file, "--port", "0"], { BERTH_HOME: home });
  await cli.waitFor(/names secret "made-later", which does not exist[\s\S]*waiting for secret "made-later"/, 120_000);
  const mark = cli.output().length;
  // A key the function does not require is not enough: it keeps waiting.
  const partial = berth(t, ["secret", "create", "made-later", "OTHER=x", "--home", home], { BERTH_HOME: home });
  assert.equal(await partial.exited, 0, partial.output());
  await cli.waitFor(/lacks required key\(s\) GREETING[\s\S]*waiting for secret "made-later" to have GREETING/, 30_000, mark);
  const create = berth(t, ["secret", "create", "made-later", "GREETING=hello-from-a-secret", "--home", home], { BERTH_HOME: home });
  assert.equal(await create.exited, 0, create.output());
  const [, url] = await cli.waitFor(/f\s+(http:\/\/local--later-secret-f-dev\.localhost:\d+\/)/, 30_000, mark);
  assert.equal(await text(url!), "hello-from-a-secret");
  cli.child.kill("SIGINT");
  assert.equal(await cli.exited, 0);
});

test("serve: a file that defines no App is a clear error", async (t) => {
  const file = tempApp(t, "empty.ts", `export const x = 1;\n`);
  const cli = berth(t, ["serve", file, "--port", "0"], { BERTH_HOME: tempHome(t) });
  await cli.waitFor(/✗ the file exports no berth functions/);
  cli.child.kill("SIGINT");
  await cli.exited;
});

test("deploy with no server fails in one line that says how to start one", async (t) => {
  const cli = berth(t, ["deploy", "examples/hello.ts", "--server", "http://127.0.0.1:9"], { BERTH_HOME: tempHome(t) });
  assert.equal(await cli.exited, 1);
  const lines = cli.output().trim().split("\n");
  assert.equal(lines.length, 1, cli.output());
  assert.match(lines[0]!, /no berth server reachable at http:\/\/127\.0\.0\.1:9.*npx berth server/);
});

test("server + deploy: URLs survive kill -9 and restart; serve apps on a server are removed on Ctrl-C", async (t) => {
  const home = tempHome(t);
  const first = berth(t, ["server", "--port", "0"], { BERTH_HOME: home });
  const [, port] = await first.waitFor(/listening on http:\/\/localhost:(\d+)/);
  const server = `http://127.0.0.1:${port}`;

  const deploy = berth(t, ["deploy", "examples/hello.ts", "--server", server], { BERTH_HOME: home });
  assert.equal(await deploy.exited, 0, deploy.output());
  const [, url] = deploy.output().match(/f\s+(http:\/\/\S+)/)!;
  assert.match(url!, /^http:\/\/local--hello-f\.localhost:\d+\/$/);
  assert.equal(await text(url!), "Hello world!");

  process.kill(-first.child.pid!, "SIGKILL");
  await first.exited;
  const second = berth(t, ["server", "--port", port!], { BERTH_HOME: home });
  await second.waitFor(/listening on/);
  assert.equal(await text(url!), "Hello world!");

  const list = berth(t, ["app", "list", "--server", server], { BERTH_HOME: home });
  assert.equal(await list.exited, 0);
  assert.match(list.output(), /hello\s+deployed\s+v1/);

  // Serving the deployed app's own file makes a separate -dev app; Ctrl-C removes only that one.
  const serve = berth(t, ["serve", "examples/hello.ts", "--server", server], { BERTH_HOME: home });
  const [, devUrl] = await serve.waitFor(/f\s+(http:\/\/local--hello-f-dev\.localhost:\d+\/)/);
  assert.equal(await text(devUrl!), "Hello world!");
  serve.child.kill("SIGINT");
  assert.equal(await serve.exited, 0);
  assert.equal((await request(devUrl!)).status, 404);
  assert.equal(await text(url!), "Hello world!");

  const stop = berth(t, ["app", "stop", "hello", "--server", server], { BERTH_HOME: home });
  assert.equal(await stop.exited, 0);
  assert.equal((await request(url!)).status, 404);
});

test("a state directory that cannot be made fails in one line, for server and serve alike", async (t) => {
  for (const args of [["server", "--port", "0"], ["serve", "examples/hello.ts", "--port", "0", "--typecheck", "off"]]) {
    const run = berth(t, [...args, "--runtime", "process", "--home", "/proc/no-such-process/berth"]);
    assert.equal(await run.exited, 1, run.output());
    assert.equal(run.output().trim().split("\n").at(-1), "berth: cannot use /proc/no-such-process/berth as the state directory: no such file or directory (ENOENT)");
  }
});

test("init: a project from the template; a directory with files, a name that cannot be a URL label or a directory that cannot be made is refused", async (t) => {
  const parent = tempHome(t);
  const made = berth(t, ["init", join(parent, "shop-api")], { BERTH_HOME: tempHome(t) });
  assert.equal(await made.exited, 0, made.output());
  assert.match(made.output(), /✓ Created .*shop-api[\s\S]*npm install\n {2}npx berth serve src\/app\.ts/);
  const manifest = JSON.parse(readFileSync(join(parent, "shop-api", "package.json"), "utf8")) as {
    name: string;
    dependencies: Record<string, string>;
    allowScripts: Record<string, boolean>;
  };
  assert.equal(manifest.name, "shop-api");
  // From a checkout (this repository) the project links the checkout and approves its build; test/package.test.ts covers an installed berth.
  assert.equal(manifest.dependencies.berthjs, `file:${relative(join(parent, "shop-api"), REPO)}`);
  assert.equal(manifest.allowScripts[manifest.dependencies.berthjs], true);
  assert.match(made.output(), /berthjs comes from this checkout \(file:/);
  assert.match(readFileSync(join(parent, "shop-api", "src", "app.ts"), "utf8"), /new App\("shop-api"\)/);
  assert.deepEqual(readdirSync(join(parent, "shop-api")).sort(), [".gitignore", "README.md", "package.json", "src", "test", "tsconfig.json"]);

  const again = berth(t, ["init", join(parent, "shop-api")], { BERTH_HOME: tempHome(t) });
  assert.equal(await again.exited, 1);
  assert.match(again.output(), /shop-api already exists and is not empty: choose a new directory/);
  const bad = berth(t, ["init", join(parent, "Shop_API!")], { BERTH_HOME: tempHome(t) });
  assert.equal(await bad.exited, 1);
  assert.match(bad.output(), /"Shop_API!" cannot name an app: use letters, digits and "-"/);
  const empty = berth(t, ["init", ""], { BERTH_HOME: tempHome(t) });
  assert.equal(await empty.exited, 1);
  assert.match(empty.output(), /name the new project's directory/);
  // Node's own recursive mkdir retries forever here; init must fail, in one line.
  const impossible = berth(t, ["init", "/proc/no-such-process/my-app"], { BERTH_HOME: tempHome(t) });
  assert.equal(await impossible.exited, 1);
  assert.equal(impossible.output(), "berth: cannot create /proc/no-such-process/my-app: ENOENT: no such file or directory, mkdir '/proc/no-such-process'\n");
});
