/**
 * The public base of function URLs: the scheme, domain and port clients use
 * to reach the gateway (`berth server --public-url https://fns.example.com`,
 * or what the server listens on), and a function's URL under it,
 * `<scheme>://<host label>.<domain>[:<port>]/`. Behind a TLS-terminating
 * proxy the gateway itself speaks plain HTTP on another port: what it
 * prints is what clients use, not what it listens on.
 */
import { BerthError } from "../errors/codes.js";

export interface PublicBase {
  scheme: "http" | "https";
  /** The base domain function hosts are under; the gateway routes `<host label>.<domain>`. */
  domain: string;
  /** Omitted from URLs when it is the scheme's default (80, 443) or undefined. */
  port: number | undefined;
}

/**
 * `https://fns.example.com` → `{ scheme: "https", domain: "fns.example.com", port: undefined }`.
 * Only a scheme, a host and a port: a path, query, fragment or credentials are refused.
 */
export function parsePublicUrl(text: string): PublicBase {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new BerthError("invalid_input", `--public-url "${text}" is not a URL: give a base such as https://fns.example.com`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new BerthError("invalid_input", `--public-url must be http:// or https://, not ${url.protocol}//`);
  }
  if ((url.pathname !== "/" && url.pathname !== "") || url.search || url.hash || url.username || url.password) {
    throw new BerthError("invalid_input", `--public-url takes a scheme, host and port only (function URLs add their own host label), not "${text}"`);
  }
  if (url.hostname.startsWith("[") || /^[\d.]+$/.test(url.hostname)) {
    throw new BerthError("invalid_input", `--public-url needs a domain name, not an address: function URLs are <name>.<domain>`);
  }
  return { scheme: url.protocol === "https:" ? "https" : "http", domain: url.hostname, port: url.port === "" ? undefined : Number(url.port) };
}

export function functionUrl(base: PublicBase, hostLabel: string): string {
  return `${base.scheme}://${hostLabel}.${publicHost(base)}/`;
}

/** The bare host clients reach (the control API and the dashboard), as a browser sends it in `Host`: `fns.example.com`, `fns.example.com:8443`. */
export function publicHost(base: PublicBase): string {
  const defaultPort = base.scheme === "https" ? 443 : 80;
  const port = base.port === undefined || base.port === defaultPort ? "" : `:${base.port}`;
  return `${base.domain.toLowerCase()}${port}`;
}
