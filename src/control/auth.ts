/**
 * Workspaces' credentials: API tokens for the control API and proxy-auth
 * tokens for protected endpoints. Issues them (the secret is shown once and
 * only its hash is kept), lists them without secrets, revokes them, and
 * checks presented credentials.
 *
 * Valid tokens are held in an in-memory index by id, so a check of a known
 * token costs one map lookup and one SHA-256, and an unknown id one map
 * lookup: no store read per request, whatever a client makes up. Tokens
 * written to the store by another process (`berth token create --home`,
 * another gateway) are picked up by re-reading the index, at most once per
 * REVALIDATE_MS. Revoking through this service removes the entry in the
 * same call, so the very next request is refused; a revocation written to
 * the store by another process is seen within REVALIDATE_MS, because a
 * cached entry older than that is read again (one read per token per
 * second, not per request).
 */
import { BerthError } from "../errors/codes.js";
import { checkName } from "../sdk/names.js";
import { hashSecret, randomId, randomSecret, secretMatches } from "./crypto.js";
import type { TokenKind, TokenView } from "../wire/control-api.js";
import type { SecurityStore, TokenRecord } from "./store/security.js";

/** Who a valid API token speaks for. */
export interface Principal {
  tokenId: string;
  workspace: string;
  admin: boolean;
}

export interface IssuedApiToken extends TokenView {
  /** `bt_<id>_<secret>`: what `--token` and `BERTH_TOKEN` take. Shown once. */
  token: string;
}

export interface IssuedProxyToken extends TokenView {
  /** `wk-…`, sent as `Berth-Key`. */
  key: string;
  /** `ws-…`, sent as `Berth-Secret`. Shown once. */
  secret: string;
}

const API_PREFIX = "bt_";
const API_ID_LENGTH = API_PREFIX.length + 16;
const PROXY_KEY_PREFIX = "wk-";
const PROXY_SECRET_PREFIX = "ws-";
const MAX_NAME = 100;

export class TokenService {
  /** Valid tokens by id, with the time (`now()`) each was last read from the store. */
  private readonly valid = new Map<string, { record: TokenRecord; readAt: number }>();
  /** When the index last read every token from the store; the first unknown id reads it again. */
  private indexedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly store: SecurityStore,
    private readonly now: () => number = Date.now,
  ) {
    const readAt = now();
    for (const record of store.listTokens()) if (record.revokedAt === null) this.valid.set(record.id, { record, readAt });
  }

  /** True once any valid API token exists (a fresh server has none and bootstraps one). */
  hasApiTokens(): boolean {
    for (const { record } of this.valid.values()) if (record.kind === "api") return true;
    return false;
  }

  createApiToken(input: { workspace: string; admin?: boolean; name?: string }): IssuedApiToken {
    const id = randomId(API_PREFIX);
    const secret = randomSecret("");
    const record = this.insert(id, "api", input.workspace, input.admin ?? false, input.name, secret);
    return { ...view(record), token: `${id}_${secret}` };
  }

  createProxyToken(input: { workspace: string; name?: string }): IssuedProxyToken {
    const key = randomId(PROXY_KEY_PREFIX);
    const secret = randomSecret(PROXY_SECRET_PREFIX);
    const record = this.insert(key, "proxy", input.workspace, false, input.name, secret);
    return { ...view(record), key, secret };
  }

  list(workspace?: string): TokenView[] {
    return this.store.listTokens(workspace).map(view);
  }

  get(id: string): TokenView | undefined {
    const token = this.store.getToken(id);
    return token && view(token);
  }

  /** Revokes at once; false when no valid token has that id. */
  revoke(id: string): boolean {
    this.valid.delete(id);
    return this.store.revokeToken(id, this.now());
  }

  /** The principal of `bt_<id>_<secret>`, or undefined for anything else (unknown, revoked, malformed). */
  authenticate(token: string | undefined): Principal | undefined {
    if (token === undefined || !token.startsWith(API_PREFIX) || token[API_ID_LENGTH] !== "_") return undefined;
    const record = this.lookup(token.slice(0, API_ID_LENGTH));
    if (record === undefined || record.kind !== "api") return undefined;
    if (!secretMatches(token.slice(API_ID_LENGTH + 1), record.secretHash)) return undefined;
    return { tokenId: record.id, workspace: record.workspace, admin: record.admin };
  }

  /** Whether `Berth-Key`/`Berth-Secret` are a valid proxy token of `workspace`. */
  checkProxy(workspace: string, key: string | undefined, secret: string | undefined): boolean {
    if (key === undefined || secret === undefined) return false;
    const record = this.lookup(key);
    // The secret is hashed even for an unknown key, so timing does not tell which keys exist.
    const matches = secretMatches(secret, record?.secretHash ?? UNKNOWN_HASH);
    return record !== undefined && matches && record.kind === "proxy" && record.workspace === workspace;
  }

  /**
   * A valid token by id, from the in-memory index. A known id is read again
   * from the store once its entry is a second old (a revocation by another
   * process). An id the index does not hold costs nothing more, unless the
   * index was last read from the store over a second ago: then it is read
   * again, so a token issued by `berth token create --home` while the server
   * runs works within a second, and a flood of made-up keys costs one map
   * lookup each and the store one read per second.
   */
  private lookup(id: string): TokenRecord | undefined {
    const now = this.now();
    const cached = this.valid.get(id);
    if (cached === undefined) {
      if (now - this.indexedAt < REVALIDATE_MS) return undefined;
      this.reindex(now);
      return this.valid.get(id)?.record;
    }
    if (now - cached.readAt < REVALIDATE_MS) return cached.record;
    const stored = this.store.getToken(id);
    if (stored === undefined || stored.revokedAt !== null) {
      this.valid.delete(id);
      return undefined;
    }
    this.valid.set(id, { record: stored, readAt: now });
    return stored;
  }

  /** Adds the valid tokens the store has and the index lacks (revocations are caught per token, above). */
  private reindex(now: number): void {
    this.indexedAt = now;
    for (const record of this.store.listTokens()) {
      if (record.revokedAt === null && !this.valid.has(record.id)) this.valid.set(record.id, { record, readAt: now });
    }
  }

  private insert(id: string, kind: TokenKind, workspace: string, admin: boolean, name: string | undefined, secret: string): TokenRecord {
    checkName("workspace", workspace);
    if (name !== undefined && name.length > MAX_NAME) throw new BerthError("invalid_input", `token names are limited to ${MAX_NAME} characters`);
    const record: TokenRecord = {
      id,
      kind,
      workspace,
      admin,
      name: name ?? "",
      secretHash: hashSecret(secret),
      createdAt: this.now(),
      revokedAt: null,
    };
    this.store.insertToken(record);
    this.valid.set(id, { record, readAt: this.now() });
    return record;
  }
}

const UNKNOWN_HASH = hashSecret(PROXY_SECRET_PREFIX);

/** Milliseconds a cached token is trusted before the store is asked again (revocations by other processes). */
const REVALIDATE_MS = 1_000;

function view(token: TokenRecord): TokenView {
  return {
    id: token.id,
    kind: token.kind,
    workspace: token.workspace,
    admin: token.admin,
    name: token.name,
    createdAt: token.createdAt,
    revokedAt: token.revokedAt,
  };
}
