/**
 * Tokens and secrets without a server: the CLI opens a state directory
 * itself. Used with `--home DIR`, and when no server is configured and none
 * answers on the default port, so that `berth secret create` before `berth
 * serve` works the way `berth serve` does, on `$BERTH_HOME`. Access to the
 * directory is admin access: whoever can read it can read the key file.
 */
import { join } from "node:path";
import { TokenService } from "../control/auth.js";
import { loadOrCreateKey } from "../control/crypto.js";
import { SecretService } from "../control/secrets.js";
import { SqliteSecurityStore } from "../control/store/security-sqlite.js";
import { BerthError } from "../errors/codes.js";
import { prepareHome } from "../server/home.js";
import type { ApiClient, IssuedToken, SecretSummary, TokenSummary } from "./client.js";

/** What the token and secret verbs need, from a server or from a state directory. */
export type SecurityClient = Pick<ApiClient, "createToken" | "listTokens" | "revokeToken" | "createSecret" | "listSecrets" | "deleteSecret">;

export class LocalSecurity implements SecurityClient {
  constructor(
    readonly home: string,
    /** Workspace of every call (the embedded platform's is "local"). */
    private readonly workspace: string,
  ) {}

  async createToken(request: { kind: "api" | "proxy"; name?: string; admin?: boolean; workspace?: string }): Promise<IssuedToken> {
    return this.with(({ tokens }) => {
      const workspace = request.workspace ?? this.workspace;
      return request.kind === "proxy"
        ? tokens.createProxyToken({ workspace, name: request.name })
        : tokens.createApiToken({ workspace, name: request.name, admin: request.admin });
    });
  }

  async listTokens(all = false): Promise<TokenSummary[]> {
    return this.with(({ tokens }) => tokens.list(all ? undefined : this.workspace));
  }

  async revokeToken(id: string): Promise<void> {
    this.with(({ tokens }) => {
      if (!tokens.revoke(id)) throw new BerthError("not_found", `no valid token with id "${id}"`);
    });
  }

  async createSecret(name: string, values: Record<string, string>): Promise<SecretSummary> {
    return this.with(({ secrets }) => secrets.create(this.workspace, name, values));
  }

  async listSecrets(): Promise<SecretSummary[]> {
    return this.with(({ secrets }) => secrets.list(this.workspace));
  }

  async deleteSecret(name: string): Promise<void> {
    this.with(({ secrets }) => {
      if (!secrets.delete(this.workspace, name)) throw new BerthError("not_found", `no secret named "${name}" in workspace "${this.workspace}"`);
    });
  }

  private with<T>(use: (services: { tokens: TokenService; secrets: SecretService }) => T): T {
    prepareHome(this.home);
    const store = new SqliteSecurityStore(join(this.home, "state.db"));
    const keyFile = secretKeyFile(this.home);
    try {
      // The key file is only read (or created) when a secret is touched.
      let secrets: SecretService | undefined;
      return use({
        tokens: new TokenService(store),
        get secrets() {
          return (secrets ??= new SecretService(store, loadOrCreateKey(keyFile)));
        },
      });
    } finally {
      store.close();
    }
  }
}

/** The secrets key: `--secret-key-file`, else `BERTH_SECRET_KEY_FILE`, else `<home>/secrets.key` (server and CLI agree). */
export function secretKeyFile(home: string, flag?: string): string {
  return flag ?? (process.env.BERTH_SECRET_KEY_FILE || undefined) ?? join(home, "secrets.key");
}
