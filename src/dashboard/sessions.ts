/**
 * Dashboard sessions: who a browser is signed in as. A session is created
 * by signing in with an API token (or, on `berth serve`, by opening the
 * printed dashboard link) and lives only in this process's memory; the
 * browser holds nothing but its random id, in an HttpOnly, SameSite=Strict
 * cookie. The session keeps the credential it was made with, so every
 * request can check it again (a revoked token ends its sessions at once)
 * and the dashboard's actions go to the control API with it. Each session
 * has its own CSRF token for the forms of its pages.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { Clock } from "../clock/clock.js";

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
  readonly id: string;
  /** What forms carry back in `_csrf` and scripts in `x-csrf-token`. */
  readonly csrf: string;
  /** The API token (or the serve session token) the session acts with. Never sent to the browser. */
  readonly credential: string;
  principal: SignedIn;
  /** Monotonic ms (the clock's). */
  readonly createdAt: number;
  seenAt: number;
  flash?: Flash;
  /** An admin's workspace list, and when (monotonic ms) it was read: pages reuse it for a few seconds. */
  workspaces?: { names: string[]; at: number };
}

export interface SessionLimits {
  /** A session unused this long (ms) ends. Default 12 h. */
  idleMs?: number;
  /** A session ends this long (ms) after sign-in, used or not. Default 7 days. */
  maxAgeMs?: number;
  /** Sessions kept at most; the least recently used goes first. Default 10 000. */
  max?: number;
}

const HOUR = 3_600_000;

export class Sessions {
  /** By id, least recently used first (a Map keeps insertion order; a used session is moved to the end). */
  private readonly sessions = new Map<string, Session>();
  private readonly idleMs: number;
  private readonly maxAgeMs: number;
  private readonly max: number;

  constructor(
    private readonly clock: Clock,
    limits: SessionLimits = {},
  ) {
    this.idleMs = limits.idleMs ?? 12 * HOUR;
    this.maxAgeMs = limits.maxAgeMs ?? 7 * 24 * HOUR;
    this.max = limits.max ?? 10_000;
  }

  create(credential: string, principal: SignedIn): Session {
    const now = this.clock.now();
    const session: Session = { id: randomToken(), csrf: randomToken(), credential, principal, createdAt: now, seenAt: now };
    this.sessions.set(session.id, session);
    for (const oldest of this.sessions.keys()) {
      if (this.sessions.size <= this.max) break;
      this.sessions.delete(oldest);
    }
    return session;
  }

  /** The live session with this id (marked used), or undefined: unknown, idle too long or too old. */
  get(id: string | undefined): Session | undefined {
    if (id === undefined) return undefined;
    const session = this.sessions.get(id);
    if (!session) return undefined;
    const now = this.clock.now();
    if (now - session.seenAt > this.idleMs || now - session.createdAt > this.maxAgeMs) {
      this.sessions.delete(id);
      return undefined;
    }
    session.seenAt = now;
    this.sessions.delete(id);
    this.sessions.set(id, session);
    return session;
  }

  delete(id: string): void {
    this.sessions.delete(id);
  }

  get size(): number {
    return this.sessions.size;
  }
}

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
