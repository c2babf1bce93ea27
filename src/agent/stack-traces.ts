/**
 * Stack traces in the user's own files: a frame in the bundle
 * (`…/run/<hash>/app.mjs:872:25`) is shown where it came from
 * (`examples/app.ts:12:11`), through the source map the bundler inlines at
 * the end of the bundle; a frame in the image's packages is shown relative
 * to the container's directory (`node_modules/hono/dist/…`); the agent's own
 * frames are left out. The message line is the error's own, once.
 *
 * Nothing is paid at start-up: Node's `--enable-source-maps` parses the map
 * when the bundle is imported (~15-20 ms on every cold start of a 800 KiB
 * bundle), while here it is read and parsed the first time a stack that
 * passes through the bundle is formatted, once per container.
 */
import { readFileSync } from "node:fs";
import { SourceMap, type SourceMapPayload } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const INLINE_MAP = "//# sourceMappingURL=data:application/json;base64,";

/** The berth installation the agent runs from: its frames are the platform's, not the user's. */
const PLATFORM_ROOT = `${pathToFileURL(resolve(dirname(fileURLToPath(import.meta.url)), "..", "..")).href}/`;

/** Formats every stack from now on as described above; call before the bundle is imported. */
export function mapStackTraces(bundlePath: string, containerDir: string): void {
  const bundleUrl = pathToFileURL(bundlePath).href;
  const dirUrl = `${pathToFileURL(containerDir).href}/`;
  let map: SourceMap | null | undefined;
  const origin = (line: number, column: number): string | undefined => {
    if (map === undefined) map = readInlineMap(bundlePath);
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
      } else if (file?.startsWith(PLATFORM_ROOT)) {
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

function readInlineMap(bundlePath: string): SourceMap | null {
  try {
    const text = readFileSync(bundlePath, "utf8");
    const at = text.lastIndexOf(INLINE_MAP);
    if (at === -1) return null;
    return new SourceMap(JSON.parse(Buffer.from(text.slice(at + INLINE_MAP.length).trim(), "base64").toString("utf8")) as SourceMapPayload);
  } catch {
    return null;
  }
}
