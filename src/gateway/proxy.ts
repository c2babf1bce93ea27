/**
 * The streaming proxy from a client request to a container: headers are
 * copied from the raw header list (so repeated headers and their order
 * survive), hop-by-hop headers are dropped, the gateway's forwarding headers
 * are set, and bodies stream both ways without being held in memory.
 */
import type { IncomingMessage, OutgoingHttpHeaders } from "node:http";
import { Pool as UndiciPool, type Dispatcher } from "undici";
import type { ContainerEndpoint } from "../runtime/types.js";
import type { ResponseTarget } from "./calls.js";

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
]);

/** Forwarding headers a client could forge; replaced unless the peer is a trusted proxy. */
const FORWARDING = new Set(["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded", "x-real-ip"]);

export interface ForwardingInfo {
  /** The client address list for X-Forwarded-For, leftmost the original client. */
  forwardedFor: string;
  proto: string;
  host: string;
}

/** Opens the keep-alive connection pool to a container. */
export function connectUpstream(endpoint: ContainerEndpoint, connections: number): Dispatcher {
  const options = { connections, keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0 };
  return "socketPath" in endpoint
    ? new UndiciPool("http://localhost", { ...options, socketPath: endpoint.socketPath })
    : new UndiciPool(`http://${endpoint.host}:${endpoint.port}`, options);
}

export function requestHeaders(req: IncomingMessage, forwarding: ForwardingInfo, trustForwarding: boolean): string[] {
  const raw = req.rawHeaders;
  const headers: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(name)) continue;
    if (FORWARDING.has(name) && !trustForwarding) continue;
    if (name === "x-forwarded-for") continue;
    headers.push(raw[i]!, raw[i + 1]!);
  }
  headers.push("x-forwarded-for", forwarding.forwardedFor);
  if (!trustForwarding || req.headers["x-forwarded-proto"] === undefined) headers.push("x-forwarded-proto", forwarding.proto);
  if (!trustForwarding || req.headers["x-forwarded-host"] === undefined) headers.push("x-forwarded-host", forwarding.host);
  return headers;
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  return req.headers["transfer-encoding"] !== undefined || (length !== undefined && length !== "0");
}

/**
 * Forwards one request and streams the response to where `target` says
 * (the client, or a result URL's buffer). Resolves when the response is
 * complete; rejects with the upstream error (the caller decides between 502
 * and 504, or cuts a response already under way).
 */
export async function forward(
  upstream: Dispatcher,
  req: IncomingMessage,
  target: ResponseTarget,
  headers: string[],
  signal: AbortSignal,
): Promise<void> {
  await upstream.stream(
    {
      path: req.url ?? "/",
      method: req.method as Dispatcher.HttpMethod,
      headers,
      body: hasBody(req) ? req : null,
      signal,
    },
    ({ statusCode, headers: responseHeaders }) => {
      const out: OutgoingHttpHeaders = {};
      for (const name in responseHeaders) {
        const value = responseHeaders[name];
        if (value === undefined || HOP_BY_HOP.has(name)) continue;
        out[name] = value;
      }
      return target.open(statusCode, out);
    },
  );
}
