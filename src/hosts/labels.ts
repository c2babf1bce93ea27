/**
 * URL label rules, shared by the two sides of a URL: the control plane
 * names a function's host (`functionLabel`, `hostLabel`: how a function's
 * name becomes the DNS label `<workspace>--<label>[-dev]`), and the gateway
 * reads a Host header back into "control plane", "this function's host
 * label" or "unknown" (`classifyHost`). Pure string work that knows neither
 * side; looking a host label up to find a function is the caller's job.
 */
import { createHash } from "node:crypto";
import { isIP } from "node:net";
import { BerthError } from "../errors/codes.js";

/** RFC 1035: one DNS label is at most 63 octets. */
const MAX_DNS_LABEL = 63;
/** 56 kept + "-" + 6 hex digits of SHA-256 = 63. */
const CUT_LENGTH = 56;
const HASH_DIGITS = 6;
const LABEL_PATTERN = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

/**
 * Lowercase `[a-z0-9-]` form of any text.
 *
 * Word boundaries become `-` before lowercasing so that camelCase survives:
 * `getItem` → `get-item`, `parseHTTPResponse` → `parse-http-response`,
 * `item2Go` → `item2-go`, `web_demo` → `web-demo`. Accents are stripped
 * (`café` → `cafe`) rather than turned into dashes; every other character
 * becomes `-`, runs collapse and the ends are trimmed.
 */
export function normaliseLabel(text: string): string {
  return text
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
    .replace(/([A-Z])([A-Z][a-z])/g, "$1-$2")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
}

/**
 * `<app>-<function>` normalised: lowercase [a-z0-9-]; camelCase boundaries and
 * `_` become `-`; other characters become `-`; runs of `-` collapse;
 * leading/trailing `-` trimmed. `("webDemo", "getItem")` → `web-demo-get-item`.
 *
 * Throws if nothing URL-safe is left (an app and function named only in, say,
 * CJK characters): the function then needs an explicit `label`.
 */
export function functionLabel(appName: string, functionName: string): string {
  const label = normaliseLabel(`${appName}-${functionName}`);
  if (label === "") {
    throw new BerthError(
      "invalid_input",
      `Function "${functionName}" of app "${appName}" has no letters or digits usable in a URL; give it a label, e.g. app.function({ label: "my-endpoint" }).`,
    );
  }
  return label;
}

/**
 * The first DNS label of the host: `<workspace>--<label>[-dev]`; longer than
 * 63 chars → cut to 56, then `-` and the first 6 hex digits of the SHA-256 of
 * the full (uncut) label.
 *
 * The hash keeps two long labels that share their first 56 characters apart
 * (e.g. a deployed and a `-dev` URL of the same long function). `workspace`
 * and `label` are expected to be normalised already.
 */
export function hostLabel(workspace: string, label: string, dev: boolean): string {
  const full = `${workspace}--${label}${dev ? "-dev" : ""}`;
  if (full.length <= MAX_DNS_LABEL) return full;
  const hash = createHash("sha256").update(full).digest("hex").slice(0, HASH_DIGITS);
  return `${full.slice(0, CUT_LENGTH)}-${hash}`;
}

/** Where the gateway sends a request, judged by its Host header alone. */
export type HostRoute = { kind: "control" } | { kind: "function"; hostLabel: string } | { kind: "unknown" };

const CONTROL: HostRoute = { kind: "control" };
const UNKNOWN: HostRoute = { kind: "unknown" };

/**
 * Classify a Host header value. `domain` is the configured base domain
 * (default "localhost"). Port is ignored, case-insensitive. Returns
 * {kind:"control"} for the bare domain (or 127.0.0.1 / [::1] / bare IP),
 * {kind:"function", hostLabel} for `<hostLabel>.<domain>`, {kind:"unknown"}
 * otherwise (including missing/empty host, or deeper subdomains).
 *
 * `localhost` is the control plane under any domain too, so that
 * `curl localhost:8600/metrics` works on a server configured for a public
 * domain. One trailing dot (a fully qualified `localhost.`) is accepted.
 */
export function classifyHost(host: string | undefined, domain: string): HostRoute {
  const name = hostName(host);
  if (name === null) return UNKNOWN;
  const base = trimDot((domain || "localhost").toLowerCase());
  if (name === base || name === "localhost" || mayBeIp(name)) return CONTROL;

  const suffix = `.${base}`;
  if (!name.endsWith(suffix)) return UNKNOWN;
  const label = name.slice(0, -suffix.length);
  // Deeper subdomains (`a.b.localhost`) and anything that is not a DNS label
  // are not ours: answering them would make every wildcard record a route.
  if (label.length > MAX_DNS_LABEL || !LABEL_PATTERN.test(label)) return UNKNOWN;
  return { kind: "function", hostLabel: label };
}

/** The lowercased host name of a Host header, without port or brackets; null if malformed. */
/** Distinct Host headers a `HostClassifier` remembers; past it, it forgets them all and starts again (random hosts cost one classification each, as before). */
const REMEMBERED_HOSTS = 1024;

/**
 * `classifyHost` for one domain, remembering its answers: a gateway sees
 * the same few Host headers over and over, and classifying one takes a
 * lowercased copy, a port check, a label pattern and a new route object
 * on every request. The routes it returns are shared: read them only.
 */
export class HostClassifier {
  private readonly seen = new Map<string, HostRoute>();

  constructor(private readonly domain: string) {}

  classify(host: string | undefined): HostRoute {
    if (host === undefined) return UNKNOWN;
    let route = this.seen.get(host);
    if (route === undefined) {
      route = classifyHost(host, this.domain);
      if (this.seen.size >= REMEMBERED_HOSTS) this.seen.clear();
      this.seen.set(host, route);
    }
    return route;
  }
}

function hostName(host: string | undefined): string | null {
  if (host === undefined) return null;
  const value = host.trim().toLowerCase();
  if (value === "") return null;

  let name: string;
  let rest: string;
  if (value.startsWith("[")) {
    const close = value.indexOf("]");
    if (close === -1) return null;
    name = value.slice(1, close);
    rest = value.slice(close + 1);
    if (isIP(name) !== 6) return null;
  } else if (value.indexOf(":") !== value.lastIndexOf(":") && isIP(value) === 6) {
    // Not valid in a Host header (IPv6 needs brackets), but unambiguous.
    return value;
  } else {
    const colon = value.indexOf(":");
    name = colon === -1 ? value : value.slice(0, colon);
    rest = colon === -1 ? "" : value.slice(colon);
  }
  // RFC 3986 allows an empty port after the colon.
  if (rest !== "" && !/^:\d*$/.test(rest)) return null;
  name = trimDot(name);
  return name === "" ? null : name;
}

/**
 * `isIP` without its cost on every function host: its IPv6 pattern showed in
 * the gateway's CPU profile of the hello benchmark (~0.5% of samples). An
 * IPv4 address ends in a digit and an IPv6 one has a colon; a function host
 * ends in the domain's letters.
 */
function mayBeIp(name: string): boolean {
  const last = name.charCodeAt(name.length - 1);
  return ((last >= 48 && last <= 57) || name.includes(":")) && isIP(name) !== 0;
}

function trimDot(name: string): string {
  return name.endsWith(".") ? name.slice(0, -1) : name;
}

/**
 * Throws a clear `invalid_input` error for an invalid user-supplied label override (must be
 * 1-63 chars [a-z0-9-] after normalisation, no leading/trailing dash).
 * Returns the normalised label: `"My_Label"` → `"my-label"`.
 */
export function validateLabelOverride(label: string): string {
  const normalised = normaliseLabel(label);
  if (normalised === "") {
    throw new BerthError("invalid_input", `Label "${label}" has no letters or digits; use lowercase letters, digits and "-", e.g. "my-endpoint".`);
  }
  if (normalised.length > MAX_DNS_LABEL) {
    throw new BerthError(
      "invalid_input",
      `Label "${normalised}" is ${normalised.length} characters; a DNS label holds at most ${MAX_DNS_LABEL}. Choose a shorter label.`,
    );
  }
  if (!LABEL_PATTERN.test(normalised)) {
    // Unreachable with the current normaliseLabel, kept so a change there cannot let a bad label through.
    throw new BerthError("invalid_input", `Label "${label}" is not a valid DNS label; use lowercase letters, digits and "-".`);
  }
  return normalised;
}
