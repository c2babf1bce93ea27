/**
 * Dashboard sessions: who a browser is signed in as. A session is created
 * by signing in with an API token (or, on `berth serve`, by opening the
 * printed dashboard link). The browser holds nothing but the session's
 * random id, in an HttpOnly, SameSite=Strict cookie; the session itself
 * lives in the state store every node shares (`berth serve`: in its
 * memory), so a browser is signed in on whichever node answers, signing
 * out on one node signs out on all, and a restart keeps sessions.
 *
 * What the database holds of a session gives its reader nothing to act
 * with: the id only as its SHA-256 (the cookie cannot be made from it),
 * the credential the session acts with and the one-time message sealed
 * with the platform's secrets key (AES-256-GCM, bound to the row, so a
 * sealed value copied onto another row does not open). The CSRF token is
 * not stored at all: it is an HMAC of the session id, which every node
 * derives again from the cookie.
 *
 * The session keeps the credential it was made with, so every request can
 * check it again (a revoked token ends its sessions at once, on every
 * node, since each keeps the valid tokens in memory through the store's
 * change feed) and the dashboard's actions go to the control API with it.
 *
 * Ages are on the wall clock (epoch ms), the one clock nodes share.
 */
import { createHmac, hash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Sealer, SessionRow, SessionRows } from "./sources.js";

/** Who the browser acts as: the same shape as the control API's principal. */
export interface SignedIn {
  /** The API token's id, or "local" for `berth serve`'s link. */
  tokenId: string;
  workspace: string;
  admin: boolean;
}

/** A one-time message shown on the next page (the result of an action, a token's secret right after it was created). */
export interface Flash {
  kind: "ok" | "error" | "secret";
  message: string;
  /** A value shown once, to copy (a new token). */
  secret?: string;
}

export interface Session {
  /** The cookie's value. Never stored. */
  readonly id: string;
  /** SHA-256 of `id`: the session's key in the store. */
  readonly idHash: Buffer;
  /** What forms carry back in `_csrf` and scripts in `x-csrf-token`. */
  readonly csrf: string;
  /** The API token (or the serve session token) the session acts with. Never sent to the browser. */
  readonly credential: string;
  principal: SignedIn;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
  /** Milliseconds since the epoch, as last written (it lags by up to TOUCH_MS). */
  readonly seenAt: number;
  /** The sealed one-time message the row held when it was read, for `takeFlash`. */
  readonly pendingFlash: Buffer | null;
}

export interface SessionLimits {
  /** A session unused this long (ms) ends. Default 12 h. */
  idleMs?: number;
  /** A session ends this long (ms) after sign-in, used or not. Default 7 days. */
  maxAgeMs?: number;
  /** Sessions kept at most, all nodes together; the least recently used go first. Default 10 000. */
  max?: number;
}

export interface SessionsOptions {
  /** Where sessions live: the shared state store. */
  rows: SessionRows;
  /** The platform's secrets key, for the credential and the flash. */
  sealer: Sealer;
  /** Milliseconds since the epoch. Default Date.now (tests pass a fake clock's). */
  now?: () => number;
  limits?: SessionLimits;
}

const HOUR = 3_600_000;
/**
 * Milliseconds a session's `seenAt` may lag before a request writes it
 * again: a page view then costs one indexed read and no write, at most a
 * write a minute per session. The idle timeout is hours, so a session may
 * end up to this much earlier than `idleMs` after its real last use.
 */
export const TOUCH_MS = 60_000;
/** Milliseconds between two prunings of expired sessions by one node (each sign-in also prunes). */
export const PRUNE_MS = 10 * 60_000;
/** What a session id looks like (randomToken): anything else is no session, without asking the store. */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

/** What the sealed part of a row holds. */
interface Sealed {
  credential: string;
  principal: SignedIn;
}

export class Sessions {
  private readonly rows: SessionRows;
  private readonly sealer: Sealer;
  private readonly now: () => number;
  private readonly idleMs: number;
  private readonly maxAgeMs: number;
  private readonly max: number;
  private prunedAt = Number.NEGATIVE_INFINITY;

  constructor(options: SessionsOptions) {
    this.rows = options.rows;
    this.sealer = options.sealer;
    this.now = options.now ?? Date.now;
    const limits = options.limits ?? {};
    this.idleMs = limits.idleMs ?? 12 * HOUR;
    this.maxAgeMs = limits.maxAgeMs ?? 7 * 24 * HOUR;
    this.max = limits.max ?? 10_000;
  }

  async create(credential: string, principal: SignedIn): Promise<Session> {
    const id = randomToken();
    const idHash = hashId(id);
    const now = this.now();
    const payload: Sealed = { credential, principal };
    const row: SessionRow = { idHash, sealed: this.sealer.seal(JSON.stringify(payload), rowContext(idHash)), flash: null, createdAt: now, seenAt: now };
    await this.rows.insertSession(row);
    // Sign-ins are rare (each is a control API call too): each one holds the sessions to their bound.
    await this.prune(now);
    return toSession(id, row, payload);
  }

  /**
   * The live session with this cookie value, or undefined: malformed,
   * unknown, idle too long, too old, or sealed with another key.
   */
  async get(id: string | undefined): Promise<Session | undefined> {
    if (id === undefined || !SESSION_ID.test(id)) return undefined;
    const now = this.now();
    if (now - this.prunedAt >= PRUNE_MS) await this.prune(now);
    const idHash = hashId(id);
    const row = await this.rows.getSession(idHash);
    if (!row) return undefined;
    const payload = now - row.seenAt > this.idleMs || now - row.createdAt > this.maxAgeMs ? undefined : this.unseal(row);
    if (!payload) {
      await this.rows.deleteSession(idHash);
      return undefined;
    }
    if (now - row.seenAt >= TOUCH_MS) {
      await this.rows.touchSession(idHash, now);
      row.seenAt = now;
    }
    return toSession(id, row, payload);
  }

  /** Ends the session (signing out, or a token no longer valid), on every node. */
  async delete(session: Session): Promise<void> {
    await this.rows.deleteSession(session.idHash);
  }

  /** Ends the session a cookie names, if it is one (a new sign-in replacing it). */
  async deleteById(id: string): Promise<void> {
    if (SESSION_ID.test(id)) await this.rows.deleteSession(hashId(id));
  }

  /** Leaves `flash` for the session's next page, whichever node serves it. */
  async setFlash(session: Session, flash: Flash): Promise<void> {
    await this.rows.setSessionFlash(session.idHash, this.sealer.seal(JSON.stringify(flash), flashContext(session.idHash)));
  }

  /** The one-time message the session had when read, taken (no other page, on any node, shows it again). */
  async takeFlash(session: Session): Promise<Flash | undefined> {
    const sealed = session.pendingFlash;
    if (!sealed || !(await this.rows.takeSessionFlash(session.idHash, sealed))) return undefined;
    try {
      return JSON.parse(this.sealer.open(sealed, flashContext(session.idHash))) as Flash;
    } catch {
      return undefined;
    }
  }

  /** Deletes expired sessions, and the least recently used beyond the bound; returns how many. */
  async prune(now = this.now()): Promise<number> {
    this.prunedAt = now;
    return this.rows.pruneSessions(now - this.idleMs, now - this.maxAgeMs, this.max);
  }

  /** The sealed part of a row, or undefined when it does not open (another key, another row's value) or is not a session's. */
  private unseal(row: SessionRow): Sealed | undefined {
    try {
      const payload = JSON.parse(this.sealer.open(row.sealed, rowContext(row.idHash))) as Partial<Sealed>;
      const principal = payload.principal;
      if (typeof payload.credential !== "string" || typeof principal?.tokenId !== "string" || typeof principal.workspace !== "string" || typeof principal.admin !== "boolean") {
        return undefined;
      }
      return { credential: payload.credential, principal: { tokenId: principal.tokenId, workspace: principal.workspace, admin: principal.admin } };
    } catch {
      return undefined;
    }
  }
}

function toSession(id: string, row: SessionRow, payload: Sealed): Session {
  return {
    id,
    idHash: row.idHash,
    csrf: csrfOf(id),
    credential: payload.credential,
    principal: payload.principal,
    createdAt: row.createdAt,
    seenAt: row.seenAt,
    pendingFlash: row.flash,
  };
}

/** SHA-256 of a session id: a 256-bit random id needs no slow hash. */
function hashId(id: string): Buffer {
  return hash("sha256", id, "buffer");
}

/**
 * The session's CSRF token: an HMAC keyed by the session id, so any node
 * that reads the cookie derives the same token, and the store (which holds
 * only the id's hash) cannot.
 */
function csrfOf(id: string): string {
  return createHmac("sha256", id).update("berth dashboard csrf v1").digest("base64url");
}

const rowContext = (idHash: Buffer) => `session:${idHash.toString("hex")}`;
const flashContext = (idHash: Buffer) => `flash:${idHash.toString("hex")}`;

/** Whether `given` is the session's CSRF token (constant time). */
export function csrfMatches(session: Session, given: string | undefined): boolean {
  return given !== undefined && sameString(given, session.csrf);
}

/** Compares two secrets in constant time (for equal lengths; a length difference is no secret). */
export function sameString(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** 256 random bits, base64url. */
export function randomToken(): string {
  return randomBytes(32).toString("base64url");
}
