/**
 * Tokens and secrets without a server: the token and secret verbs work on
 * a state directory itself. Used with `--home DIR`, and when no server is
 * configured and none answers on the default port, so that `berth secret
 * create` before `berth serve` works the way `berth serve` does, on
 * `$BERTH_HOME`. Access to the directory is admin access: whoever can read
 * it can read the key file. The services are the server's own, assembled by
 * server/security.ts; this only answers as the API client would.
 */
import { BerthError } from "../errors/codes.js";
import { defaultKeyFile, withStateDirectory, type SecurityServices } from "../server/security.js";
import type { IssuedToken, SecretView, TokenRequest, TokenView } from "../wire/control-api.js";
import type { ApiClient } from "./client.js";

/** What the token and secret verbs need, from a server or from a state directory. */
export type SecurityClient = Pick<ApiClient, "createToken" | "listTokens" | "revokeToken" | "createSecret" | "listSecrets" | "deleteSecret">;

export class LocalSecurity implements SecurityClient {
  constructor(
    readonly home: string,
    /** Workspace of every call (the embedded platform's is "local"). */
    private readonly workspace: string,
  ) {}

  async createToken(request: TokenRequest): Promise<IssuedToken> {
    return this.with(async ({ tokens }) => {
      const workspace = request.workspace ?? this.workspace;
      return request.kind === "proxy"
        ? tokens.createProxyToken({ workspace, name: request.name })
        : tokens.createApiToken({ workspace, name: request.name, admin: request.admin });
    });
  }

  async listTokens(all = false): Promise<TokenView[]> {
    return this.with(({ tokens }) => tokens.list(all ? undefined : this.workspace));
  }

  async revokeToken(id: string): Promise<void> {
    return this.with(async ({ tokens }) => {
      if (!(await tokens.revoke(id))) throw new BerthError("not_found", `no valid token with id "${id}"`);
    });
  }

  async createSecret(name: string, values: Record<string, string>): Promise<SecretView> {
    return this.with(({ secrets }) => secrets.create(this.workspace, name, values));
  }

  async listSecrets(): Promise<SecretView[]> {
    return this.with(({ secrets }) => secrets.list(this.workspace));
  }

  async deleteSecret(name: string): Promise<void> {
    return this.with(async ({ secrets }) => {
      if (!(await secrets.delete(this.workspace, name))) throw new BerthError("not_found", `no secret named "${name}" in workspace "${this.workspace}"`);
    });
  }

  private with<T>(use: (services: SecurityServices) => Promise<T>): Promise<T> {
    return withStateDirectory(this.home, secretKeyFile(this.home), use);
  }
}

/** The secrets key: `--secret-key-file`, else `BERTH_SECRET_KEY_FILE`, else `<home>/secrets.key` (server and CLI agree). */
export function secretKeyFile(home: string, flag?: string): string {
  return flag ?? (process.env.BERTH_SECRET_KEY_FILE || undefined) ?? defaultKeyFile(home);
}
