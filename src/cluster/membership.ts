/**
 * Which nodes make up the platform right now. Each node writes a heartbeat
 * (its URL and load) into the shared store every `heartbeatMs` and reads
 * everyone's back; a node whose last heartbeat is older than `timeoutMs`
 * (by the database's clock, so machines' clocks need not agree) is not
 * live: it holds no share of containers or rate limits, and the others
 * take over its part. A node that stops cleanly removes its row, so the
 * others re-spread at once instead of after the timeout.
 *
 * When the store cannot be read (a database outage), the last view is
 * kept: a node that cannot see the heartbeats must not conclude that
 * everyone else died.
 */
import { randomBytes } from "node:crypto";
import type { Cancel, Clock } from "../clock/clock.js";
import { BerthError } from "../errors/codes.js";
import type { Logger } from "../logging/logger.js";
import type { NodeLoad, NodeView } from "../wire/control-api.js";
import { shareOf } from "./shares.js";

/** One node sharing the store, as its last heartbeat left it. */
export interface NodeRecord {
  /** Stable across restarts of the node (kept in its state directory). */
  id: string;
  /** Where other nodes reach its gateway: `http://10.0.0.5:8600`. */
  url: string;
  /** Random per process start: tells a restarted node from a second process claiming the same id. */
  instance: string;
  /** Milliseconds since the epoch when this process started. */
  startedAt: number;
  /** Milliseconds since its last heartbeat, by the store's own clock. */
  ageMs: number;
  load: NodeLoad;
}

/** Where heartbeats go: the store's node table (control/store). */
export interface NodeRegistry {
  heartbeat(node: Omit<NodeRecord, "ageMs">): Promise<void>;
  listNodes(): Promise<NodeRecord[]>;
  removeNode(id: string): Promise<void>;
  pruneNodes(olderThanMs: number): Promise<number>;
}

export interface MembershipOptions {
  registry: NodeRegistry;
  /** This node's id (`[a-z0-9-]`, at most 40). */
  id: string;
  /** What this node is doing, sent with each heartbeat. */
  load: () => NodeLoad;
  /** Milliseconds between heartbeats. Default 1000. */
  heartbeatMs?: number;
  /** Milliseconds without a heartbeat after which a node is not live. Default 5000. */
  timeoutMs?: number;
  /** Milliseconds after which a silent node's row is deleted. Default one hour. */
  forgetMs?: number;
  /** This process's instance, unique per process start. Default: random. */
  instance?: string;
  /**
   * Whether the process of a recorded instance is known to have ended (a
   * server killed on this machine): its id is free at once, rather than
   * after `timeoutMs` of silence. Default: never known.
   */
  instanceGone?: (instance: string) => boolean;
  clock: Clock;
  logger: Logger;
}

export const NODE_ID_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/;

/** Beats between two prunings of long-silent nodes. */
const PRUNE_EVERY = 60;

export class Membership {
  readonly id: string;
  /** Where the other nodes reach this one; known once the gateway listens (`join`). */
  private url = "";
  /** This process's instance: a restart of the node gets a new one. */
  readonly instance: string;
  private readonly startedAt = Date.now();
  private readonly heartbeatMs: number;
  private readonly timeoutMs: number;
  private nodes: NodeRecord[] = [];
  private liveIds: string[];
  private readonly listeners = new Set<() => void>();
  private timer: Cancel | undefined;
  private beats = 0;
  /** The heartbeat under way, if any: leaving waits for it, or it could write the row back after the removal. */
  private beating: Promise<void> = Promise.resolve();
  private failing = false;
  private stopped = false;

  constructor(private readonly options: MembershipOptions) {
    if (!NODE_ID_PATTERN.test(options.id)) {
      throw new BerthError("invalid_input", `node id "${options.id}" is not valid: use 1-40 lowercase letters, digits and dashes`);
    }
    this.id = options.id;
    this.instance = options.instance ?? randomBytes(6).toString("hex");
    this.heartbeatMs = options.heartbeatMs ?? 1000;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.liveIds = [this.id];
  }

  /**
   * Registers this node, reachable at `url`, and reads the others, then
   * beats on its own. Refuses an id that another live node at another URL
   * holds (two servers sharing one state directory).
   */
  async join(url: string): Promise<void> {
    this.url = url;
    const existing = (await this.options.registry.listNodes()).find((node) => node.id === this.id);
    const gone = existing !== undefined && (this.options.instanceGone?.(existing.instance) ?? false);
    if (existing && existing.url !== this.url && existing.ageMs < this.timeoutMs && !gone) {
      throw new BerthError(
        "incompatible_state",
        `node id "${this.id}" is already live at ${existing.url} (heard from ${existing.ageMs} ms ago): give each node its own state directory (--home) or --node-id`,
      );
    }
    await this.beat();
    this.schedule();
  }

  /** Every live node's id, sorted; this node is always among them. */
  live(): readonly string[] {
    return this.liveIds;
  }

  /** This node's share of `total` containers of the function `salt` names (see shares.ts). */
  share(total: number, salt: string): number {
    return shareOf(total, this.liveIds, this.id, salt);
  }

  /** The other live nodes and where to reach them. */
  others(): { id: string; url: string }[] {
    return this.nodes.filter((node) => node.id !== this.id && this.liveIds.includes(node.id)).map(({ id, url }) => ({ id, url }));
  }

  /** The URL of a node the store knows (live or not), for forwarding to it. */
  urlOf(id: string): string | undefined {
    return this.nodes.find((node) => node.id === id)?.url;
  }

  /** Every node the store knows, read now; this node's load is its current one. */
  async list(): Promise<NodeView[]> {
    await this.refresh();
    return this.nodes.map((node) => {
      const self = node.id === this.id;
      return {
        id: node.id,
        url: node.url,
        self,
        live: this.liveIds.includes(node.id),
        startedAt: node.startedAt,
        lastSeenMs: self ? 0 : node.ageMs,
        load: self ? this.options.load() : node.load,
      };
    });
  }

  /** Called whenever the set of live nodes changes. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Reads the nodes again now (a node left and said so). */
  async refresh(): Promise<void> {
    try {
      this.update(await this.options.registry.listNodes());
    } catch (error) {
      this.failed(error);
    }
  }

  /** Stops beating and removes this node's row, so the others take over its share at once. */
  async leave(): Promise<void> {
    this.stop();
    await this.beating;
    try {
      await this.options.registry.removeNode(this.id);
    } catch (error) {
      this.options.logger.warn({ err: error }, "could not deregister this node; the others will notice it is gone after the node timeout");
    }
  }

  /** Stops beating without deregistering (the others notice after the timeout). */
  stop(): void {
    this.stopped = true;
    this.timer?.();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.options.clock.after(this.heartbeatMs, () => {
      this.beating = this.beat();
      void this.beating.finally(() => this.schedule());
    });
  }

  private async beat(): Promise<void> {
    const { registry } = this.options;
    try {
      await registry.heartbeat({ id: this.id, url: this.url, instance: this.instance, startedAt: this.startedAt, load: this.options.load() });
      this.beats += 1;
      if (this.beats % PRUNE_EVERY === 0) await registry.pruneNodes(this.options.forgetMs ?? 3_600_000);
      this.update(await registry.listNodes());
      if (this.failing) this.options.logger.info("heartbeats are back");
      this.failing = false;
    } catch (error) {
      this.failed(error);
    }
  }

  private failed(error: unknown): void {
    if (!this.failing) this.options.logger.warn({ err: error }, "could not read the nodes; keeping the last view until the database answers");
    this.failing = true;
  }

  private update(nodes: NodeRecord[]): void {
    this.nodes = nodes;
    const live = nodes.filter((node) => node.id === this.id || node.ageMs < this.timeoutMs).map((node) => node.id);
    if (!live.includes(this.id)) live.push(this.id);
    live.sort();
    if (live.join(" ") === this.liveIds.join(" ")) return;
    const before = this.liveIds;
    this.liveIds = live;
    this.options.logger.info({ live, before }, "the live nodes changed");
    for (const listener of this.listeners) listener();
  }
}
