/**
 * What the gateway sends upstream: headers are copied from the raw header
 * list (so repeated headers and their order survive), hop-by-hop headers are
 * dropped, and the gateway's forwarding headers are set. The bytes are
 * carried by `Upstream` (upstream.ts).
 */
import type { IncomingMessage } from "node:http";

/** Headers that describe one connection, not the message (RFC 9110 §7.6.1). */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  // The gateway answers `Expect: 100-continue` itself; the container gets the body either way.
  "expect",
]);

/**
 * The proxy-auth credentials stop at the gateway: they belong to the
 * workspace, not to the function. A client's own `berth-request-id` goes
 * too: the gateway sets the request's real one.
 */
const GATEWAY_ONLY = new Set(["berth-key", "berth-secret", "berth-request-id"]);

/** Forwarding headers a client could forge; replaced unless the peer is a trusted proxy. */
const FORWARDING = new Set(["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded", "x-real-ip"]);

export interface ForwardingInfo {
  /** The client address list for X-Forwarded-For, leftmost the original client. */
  forwardedFor: string;
  proto: string;
  host: string;
}

/** What happens to a header by its lowercased name, looked up once per header (this runs for every header of every request). */
const DROPPED = 1;
const FORWARDING_ONLY = 2;
const HANDLING = new Map<string, number>([
  ...[...HOP_BY_HOP, ...GATEWAY_ONLY, "x-forwarded-for"].map((name): [string, number] => [name, DROPPED]),
  ...[...FORWARDING].filter((name) => name !== "x-forwarded-for").map((name): [string, number] => [name, FORWARDING_ONLY]),
]);

export function requestHeaders(req: IncomingMessage, forwarding: ForwardingInfo, trustForwarding: boolean): string[] {
  const raw = req.rawHeaders;
  const headers: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const handling = HANDLING.get(raw[i]!.toLowerCase());
    if (handling === DROPPED || (handling === FORWARDING_ONLY && !trustForwarding)) continue;
    headers.push(raw[i]!, raw[i + 1]!);
  }
  headers.push("x-forwarded-for", forwarding.forwardedFor);
  if (!trustForwarding || req.headers["x-forwarded-proto"] === undefined) headers.push("x-forwarded-proto", forwarding.proto);
  if (!trustForwarding || req.headers["x-forwarded-host"] === undefined) headers.push("x-forwarded-host", forwarding.host);
  return headers;
}
