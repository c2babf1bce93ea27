/**
 * Workspaces' credentials: API tokens for the control API and proxy-auth
 * tokens for protected endpoints. Issues them (the secret is shown once and
 * only its hash is kept), lists them without secrets, revokes them, and
 * checks presented credentials.
 *
 * Every valid token is held in memory by id, so a check costs one map
 * lookup and one SHA-256, and the gateway never waits on the database.
 * The memory is kept fresh by the store's change feed: a token created or
 * revoked anywhere (another node, `berth token create --home`) is read
 * again by id when its change arrives (`refresh`), and everything is read
 * again when the feed may have missed changes (`reload`). Revoking through
 * this service removes the token from memory in the same call, so the very
 * next request here is refused; other nodes refuse it once the change
 * reaches them (NOTIFY: milliseconds; the periodic reload bounds it).
 *
 * An API token this node has not heard of yet makes it read every token
 * again, at most once per REINDEX_MS (the control API is not a hot path),
 * so a token created through one node works at once through another; a
 * flood of made-up ids costs the store one read per second. A proxy key is
 * never looked up: an unknown one costs one map lookup.
 */
import { BerthError } from "../errors/codes.js";
import { checkName } from "../sdk/names.js";
import { hashSecret, randomId, randomSecret, secretMatches } from "./crypto.js";
import type { TokenKind, TokenView } from "../wire/control-api.js";
import type { SecurityStore, TokenRecord } from "./store/types.js";

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
  /** Valid tokens by id. */
  private readonly valid = new Map<string, TokenRecord>();
  /** When every token was last read from the store (`now()`); an unknown API id reads them again after REINDEX_MS. */
  private indexedAt = Number.NEGATIVE_INFINITY;

  private constructor(
    private readonly store: SecurityStore,
    private readonly now: () => number,
  ) {}

  /** The service with every valid token of the store in memory. */
  static async open(store: SecurityStore, now: () => number = Date.now): Promise<TokenService> {
    const service = new TokenService(store, now);
    await service.reload();
    return service;
  }

  /** True once any valid API token exists (a fresh server has none and bootstraps one). */
  hasApiTokens(): boolean {
    for (const record of this.valid.values()) if (record.kind === "api") return true;
    return false;
  }

  async createApiToken(input: { workspace: string; admin?: boolean; name?: string }): Promise<IssuedApiToken> {
    const id = randomId(API_PREFIX);
    const secret = randomSecret("");
    const record = this.record(id, "api", input.workspace, input.admin ?? false, input.name, secret);
    await this.store.insertToken(record);
    this.valid.set(id, record);
    return { ...view(record), token: `${id}_${secret}` };
  }

  /**
   * The admin token of a fresh platform: created only if no valid API
   * token exists anywhere in the store (several nodes may start at once);
   * undefined when one does.
   */
  async bootstrapAdminToken(workspace: string): Promise<string | undefined> {
    const id = randomId(API_PREFIX);
    const secret = randomSecret("");
    const record = this.record(id, "api", workspace, true, "bootstrap admin", secret);
    if (!(await this.store.insertFirstApiToken(record))) return undefined;
    this.valid.set(id, record);
    return `${id}_${secret}`;
  }

  async createProxyToken(input: { workspace: string; name?: string }): Promise<IssuedProxyToken> {
    const key = randomId(PROXY_KEY_PREFIX);
    const secret = randomSecret(PROXY_SECRET_PREFIX);
    const record = this.record(key, "proxy", input.workspace, false, input.name, secret);
    await this.store.insertToken(record);
    this.valid.set(key, record);
    return { ...view(record), key, secret };
  }

  async list(workspace?: string): Promise<TokenView[]> {
    return (await this.store.listTokens(workspace)).map(view);
  }

  async get(id: string): Promise<TokenView | undefined> {
    const token = await this.store.getToken(id);
    return token && view(token);
  }

  /** Revokes at once; false when no valid token has that id. */
  async revoke(id: string): Promise<boolean> {
    this.valid.delete(id);
    return this.store.revokeToken(id, this.now());
  }

  /**
   * The principal of `bt_<id>_<secret>`, or undefined for anything else
   * (unknown, revoked, malformed). A token this node has not heard of yet
   * (made through another node a moment ago) makes it read every token
   * again, at most once per REINDEX_MS.
   */
  async authenticate(token: string | undefined): Promise<Principal | undefined> {
    if (token === undefined || !token.startsWith(API_PREFIX) || token[API_ID_LENGTH] !== "_") return undefined;
    if (!this.valid.has(token.slice(0, API_ID_LENGTH)) && this.now() - this.indexedAt >= REINDEX_MS) await this.reload();
    return this.principalOf(token);
  }

  /**
   * `authenticate` from memory only: for checks on every request of a
   * session that `authenticate` let in (the dashboard's), where a token
   * unknown here can only be a revoked one.
   */
  principalOf(token: string | undefined): Principal | undefined {
    if (token === undefined || !token.startsWith(API_PREFIX) || token[API_ID_LENGTH] !== "_") return undefined;
    const id = token.slice(0, API_ID_LENGTH);
    const record = this.valid.get(id);
    if (record === undefined || record.kind !== "api") return undefined;
    if (!secretMatches(token.slice(API_ID_LENGTH + 1), record.secretHash)) return undefined;
    return { tokenId: record.id, workspace: record.workspace, admin: record.admin };
  }

  /** Whether `Berth-Key`/`Berth-Secret` are a valid proxy token of `workspace`. From memory only. */
  checkProxy(workspace: string, key: string | undefined, secret: string | undefined): boolean {
    if (key === undefined || secret === undefined) return false;
    const record = this.valid.get(key);
    // The secret is hashed even for an unknown key, so timing does not tell which keys exist.
    const matches = secretMatches(secret, record?.secretHash ?? UNKNOWN_HASH);
    return record !== undefined && matches && record.kind === "proxy" && record.workspace === workspace;
  }

  /** Reads one token again (its change arrived). */
  async refresh(id: string): Promise<void> {
    const stored = await this.store.getToken(id);
    if (stored === undefined || stored.revokedAt !== null) this.valid.delete(id);
    else this.valid.set(id, stored);
  }

  /** Reads every token again. */
  async reload(): Promise<void> {
    this.indexedAt = this.now();
    const records = await this.store.listTokens();
    this.valid.clear();
    for (const record of records) if (record.revokedAt === null) this.valid.set(record.id, record);
  }

  private record(id: string, kind: TokenKind, workspace: string, admin: boolean, name: string | undefined, secret: string): TokenRecord {
    checkName("workspace", workspace);
    if (name !== undefined && name.length > MAX_NAME) throw new BerthError("invalid_input", `token names are limited to ${MAX_NAME} characters`);
    return { id, kind, workspace, admin, name: name ?? "", secretHash: hashSecret(secret), createdAt: this.now(), revokedAt: null };
  }
}

const UNKNOWN_HASH = hashSecret(PROXY_SECRET_PREFIX);

/** Milliseconds between two full reads of the tokens caused by unknown API ids. */
const REINDEX_MS = 1_000;

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
