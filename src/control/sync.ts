/**
 * Keeps what this node holds in memory (routes, valid tokens, rate limits,
 * the live nodes) in step with the store. Each change the store reports
 * (another node's deploy, a revocation, `berth token create --home`) makes
 * the one record it names be read again; and every `resyncMs` everything
 * is read again, the backstop for changes the feed lost (a dropped LISTEN
 * connection, a database outage). While the database is unreachable, what
 * is in memory keeps serving; the first read that succeeds again catches up.
 */
import type { Logger } from "../logging/logger.js";
import type { Clock, Cancel } from "../clock/clock.js";
import type { Change, SecurityStore, Store } from "./store/types.js";
import type { LiveLimits } from "./security-api.js";

/** What a change makes this node read again. */
export interface SyncTargets {
  platform: { refresh(appId: string): Promise<void>; resync(): Promise<void> };
  tokens: { refresh(id: string): Promise<void>; reload(): Promise<void> };
  limits: LiveLimits;
  /** The live nodes (a node left and said so). */
  nodes: { refresh(): Promise<void> };
}

export interface SyncOptions extends SyncTargets {
  store: Store;
  /** Milliseconds between full re-reads. Default 10 000. */
  resyncMs?: number;
  clock: Clock;
  logger: Logger;
}

export class StateSync {
  private stopWatching: (() => void) | undefined;
  private timer: Cancel | undefined;
  private failing = false;
  private stopped = false;
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly options: SyncOptions) {}

  start(): void {
    this.stopWatching = this.options.store.watch((change) => this.apply(change));
    this.schedule();
  }

  /** Reads everything again now. */
  resync(): Promise<void> {
    return this.track(async () => {
      await this.options.tokens.reload();
      await reloadLimits(this.options.store.security, this.options.limits);
      await this.options.nodes.refresh();
      await this.options.platform.resync();
    });
  }

  close(): void {
    this.stopped = true;
    this.stopWatching?.();
    this.timer?.();
  }

  /** Resolves when the reads started so far are done (tests, shutdown). */
  async settled(): Promise<void> {
    await Promise.all(this.running);
  }

  private apply(change: Change): void {
    const { platform, tokens, limits, nodes, store } = this.options;
    switch (change.topic) {
      case "app":
        void this.track(() => platform.refresh(change.id));
        return;
      case "token":
        void this.track(() => tokens.refresh(change.id));
        return;
      case "limit":
        void this.track(() => reloadLimits(store.security, limits));
        return;
      case "node":
        void this.track(() => nodes.refresh());
        return;
      case "secret":
        // Secrets are read when a version is activated; nothing is held in memory.
        return;
      case "resync":
        void this.resync();
        return;
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.options.clock.after(this.options.resyncMs ?? 10_000, () => {
      void this.resync().finally(() => this.schedule());
    });
  }

  /** Runs one read; a failure is logged once per outage, and a success after failures catches up with everything. */
  private track(read: () => Promise<void>): Promise<void> {
    const done = read().then(
      () => {
        if (!this.failing) return;
        this.failing = false;
        this.options.logger.info("the state database answers again; catching up");
        void this.resync();
      },
      (error: unknown) => {
        if (this.failing) return;
        this.failing = true;
        this.options.logger.warn({ err: error }, "could not read a change from the state database; serving what is in memory until it answers");
      },
    );
    this.running.add(done);
    void done.then(() => this.running.delete(done));
    return done;
  }
}

/** Workspaces each `LiveLimits` was given limits for, so a reload can put those whose limits were removed back to the defaults. */
const applied = new WeakMap<LiveLimits, Set<string>>();

/** Applies every stored workspace limit to the live limits; a workspace whose limits were removed gets the defaults again. */
export async function reloadLimits(store: SecurityStore, limits: LiveLimits): Promise<void> {
  const stored = await store.listLimits();
  const before = applied.get(limits) ?? new Set<string>();
  const now = new Set(stored.map((limit) => limit.workspace));
  for (const limit of stored) limits.set(limit);
  for (const workspace of before) if (!now.has(workspace)) limits.set({ workspace });
  applied.set(limits, now);
}
