/**
 * The security services over a store, assembled in one place: the token
 * service and the secret service with its key file. The server builds them
 * here at start, and so do the CLI's token and secret verbs when they work
 * on a state directory without a server (`--home`), so both always agree
 * on where things are and on the key.
 */
import { join } from "node:path";
import { TokenService } from "../control/auth.js";
import { loadOrCreateKey } from "../control/crypto.js";
import { SecretService } from "../control/secrets.js";
import { SqliteStore } from "../control/store/sqlite.js";
import type { SecurityStore } from "../control/store/types.js";
import { prepareHome } from "./home.js";

export interface SecurityServices {
  tokens: TokenService;
  secrets: SecretService;
}

/** `<home>/secrets.key`: where the secrets key lives unless configured elsewhere. */
export function defaultKeyFile(home: string): string {
  return join(home, "secrets.key");
}

/**
 * The services over `store`; the key file is read (or created) and checked
 * against the key the store's secrets are sealed with.
 */
export async function openSecurity(store: SecurityStore, keyFile: string): Promise<SecurityServices> {
  const tokens = await TokenService.open(store);
  const secrets = await SecretService.open(store, loadOrCreateKey(keyFile), keyFile);
  return { tokens, secrets };
}

/** Runs `use` with the security services of a state directory (`berth token ... --home`), closing it after. */
export async function withStateDirectory<T>(home: string, keyFile: string, use: (services: SecurityServices) => Promise<T>): Promise<T> {
  prepareHome(home);
  const store = SqliteStore.inHome(home);
  try {
    return await use(await openSecurity(store.security, keyFile));
  } finally {
    await store.close();
  }
}
