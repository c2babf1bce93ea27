/**
 * Who this node is to the others: its id, kept in `<home>/node-id` so a
 * node that restarts (even after `kill -9`) rejoins as itself, and the URL
 * the other nodes reach its gateway at.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { NODE_ID_PATTERN } from "../cluster/membership.js";
import { BerthError } from "../errors/codes.js";

/** `--node-id`, else the id saved in the state directory, else a new one (`<host name>-<6 hex>`) saved there. */
export function nodeIdFor(home: string, chosen?: string): string {
  if (chosen !== undefined) {
    if (!NODE_ID_PATTERN.test(chosen)) throw new BerthError("invalid_input", `--node-id "${chosen}" is not valid: use 1-40 lowercase letters, digits and dashes`);
    return chosen;
  }
  const file = join(home, "node-id");
  if (existsSync(file)) {
    const saved = readFileSync(file, "utf8").trim();
    if (NODE_ID_PATTERN.test(saved)) return saved;
  }
  const host = hostname().toLowerCase().replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 30) || "node";
  const id = `${host}-${randomBytes(3).toString("hex")}`;
  writeFileSync(file, `${id}\n`);
  return id;
}

/** `--advertise-url`, else the bound address and port (the host name when bound to every address), over `scheme` (https with --tls). */
export function advertiseUrlFor(host: string, port: number, chosen?: string, scheme: "http" | "https" = "http"): string {
  if (chosen !== undefined) {
    let url: URL;
    try {
      url = new URL(chosen);
    } catch {
      throw new BerthError("invalid_input", `--advertise-url "${chosen}" is not a URL: use http://<address>:<port>`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new BerthError("invalid_input", "--advertise-url must be an http:// or https:// URL");
    return url.origin;
  }
  const name = host === "0.0.0.0" || host === "::" ? hostname() : host;
  return `${scheme}://${name.includes(":") ? `[${name}]` : name}:${port}`;
}
