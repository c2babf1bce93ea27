/**
 * Membership on a fake clock over an in-memory registry: heartbeats carry
 * the load, the live set follows the heartbeats' age, listeners hear of
 * changes, a registry that cannot be read keeps the last view, an id held
 * by another live node is refused, and leaving removes the row.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Membership, type NodeRecord, type NodeRegistry } from "../src/cluster/membership.js";
import { createLogger } from "../src/logging/logger.js";
import { FakeClock } from "./support/fake-clock.js";

class MemoryRegistry implements NodeRegistry {
  readonly rows = new Map<string, NodeRecord>();
  down = false;

  async heartbeat(node: Omit<NodeRecord, "ageMs">): Promise<void> {
    this.check();
    this.rows.set(node.id, { ...node, ageMs: 0 });
  }

  async listNodes(): Promise<NodeRecord[]> {
    this.check();
    return [...this.rows.values()].sort((a, b) => a.id.localeCompare(b.id));
  }

  async removeNode(id: string): Promise<void> {
    this.check();
    this.rows.delete(id);
  }

  async pruneNodes(): Promise<number> {
    return 0;
  }

  /** Another node's heartbeat, `ageMs` old. */
  other(id: string, ageMs: number, url = `http://${id}`): void {
    this.rows.set(id, { id, url, instance: "x", startedAt: 0, ageMs, load: { apps: 1, containers: 2, inFlight: 0, queued: 0 } });
  }

  private check(): void {
    if (this.down) throw new Error("connect ECONNREFUSED");
  }
}

const logger = createLogger({ level: "silent" });
const flush = () => new Promise((resolve) => setImmediate(resolve));

async function member(registry: MemoryRegistry, clock: FakeClock, id = "b") {
  let load = { apps: 3, containers: 4, inFlight: 5, queued: 6 };
  const membership = new Membership({ registry, id, load: () => load, heartbeatMs: 1000, timeoutMs: 5000, clock, logger });
  await membership.join(`http://${id}`);
  return { membership, setLoad: (next: typeof load) => (load = next) };
}

test("the live set follows the heartbeats; shares and listeners follow the live set", async () => {
  const registry = new MemoryRegistry();
  const clock = new FakeClock();
  registry.other("a", 100);
  registry.other("c", 6000);
  const { membership, setLoad } = await member(registry, clock);
  assert.deepEqual(membership.live(), ["a", "b"], "c is older than the timeout");
  assert.deepEqual(registry.rows.get("b")?.load, { apps: 3, containers: 4, inFlight: 5, queued: 6 });
  assert.deepEqual(membership.others(), [{ id: "a", url: "http://a" }]);
  assert.equal(membership.urlOf("c"), "http://c", "a node that is not live is still known");
  assert.equal(membership.share(4, "salt"), 2);

  let changes = 0;
  membership.onChange(() => (changes += 1));
  registry.other("c", 0);
  setLoad({ apps: 0, containers: 0, inFlight: 0, queued: 0 });
  clock.advance(1000);
  await flush();
  assert.deepEqual(membership.live(), ["a", "b", "c"]);
  assert.equal(changes, 1);
  assert.deepEqual(registry.rows.get("b")?.load, { apps: 0, containers: 0, inFlight: 0, queued: 0 });
  assert.equal(membership.share(3, "salt"), 1, "a third of three");

  registry.other("a", 5000);
  clock.advance(1000);
  await flush();
  assert.deepEqual(membership.live(), ["b", "c"]);
  assert.equal(changes, 2);
  clock.advance(1000);
  await flush();
  assert.equal(changes, 2, "no change, no call");
});

test("a registry that cannot be read keeps the last view: nobody is taken for dead during an outage", async () => {
  const registry = new MemoryRegistry();
  const clock = new FakeClock();
  registry.other("a", 0);
  const { membership } = await member(registry, clock);
  registry.down = true;
  for (let i = 0; i < 10; i += 1) {
    clock.advance(1000);
    await flush();
  }
  assert.deepEqual(membership.live(), ["a", "b"]);
  registry.down = false;
  registry.rows.delete("a");
  clock.advance(1000);
  await flush();
  assert.deepEqual(membership.live(), ["b"], "caught up once the registry answers");
});

test("an id that another live node holds at another URL is refused; the same URL is a restart and is welcome", async () => {
  const registry = new MemoryRegistry();
  const clock = new FakeClock();
  registry.other("b", 200, "http://elsewhere");
  await assert.rejects(member(registry, clock), /node id "b" is already live at http:\/\/elsewhere/);
  registry.other("b", 200, "http://b");
  const { membership } = await member(registry, clock);
  assert.deepEqual(membership.live(), ["b"]);
  assert.throws(() => new Membership({ registry, id: "Not Valid", load: () => ({ apps: 0, containers: 0, inFlight: 0, queued: 0 }), clock, logger }), /node id/);
});

test("an id whose recorded instance is known to have ended (a server killed on this machine) is taken back at once", async () => {
  const registry = new MemoryRegistry();
  const clock = new FakeClock();
  registry.other("b", 200, "http://elsewhere");
  const asked: string[] = [];
  const join = (gone: boolean) =>
    new Membership({
      registry,
      id: "b",
      load: () => ({ apps: 0, containers: 0, inFlight: 0, queued: 0 }),
      instance: "mine",
      instanceGone: (instance) => (asked.push(instance), gone),
      clock,
      logger,
    }).join("http://b");
  await assert.rejects(join(false), /already live/, "an instance still running keeps its id");
  await join(true);
  assert.deepEqual(asked, ["x", "x"]);
  assert.equal(registry.rows.get("b")?.instance, "mine");
  assert.equal(registry.rows.get("b")?.url, "http://b");
});

test("leaving removes the node's row and stops its heartbeats", async () => {
  const registry = new MemoryRegistry();
  const clock = new FakeClock();
  const { membership } = await member(registry, clock);
  assert.ok(registry.rows.has("b"));
  await membership.leave();
  assert.equal(registry.rows.has("b"), false);
  clock.advance(5000);
  await flush();
  assert.equal(registry.rows.has("b"), false, "no heartbeat after leaving");
});
