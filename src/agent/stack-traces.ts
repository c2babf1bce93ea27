/**
 * Stack traces in the user's own files: a frame in the bundle
 * (`…/run/<hash>/app.mjs:872:25`) is shown where it came from
 * (`examples/app.ts:12:11`), through the source map the bundler inlines at
 * the end of the bundle; a frame in the image's packages is shown relative
 * to the container's directory (`node_modules/hono/dist/…`); the agent's own
 * frames are left out. The message line is the error's own, once.
 *
 * Nothing is paid at start-up: the bundler inlines the map at the end of
 * the bundle, the platform moves it beside the bundle (`splitSourceMap`,
 * `app.mjs.map`) so importing the bundle does not even read it, and it is
 * read and parsed the first time a stack that passes through the bundle is
 * formatted, once per container. Node's `--enable-source-maps` parses it
 * on every import instead: +19 ms of CPU per cold start of a 780 KiB
 * bundle (`npx tsx bench/app-logs.ts`).
 */
import { existsSync, readFileSync } from "node:fs";
import { SourceMap, type SourceMapPayload } from "node:module";
import { pathToFileURL } from "node:url";

const INLINE_MAP = "//# sourceMappingURL=data:application/json;base64,";

/**
 * A bundle with its inline source map (the last line, as esbuild writes it)
 * taken off: the code to import, and the map to write beside it as
 * `<bundle>.map`. A bundle without one is returned as it is.
 */
export function splitSourceMap(bundle: Buffer): { code: Buffer; map: Buffer | undefined } {
  const tail = bundle.subarray(Math.max(0, bundle.lastIndexOf("\n", bundle.length - 2) + 1));
  if (!tail.subarray(0, INLINE_MAP.length).equals(Buffer.from(INLINE_MAP))) return { code: bundle, map: undefined };
  const map = Buffer.from(tail.subarray(INLINE_MAP.length).toString("latin1").trim(), "base64");
  return { code: bundle.subarray(0, bundle.length - tail.length), map };
}

/**
 * The agent itself: one bundled file (dist/agent.mjs, mounted at
 * /berth/agent.mjs in a sandbox), its dependencies included. Its frames are
 * the platform's, not the user's.
 */
const AGENT_FILE = import.meta.url;

/** Formats every stack from now on as described above; call before the bundle is imported. */
export function mapStackTraces(bundlePath: string, containerDir: string): void {
  const bundleUrl = pathToFileURL(bundlePath).href;
  const dirUrl = `${pathToFileURL(containerDir).href}/`;
  let map: SourceMap | null | undefined;
  const origin = (line: number, column: number): string | undefined => {
    if (map === undefined) map = readSourceMap(bundlePath);
    const found = map?.findOrigin(line, column);
    return found && "fileName" in found ? `${found.fileName}:${found.lineNumber}:${found.columnNumber}` : undefined;
  };
  Error.prepareStackTrace = (error: unknown, frames: NodeJS.CallSite[]): string => {
    let stack = headerOf(error);
    for (const frame of frames) {
      const file = frame.getFileName() ?? frame.getScriptNameOrSourceURL();
      let text = frame.toString();
      if (file === bundleUrl) {
        const line = frame.getLineNumber();
        const column = frame.getColumnNumber();
        const mapped = line !== null && column !== null ? origin(line, column) : undefined;
        text = mapped ? text.replace(`${file}:${line}:${column}`, mapped) : text.replace(dirUrl, "");
      } else if (file?.startsWith(dirUrl)) {
        text = text.replace(dirUrl, "");
      } else if (file === AGENT_FILE) {
        continue;
      }
      stack += `\n    at ${text}`;
    }
    return stack;
  };
}

/** The first line of a stack, as V8 writes it: `Name: message`. */
function headerOf(error: unknown): string {
  try {
    return typeof error === "object" && error !== null ? Error.prototype.toString.call(error) : String(error);
  } catch {
    return "Error";
  }
}

/** The map beside the bundle, else the one still inline in it, else none. */
function readSourceMap(bundlePath: string): SourceMap | null {
  try {
    if (existsSync(`${bundlePath}.map`)) return new SourceMap(JSON.parse(readFileSync(`${bundlePath}.map`, "utf8")) as SourceMapPayload);
    const { map } = splitSourceMap(readFileSync(bundlePath));
    return map ? new SourceMap(JSON.parse(map.toString("utf8")) as SourceMapPayload) : null;
  } catch {
    return null;
  }
}
