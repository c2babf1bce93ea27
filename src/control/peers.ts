/**
 * Asking the other nodes for their part of an answer: `berth app stats`
 * and `berth app logs` through any node show every node's containers. The
 * control API calls each live peer's own route with `?local=1` (which
 * answers from that node alone, so nothing fans out twice) and the
 * caller's own `Authorization`: tokens are the same on every node. A peer
 * that does not answer in time is reported, not waited for.
 */
import { BerthError, messageOf } from "../errors/codes.js";
import type { NodeView } from "../wire/control-api.js";

/** A node as the control API reaches it. */
export interface Peer {
  id: string;
  /** Its gateway's base URL: `http://10.0.0.5:8600`. */
  url: string;
}

/** The platform's nodes, as the control API needs them; the composition root passes its membership. */
export interface Peers {
  /** This node's id. */
  readonly self: string;
  /** The other live nodes. */
  others(): Peer[];
  /** Every node the store knows, live or not, for `GET /api/nodes`. */
  list(): Promise<NodeView[]>;
}

/** One node alone: nothing to ask. */
export function alone(self: string): Peers {
  return { self, others: () => [], list: async () => [] };
}

/** Milliseconds a peer has to answer a one-shot question (stats, recent logs). */
const PEER_TIMEOUT_MS = 3000;

/** `path` (with its query) on `peer`, with `?local=1` added. */
export function peerUrl(peer: Peer, path: string, query: Record<string, string>): string {
  const url = new URL(path, peer.url);
  for (const [key, value] of Object.entries(query)) url.searchParams.set(key, value);
  url.searchParams.set("local", "1");
  return url.toString();
}

/**
 * GETs `url` from a peer; resolves to its answer, or rejects with why it
 * did not answer (a BerthError's message when it sent one). `bounded`:
 * the whole answer must come within the peer timeout (a stream that
 * follows logs is not).
 */
export async function askPeer(url: string, authorization: string | undefined, signal?: AbortSignal, bounded = true): Promise<Response> {
  const signals = [signal, bounded ? AbortSignal.timeout(PEER_TIMEOUT_MS) : undefined].filter((s): s is AbortSignal => s !== undefined);
  const response = await fetch(url, {
    headers: authorization ? { authorization } : {},
    signal: signals.length > 0 ? AbortSignal.any(signals) : undefined,
  });
  if (response.ok) return response;
  const body: unknown = await response.json().catch(() => undefined);
  throw BerthError.fromResponse(response.status, body);
}

/** Why a peer did not answer, in a few words. */
export function peerFailure(error: unknown): string {
  if (error instanceof Error && error.name === "TimeoutError") return `no answer within ${PEER_TIMEOUT_MS / 1000} s`;
  const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : "";
  return `${messageOf(error)}${cause}`;
}

