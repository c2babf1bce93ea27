/**
 * The dashboard's sessions (src/dashboard/sessions.ts) over a real state
 * store, on a fake wall clock: their lifetimes, the pruning and the bound,
 * how seldom they write, and what the database holds of them (a hash of
 * the id, sealed values). Run on SQLite by test/dashboard-sessions.test.ts
 * and on PostgreSQL by test/store-postgres.test.ts. Two `Sessions` over
 * two connections to one database are two nodes.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { test, type TestContext } from "node:test";
import { sealer } from "../../src/control/crypto.js";
import type { Store } from "../../src/control/store/types.js";
import { csrfMatches, PRUNE_MS, Sessions, TOUCH_MS, type SessionLimits } from "../../src/dashboard/sessions.js";
import { FakeClock } from "./fake-clock.js";

export interface SessionDatabase {
  /** A connection to this database (another one is another node). */
  open(): Promise<Store>;
  /** Every row of `dashboard_sessions` as the database holds it, read behind the store's back. */
  rawRows(): Promise<Record<string, unknown>[]>;
}

export interface SessionEngine {
  name: string;
  /** A fresh, empty database, gone after the test. */
  fresh(t: TestContext): Promise<SessionDatabase>;
}

const HOUR = 3_600_000;
const MINUTE = 60_000;
const principal = { tokenId: "bt_0123456789abcdef", workspace: "w", admin: false };
const credential = `bt_0123456789abcdef_${randomBytes(32).toString("base64url")}`;

export function sessionSuite(engine: SessionEngine): void {
  /** A node's sessions over its own connection to `db`, on `clock`, sealed with `key`. */
  async function node(t: TestContext, db: SessionDatabase, clock: FakeClock, key: Buffer, limits?: SessionLimits): Promise<Sessions> {
    const store = await db.open();
    t.after(() => store.close());
    return new Sessions({ rows: store.sessions, sealer: sealer(key, "berth-dashboard"), now: () => clock.now(), limits });
  }

  async function setup(t: TestContext, limits?: SessionLimits) {
    const db = await engine.fresh(t);
    const clock = new FakeClock(Date.UTC(2025, 0, 1));
    const key = randomBytes(32);
    return { db, clock, key, sessions: await node(t, db, clock, key, limits) };
  }

  test(`${engine.name} sessions: one ends after 12 h unused, or 7 days after sign-in however used`, async (t) => {
    const { sessions, clock, db } = await setup(t);
    const idle = await sessions.create(credential, principal);
    const busy = await sessions.create(credential, principal);
    clock.advance(11 * HOUR);
    assert.ok(await sessions.get(busy.id));
    clock.advance(HOUR + MINUTE);
    assert.equal(await sessions.get(idle.id), undefined, "unused for 12 h 1 min");
    assert.ok(await sessions.get(busy.id), "used 1 h ago");
    for (let used = 12 * HOUR; used + 11 * HOUR < 7 * 24 * HOUR; used += 11 * HOUR) {
      clock.advance(11 * HOUR);
      assert.ok(await sessions.get(busy.id), `used ${used / HOUR} h after sign-in`);
    }
    clock.advance(11 * HOUR);
    assert.equal(await sessions.get(busy.id), undefined, "older than 7 days");
    assert.equal((await db.rawRows()).length, 0, "both rows deleted when found ended");
  });

  test(`${engine.name} sessions: seenAt is written at most once a minute, not on every page`, async (t) => {
    const { sessions, clock, db } = await setup(t);
    const session = await sessions.create(credential, principal);
    const created = clock.now();
    const seenAt = async () => Number((await db.rawRows())[0]!.seen_at);
    for (let i = 0; i < 5; i += 1) {
      clock.advance(10_000);
      assert.ok(await sessions.get(session.id));
    }
    assert.equal(await seenAt(), created, "five views in 50 s wrote nothing");
    clock.advance(TOUCH_MS - 50_000);
    assert.ok(await sessions.get(session.id));
    assert.equal(await seenAt(), clock.now(), "a minute after the last write, a view writes it");
    const written = clock.now();
    clock.advance(30_000);
    assert.ok(await sessions.get(session.id));
    assert.equal(await seenAt(), written);
  });

  test(`${engine.name} sessions: expired ones are pruned every ${PRUNE_MS / MINUTE} minutes and at sign-in, not on every request; at most \`max\` are kept`, async (t) => {
    const { sessions, clock, db } = await setup(t, { max: 3 });
    const store = await db.open();
    t.after(() => store.close());
    const a = await sessions.create(credential, principal);
    // An expired session another node left behind (created 8 days ago).
    const stale = { idHash: randomBytes(32), sealed: randomBytes(64), flash: null, createdAt: clock.now() - 8 * 24 * HOUR, seenAt: clock.now() - 8 * 24 * HOUR };
    await store.sessions.insertSession(stale);
    clock.advance(PRUNE_MS / 2);
    assert.ok(await sessions.get(a.id));
    assert.equal((await db.rawRows()).length, 2, "no pruning between two rounds");
    clock.advance(PRUNE_MS / 2);
    assert.ok(await sessions.get(a.id));
    assert.equal((await db.rawRows()).length, 1, "the round came: the expired row is gone");

    // The bound: the least recently seen go first.
    clock.advance(2 * MINUTE);
    const b = await sessions.create(credential, principal);
    clock.advance(2 * MINUTE);
    const c = await sessions.create(credential, principal);
    clock.advance(2 * MINUTE);
    assert.ok(await sessions.get(a.id), "a seen last");
    const d = await sessions.create(credential, principal);
    assert.equal((await db.rawRows()).length, 3);
    assert.equal(await sessions.get(b.id), undefined, "b was the least recently seen");
    for (const kept of [a, c, d]) assert.ok(await sessions.get(kept.id));
  });

  test(`${engine.name} sessions: the database holds the id's hash and sealed values only`, async (t) => {
    const { sessions, db } = await setup(t);
    const session = await sessions.create(credential, principal);
    const secret = `bt_fedcba9876543210_${randomBytes(32).toString("base64url")}`;
    await sessions.setFlash(session, { kind: "secret", message: "Created a token.", secret });
    const rows = await db.rawRows();
    assert.equal(rows.length, 1);
    const row = rows[0]!;
    assert.deepEqual(Buffer.from(row.id_hash as Uint8Array), createHash("sha256").update(session.id).digest(), "the key is the SHA-256 of the cookie's id");
    const text = Object.values(row)
      .map((value) => (value instanceof Uint8Array ? ["utf8", "hex", "base64", "base64url"].map((encoding) => Buffer.from(value).toString(encoding as BufferEncoding)).join(" ") : String(value)))
      .join(" ");
    for (const [what, value] of [
      ["the session id", session.id],
      ["the credential", credential],
      ["the credential's secret part", credential.slice(20)],
      ["the CSRF token", session.csrf],
      ["the flash's secret", secret],
      ["the flash's message", "Created a token."],
      ["the workspace", '"w"'],
    ]) {
      assert.ok(!text.includes(value!), `${what} is not in the row`);
    }
    assert.deepEqual(Object.keys(row).sort(), ["created_at", "flash", "id_hash", "sealed", "seen_at"]);
  });

  test(`${engine.name} sessions: another node finds the session with the same CSRF token; a sign-out and a flash reach every node`, async (t) => {
    const { sessions: a, db, clock, key } = await setup(t);
    const b = await node(t, db, clock, key);
    const session = await a.create(credential, principal);
    const onB = await b.get(session.id);
    assert.ok(onB);
    assert.equal(onB.csrf, session.csrf);
    assert.ok(csrfMatches(onB, session.csrf));
    assert.ok(!csrfMatches(onB, undefined) && !csrfMatches(onB, "") && !csrfMatches(onB, session.csrf.slice(1)) && !csrfMatches(onB, `${session.csrf}x`));
    assert.equal(onB.credential, credential);
    assert.deepEqual(onB.principal, principal);
    assert.notEqual(session.id, session.csrf);
    assert.match(session.id, /^[\w-]{43}$/);

    // An action on A leaves a message; the next page, on B, shows it once.
    await a.setFlash(session, { kind: "ok", message: "Stopped hello." });
    const [first, second] = [await b.get(session.id), await a.get(session.id)];
    assert.deepEqual(await b.takeFlash(first!), { kind: "ok", message: "Stopped hello." });
    assert.equal(await a.takeFlash(second!), undefined, "read before it was taken, still shown only once");
    assert.equal(await b.takeFlash((await b.get(session.id))!), undefined);

    await b.delete(onB);
    assert.equal(await a.get(session.id), undefined, "signed out on B, signed out on A");
  });

  test(`${engine.name} sessions: a malformed, unknown or forged id, or a row sealed with another key or for another row, is no session`, async (t) => {
    const { sessions, db, clock } = await setup(t);
    for (const id of [undefined, "", "made-up", "x".repeat(43), "a".repeat(10_000), `${"a".repeat(42)}\0`, "../../etc/passwd", "é".repeat(43)]) {
      assert.equal(await sessions.get(id), undefined, JSON.stringify(id?.slice(0, 50)));
    }
    const session = await sessions.create(credential, principal);
    // A reader of the database who can also write it: a row of their own, with the victim's sealed credential.
    const store = await db.open();
    t.after(() => store.close());
    const forged = randomBytes(32).toString("base64url");
    const victim = (await store.sessions.getSession(createHash("sha256").update(session.id).digest()))!;
    await store.sessions.insertSession({ ...victim, idHash: createHash("sha256").update(forged).digest() });
    assert.equal(await sessions.get(forged), undefined, "a sealed value opens only on its own row");
    assert.ok(await sessions.get(session.id));
    // A node with another key cannot open it: to it the session does not exist.
    const other = await node(t, db, clock, randomBytes(32));
    assert.equal(await other.get(session.id), undefined);
    assert.equal((await db.rawRows()).length, 0, "rows that cannot be opened are deleted");
  });
}
