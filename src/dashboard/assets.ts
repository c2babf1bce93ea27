/**
 * The dashboard's static files, served by berth itself (the server may
 * have no internet, so nothing comes from a CDN): its stylesheet, its
 * client script (src/dashboard/client.ts, compiled into dist/ by the
 * build like the agent) and uPlot, the charting library, from its npm
 * package. Each is read once, gzipped once, and served under a name that
 * carries its content hash, so browsers may keep it forever.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { gzipSync } from "node:zlib";
import { DASHBOARD_CLIENT } from "../paths.js";
import { STYLE } from "./style.js";

export interface Asset {
  /** `/assets/<name>.<hash>.<ext>` */
  url: string;
  type: string;
  body: Buffer;
  gzip: Buffer;
  /** Served without a session: what the sign-in page needs. */
  public: boolean;
}

export interface Assets {
  style: Asset;
  client: Asset;
  uplot: Asset;
  uplotStyle: Asset;
  byUrl: Map<string, Asset>;
}

let loaded: Assets | undefined;

/** The assets, read on first use. */
export function assets(): Assets {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const uplotDir = `${require.resolve("uplot/package.json").slice(0, -"package.json".length)}dist/`;
  const style = asset("style", "css", Buffer.from(STYLE), true);
  // Without the build's source map comment: the map is not served.
  const client = asset("client", "js", Buffer.from(readFileSync(DASHBOARD_CLIENT, "utf8").replace(/\n\/\/# sourceMappingURL=.*\s*$/, "\n")), false);
  const uplot = asset("uplot", "js", readFileSync(`${uplotDir}uPlot.iife.min.js`), false);
  const uplotStyle = asset("uplot", "css", readFileSync(`${uplotDir}uPlot.min.css`), false);
  const byUrl = new Map([style, client, uplot, uplotStyle].map((a) => [a.url, a]));
  loaded = { style, client, uplot, uplotStyle, byUrl };
  return loaded;
}

function asset(name: string, ext: "css" | "js", body: Buffer, isPublic: boolean): Asset {
  const hash = createHash("sha256").update(body).digest("hex").slice(0, 12);
  return {
    url: `/assets/${name}.${hash}.${ext}`,
    type: ext === "css" ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8",
    body,
    gzip: gzipSync(body, { level: 9 }),
    public: isPublic,
  };
}
