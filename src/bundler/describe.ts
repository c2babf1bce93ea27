/**
 * Runs in a short-lived child process: imports a probe bundle and prints the
 * app manifest as one line of JSON. A child, because importing user code
 * runs it (timers, servers, globals) and an ES module cannot be unloaded;
 * each live reload gets a clean process.
 */
import { pathToFileURL } from "node:url";
import { messageOf, systemCode } from "../errors/codes.js";
import { isFunctionDefinition, type AppManifest, type DescribeContext, type FunctionManifest } from "../sdk/contract.js";

export type DescribeResult = { ok: true; manifest: AppManifest } | { ok: false; error: string };

/** `context.appDir`: the app file's directory, where relative `Secret.fromDotenv` paths start. */
export async function describeModule(path: string, context: DescribeContext): Promise<DescribeResult> {
  let module: Record<string, unknown>;
  try {
    module = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    if (systemCode(error) === "ERR_MODULE_NOT_FOUND") {
      const name = /Cannot find (?:package|module) '([^']+)'/.exec(messageOf(error))?.[1] ?? "a package";
      return {
        ok: false,
        error:
          `importing the app failed: ${name} is not installed here. berth imports your file to find its functions, ` +
          `so packages imported at the top level must be installed locally too (npm install), or imported inside the handler with await import().`,
      };
    }
    return { ok: false, error: `importing the app failed: ${(error instanceof Error && error.stack) || messageOf(error)}` };
  }
  const functions: FunctionManifest[] = [];
  const appNames = new Set<string>();
  for (const [name, value] of Object.entries(module)) {
    if (!isFunctionDefinition(value)) continue;
    try {
      functions.push(value.describe(name, context));
    } catch (error) {
      // A name outside the grammar (an export named `$handler`): said in one line, like any definition error.
      return { ok: false, error: `export ${name}: ${messageOf(error)}` };
    }
    appNames.add(value.appName);
  }
  if (functions.length === 0) {
    return {
      ok: false,
      error:
        "the file exports no berth functions: create an App and export its functions, e.g.\n" +
        '  const app = new App("my-app");\n  export const hello = app.function().webEndpoint(() => "Hello world!");',
    };
  }
  if (appNames.size > 1) {
    return { ok: false, error: `the file exports functions of several apps (${[...appNames].join(", ")}); deploy one app per file` };
  }
  return { ok: true, manifest: { name: [...appNames][0]!, functions } };
}

const [target, appDir] = process.argv.slice(2);
if (target && appDir && process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await describeModule(target, { appDir });
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
}
