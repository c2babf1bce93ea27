/**
 * Container output and platform events per app: a bounded ring buffer for
 * `berth app logs` and live subscribers for `berth serve` and `--follow`.
 */
import type { LogEntry } from "../wire/control-api.js";

type Subscriber = (entry: LogEntry) => void;

interface Follower {
  write: Subscriber;
  /** Told when the hub ends every follower (the server is shutting down). */
  end?: () => void;
}

const KEEP = 1000;

export class LogHub {
  private readonly buffers = new Map<string, LogEntry[]>();
  private readonly subscribers = new Map<string, Set<Follower>>();

  constructor(private readonly echo?: Subscriber) {}

  /** `appKey` is `<workspace>/<app>`. */
  write(appKey: string, entry: LogEntry): void {
    let buffer = this.buffers.get(appKey);
    if (!buffer) this.buffers.set(appKey, (buffer = []));
    buffer.push(entry);
    if (buffer.length > KEEP) buffer.splice(0, buffer.length - KEEP);
    this.echo?.(entry);
    for (const follower of this.subscribers.get(appKey) ?? []) follower.write(entry);
  }

  recent(appKey: string): LogEntry[] {
    return [...(this.buffers.get(appKey) ?? [])];
  }

  /** `end` is called if the hub ends its followers first (`endFollowers`). Returns the unsubscribe function. */
  subscribe(appKey: string, subscriber: Subscriber, end?: () => void): () => void {
    let set = this.subscribers.get(appKey);
    if (!set) this.subscribers.set(appKey, (set = new Set()));
    const follower: Follower = { write: subscriber, end };
    set.add(follower);
    return () => set.delete(follower);
  }

  /** Ends every follower: a server shutting down does not wait for log streams, which never end by themselves. */
  endFollowers(): void {
    for (const set of this.subscribers.values()) for (const follower of set) follower.end?.();
    this.subscribers.clear();
  }

  forget(appKey: string): void {
    this.buffers.delete(appKey);
  }
}
