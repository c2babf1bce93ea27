/**
 * Container output and platform events per app: a bounded ring buffer for
 * `berth app logs` and live subscribers for `berth serve` and `--follow`.
 */
import type { LogEntry } from "../wire/control-api.js";

type Subscriber = (entry: LogEntry) => void;

const KEEP = 1000;

export class LogHub {
  private readonly buffers = new Map<string, LogEntry[]>();
  private readonly subscribers = new Map<string, Set<Subscriber>>();

  constructor(private readonly echo?: Subscriber) {}

  /** `appKey` is `<workspace>/<app>`. */
  write(appKey: string, entry: LogEntry): void {
    let buffer = this.buffers.get(appKey);
    if (!buffer) this.buffers.set(appKey, (buffer = []));
    buffer.push(entry);
    if (buffer.length > KEEP) buffer.splice(0, buffer.length - KEEP);
    this.echo?.(entry);
    for (const subscriber of this.subscribers.get(appKey) ?? []) subscriber(entry);
  }

  recent(appKey: string): LogEntry[] {
    return [...(this.buffers.get(appKey) ?? [])];
  }

  subscribe(appKey: string, subscriber: Subscriber): () => void {
    let set = this.subscribers.get(appKey);
    if (!set) this.subscribers.set(appKey, (set = new Set()));
    set.add(subscriber);
    return () => set.delete(subscriber);
  }

  forget(appKey: string): void {
    this.buffers.delete(appKey);
  }
}
