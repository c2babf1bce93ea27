/**
 * The security services of a state directory, assembled in one place: the
 * SQLite security store, the token service and the secret service with its
 * key file. The server builds them here at start, and so do the CLI's token
 * and secret verbs when they work on a state directory without a server
 * (`--home`), so both always agree on where things are.
 */
import { join } from "node:path";
import { TokenService } from "../control/auth.js";
import { loadOrCreateKey } from "../control/crypto.js";
import { SecretService } from "../control/secrets.js";
import { SqliteSecurityStore } from "../control/store/security-sqlite.js";
import { prepareHome } from "./home.js";

export interface SecurityServices {
  store: SqliteSecurityStore;
  tokens: TokenService;
  /** Opened on first use: the key file is read (or created) only when a secret is touched. */
  readonly secrets: SecretService;
  close(): void;
}

/** `<home>/secrets.key`: where the secrets key lives unless configured elsewhere. */
export function defaultKeyFile(home: string): string {
  return join(home, "secrets.key");
}

/** The security services over `<home>/state.db` and the key file (default `defaultKeyFile(home)`). */
export function openSecurity(home: string, keyFile = defaultKeyFile(home)): SecurityServices {
  prepareHome(home);
  const store = new SqliteSecurityStore(join(home, "state.db"));
  let secrets: SecretService | undefined;
  return {
    store,
    tokens: new TokenService(store),
    get secrets() {
      return (secrets ??= new SecretService(store, loadOrCreateKey(keyFile)));
    },
    close: () => store.close(),
  };
}
