/**
 * WebSocket relay (RFC 6455): the gateway terminates the client's WebSocket
 * and opens its own to the container, then relays messages, binary or text,
 * both ways. Terminating (rather than splicing bytes) is what lets the
 * gateway enforce the 2 MiB message limit (close 1009), refuse
 * permessage-deflate, close idle connections, and close every socket with
 * 1001 when its function version drains. The upstream handshake happens
 * first, so an app that refuses the upgrade (404, 401, ...) is answered with
 * its own HTTP response.
 *
 * The connection holds one pool lease for its whole life: an open WebSocket
 * is one input against `maxInputs`. Every way a relay can end, a failed or
 * refused handshake, a container that never answers it (bounded by the
 * handshake timeout), a client that leaves, an unexpected exception
 * (crash-guard.ts), calls `done` exactly once, which gives the lease back.
 */
import { setMaxListeners } from "node:events";
import { ServerResponse, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer, type RawData } from "ws";
import type { Logger } from "../logging/logger.js";
import type { ContainerEndpoint } from "../runtime/types.js";
import { guardSocket } from "./crash-guard.js";
import { isFieldName, isFieldValue } from "./response-parser.js";

/** Largest message relayed either way, in bytes (2 MiB); larger closes with 1009. */
export const MAX_MESSAGE_BYTES = 2 * 1024 * 1024;

/** A side whose peer is slower than this many buffered bytes stops being read until it catches up. */
const HIGH_WATER_BYTES = 4 * 1024 * 1024;

/** Milliseconds a container gets to answer the upgrade, at most (less when the function's timeout is shorter). */
const HANDSHAKE_TIMEOUT_MS = 30_000;

const CLOSE_GOING_AWAY = 1001;

const server = new WebSocketServer({
  noServer: true,
  perMessageDeflate: false,
  maxPayload: MAX_MESSAGE_BYTES,
  clientTracking: false,
  handleProtocols: (_protocols, request) => chosenProtocol.get(request) ?? false,
});

/** The subprotocol the container picked, which the client's handshake must echo. */
const chosenProtocol = new WeakMap<IncomingMessage, string>();

export interface RelayOptions {
  endpoint: ContainerEndpoint;
  /** Request headers for the container (forwarding headers already applied), as a flat name/value list. */
  headers: string[];
  /** Milliseconds a connection may stay without a message either way (the function's `timeout`). */
  idleMs: number;
  /** Aborted when the function version drains: the socket closes with 1001. */
  drain: AbortSignal;
  /** Headers added to the app's HTTP answer when it refuses the upgrade. */
  responseHeaders: [string, string][];
  /** Answers the client when the container cannot be reached (the gateway's 502). */
  upstreamFailed(): void;
  /**
   * Called exactly once, when both sides are closed (or the upgrade failed),
   * with what the client got: 101 for a connection that opened, the app's
   * status when it refused, 502 when the container failed, 499 when the
   * client left during the handshake.
   */
  done(status: number): void;
  /** The gateway's log, for its own faults. */
  logger: Logger;
}

/**
 * What is wrong with the client's handshake for RFC 6455, or null when it
 * is acceptable; checked before a container is involved, so a malformed
 * upgrade never takes a slot or starts one.
 */
export function handshakeProblem(req: IncomingMessage): string | null {
  const key = req.headers["sec-websocket-key"];
  const valid =
    req.method === "GET" &&
    req.headers.upgrade?.toLowerCase() === "websocket" &&
    req.headers["sec-websocket-version"] === "13" &&
    typeof key === "string" &&
    /^[+/0-9A-Za-z]{22}==$/.test(key);
  if (!valid) return "Only RFC 6455 WebSocket upgrades (GET, Upgrade: websocket, Sec-WebSocket-Version: 13, a valid key) are accepted.";
  const protocols = req.headers["sec-websocket-protocol"];
  if (protocols !== undefined && subprotocols(protocols) === null) {
    return "Sec-WebSocket-Protocol must be a comma-separated list of distinct tokens (RFC 6455 §4.1).";
  }
  return null;
}

/** The subprotocols a client offers, or null when the list is malformed: empty items, non-token characters, duplicates. */
export function subprotocols(value: string): string[] | null {
  const items = value.split(",").map((item) => item.trim());
  if (!items.every(isFieldName) || new Set(items).size !== items.length) return null;
  return items;
}

/**
 * A `ServerResponse` written straight to a socket that asked to upgrade, so
 * refusals on the upgrade path go through the same `sendError` (and any
 * other `res`-based gateway step) as plain requests; the socket closes after it.
 */
export function upgradeResponse(req: IncomingMessage, socket: Duplex): ServerResponse {
  const res = new ServerResponse(req);
  res.assignSocket(socket as Socket);
  res.shouldKeepAlive = false;
  res.once("finish", () => socket.end());
  return res;
}

export function relayWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, options: RelayOptions): void {
  let finished = false;
  let phase: "connecting" | "refused" | "failed" | "open" = "connecting";
  let refusedWith = 0;
  let clientLeft = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    options.done(phase === "open" ? 101 : phase === "refused" ? refusedWith : clientLeft ? 499 : 502);
  };
  let upstream: WebSocket;
  try {
    upstream = new WebSocket(upstreamUrl(options.endpoint, req.url ?? "/"), subprotocols(req.headers["sec-websocket-protocol"] ?? "") ?? [], {
      headers: upstreamHeaders(options.headers),
      perMessageDeflate: false,
      maxPayload: MAX_MESSAGE_BYTES,
      followRedirects: false,
      handshakeTimeout: Math.min(options.idleMs, HANDSHAKE_TIMEOUT_MS),
    });
  } catch (error) {
    // Whatever the ws client refuses to even try is the gateway's fault, not the container's; the slot goes back.
    options.logger.error({ err: error, url: req.url }, "could not open a WebSocket to the container; the client got 502");
    options.upstreamFailed();
    return finish();
  }
  // From here on an exception in a listener on either socket ends this connection alone, and frees its slot.
  const scope = {
    crashed(error: unknown) {
      options.logger.error({ err: error, url: req.url }, "unexpected error in a WebSocket relay; both sides were cut");
      upstream.terminate();
      socket.destroy();
      finish();
    },
  };
  guardSocket(socket, scope);
  upstream.once("upgrade", (response: IncomingMessage) => guardSocket(response.socket, scope));
  // A client that leaves during the upstream handshake: the terminate below ends in the "error" handler.
  const onClientGone = () => {
    clientLeft = true;
    upstream.terminate();
  };
  socket.once("close", onClientGone);

  upstream.once("unexpected-response", (_request, response) => {
    phase = "refused";
    refusedWith = response.statusCode ?? 502;
    socket.off("close", onClientGone);
    relayRefusal(response, socket, options.responseHeaders, options.upstreamFailed);
    response.once("close", () => {
      upstream.terminate();
      finish();
    });
  });
  upstream.on("error", () => {
    if (phase !== "connecting") return;
    phase = "failed";
    socket.off("close", onClientGone);
    options.upstreamFailed();
    finish();
  });
  upstream.once("open", () => {
    socket.off("close", onClientGone);
    if (!socket.readable || !socket.writable) {
      phase = "failed";
      clientLeft = true;
      upstream.terminate();
      socket.destroy();
      return finish();
    }
    phase = "open";
    if (upstream.protocol) chosenProtocol.set(req, upstream.protocol);
    let bridged = false;
    server.handleUpgrade(req, socket, head, (client) => {
      bridged = true;
      bridge(client, upstream, options, finish);
    });
    // handleUpgrade answers a handshake it will not complete itself, without calling back: nothing is relayed then.
    if (!bridged) {
      phase = "failed";
      upstream.terminate();
      socket.destroy();
      finish();
    }
  });
}

/** Relays messages both ways until either side closes; then closes the other with the same code. */
function bridge(client: WebSocket, upstream: WebSocket, options: RelayOptions, finish: () => void): void {
  // One timer per connection, re-armed only when it fires: a message just stamps the time.
  let lastActivity = performance.now();
  const touch = () => {
    lastActivity = performance.now();
  };
  let idle: NodeJS.Timeout | undefined;
  const armIdle = (ms: number) => {
    idle = setTimeout(() => {
      const quiet = performance.now() - lastActivity;
      if (quiet >= options.idleMs) closeBoth(CLOSE_GOING_AWAY, "idle timeout");
      else armIdle(options.idleMs - quiet);
    }, ms);
    idle.unref();
  };
  const closeBoth = (code: number, reason: string) => {
    closeWith(client, code, reason);
    closeWith(upstream, code, reason);
  };
  const onDrain = () => closeBoth(CLOSE_GOING_AWAY, "the function is being redeployed or stopped");
  // One listener per open socket of the version: more than Node's default 10 is normal, not a leak.
  setMaxListeners(0, options.drain);
  options.drain.addEventListener("abort", onDrain, { once: true });
  if (options.drain.aborted) onDrain();
  armIdle(options.idleMs);

  pipeMessages(client, upstream, touch);
  pipeMessages(upstream, client, touch);

  // An error (a malformed frame, an oversized message) is followed by a close; it carries the code the peer gets.
  const errorCode = new Map<WebSocket, number>();
  for (const [side, other] of [[client, upstream], [upstream, client]] as const) {
    side.on("error", (error: Error & { code?: string }) => errorCode.set(side, closeCodeOf(error)));
    side.once("close", (code, reason) => {
      const relayed = errorCode.get(side) ?? code;
      // A vanished client is passed on as such (1006); a vanished container is explained to the client (1011).
      if (relayed === 1006 && side === client) other.terminate();
      else if (relayed === 1006) closeWith(other, 1011, "the function's container closed the connection abnormally");
      else if (relayed === 1005) closeWith(other, 1000, "");
      else closeWith(other, relayed, reason.toString());
    });
  }
  let open = 2;
  const onClosed = () => {
    open -= 1;
    if (open > 0) return;
    clearTimeout(idle);
    options.drain.removeEventListener("abort", onDrain);
    finish();
  };
  client.once("close", onClosed);
  upstream.once("close", onClosed);
}

function pipeMessages(from: WebSocket, to: WebSocket, touch: () => void): void {
  from.on("message", (data: RawData, isBinary: boolean) => {
    touch();
    if (to.readyState !== WebSocket.OPEN) return;
    to.send(data, { binary: isBinary }, () => {
      if (from.isPaused && to.bufferedAmount < HIGH_WATER_BYTES / 2) from.resume();
    });
    if (to.bufferedAmount > HIGH_WATER_BYTES) from.pause();
  });
}

function closeWith(socket: WebSocket, code: number, reason: string): void {
  if (socket.readyState === WebSocket.CLOSED || socket.readyState === WebSocket.CLOSING) return;
  if (socket.readyState === WebSocket.CONNECTING) return socket.terminate();
  socket.close(isSendableCode(code) ? code : 1000, Buffer.byteLength(reason) <= 123 ? reason : "");
}

/** Codes an endpoint may put in a close frame (RFC 6455 §7.4); 1005, 1006 and 1015 are only ever reported. */
function isSendableCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

function closeCodeOf(error: Error & { code?: string }): number {
  if (error.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") return 1009;
  if (error.code === "WS_ERR_INVALID_UTF8") return 1007;
  if (error.code?.startsWith("WS_ERR_")) return 1002;
  return 1006;
}

/** Passes the app's HTTP answer to the upgrade on to the client, once its head is checked like any container response. */
function relayRefusal(response: IncomingMessage, socket: Duplex, extra: [string, string][], malformed: () => void): void {
  if (socket.destroyed) return void response.resume();
  const lines = [`HTTP/1.1 ${response.statusCode ?? 502} ${response.statusMessage ?? ""}`];
  let valid = isFieldValue(response.statusMessage ?? "");
  const raw = response.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name === "connection" || name === "keep-alive" || name === "transfer-encoding") continue;
    valid &&= isFieldName(raw[i]!) && isFieldValue(raw[i + 1]!);
    lines.push(`${raw[i]}: ${raw[i + 1]}`);
  }
  if (!valid) {
    response.resume();
    return malformed();
  }
  for (const [name, value] of extra) lines.push(`${name}: ${value}`);
  lines.push("connection: close");
  // Without a length, the body ends with the connection (HTTP/1.1 §6.3), which is how a relayed chunked body must end here.
  // Latin1, as node:http read the app's head: its bytes go out as they came.
  socket.write(`${lines.join("\r\n")}\r\n\r\n`, "latin1");
  response.pipe(socket);
}

function upstreamUrl(endpoint: ContainerEndpoint, target: string): string {
  return "socketPath" in endpoint ? `ws+unix://${endpoint.socketPath}:${target}` : `ws://${endpoint.host}:${endpoint.port}${target}`;
}

/** Handshake headers are the ws client's own; everything else reaches the container as the client sent it. */
const HANDSHAKE = new Set(["sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-protocol"]);

function upstreamHeaders(flat: string[]): IncomingHttpHeaders {
  const headers: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!.toLowerCase();
    if (HANDSHAKE.has(name)) continue;
    const value = flat[i + 1]!;
    const previous = headers[name];
    headers[name] = previous === undefined ? value : `${previous}${name === "cookie" ? "; " : ", "}${value}`;
  }
  return headers;
}
