/**
 * Secrets: named sets of environment variables, sealed with AES-256-GCM
 * under the key file before they reach the store, opened only to build the
 * environment of the containers of functions that name them. Listing shows
 * names and key names, never values.
 *
 * Inline secrets (`Secret.fromDict`, `Secret.fromDotenv`) arrive in the
 * deployment's manifest; `prepare` seals them as hidden secrets named by
 * their content hash and leaves only that name in the manifest the store
 * records, so no value is kept in plain text at rest.
 *
 * Every node sharing a database must seal and open with the same key. The
 * first to open the database records the key's fingerprint there; a node
 * whose key has another fingerprint refuses to start, rather than sealing
 * secrets no other node can open.
 */
import { createHash } from "node:crypto";
import { BerthError } from "../errors/codes.js";
import type { AppManifest, FunctionManifest, SecretSpec } from "../sdk/contract.js";
import { checkName } from "../sdk/names.js";
import { keyFingerprint, open, seal, sealer, type Sealer } from "./crypto.js";
import type { SecretView } from "../wire/control-api.js";
import type { SecurityStore } from "./store/types.js";

const KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,255}$/;
/** Hidden secrets made from inline values; `:` cannot appear in a user's secret name. */
const INLINE_PREFIX = "inline:";
const MAX_KEYS = 200;
const MAX_VALUE_BYTES = 64 * 1024;

const KEY_SETTING = "secrets-key-fingerprint";
/** What every secret's sealing context starts with. */
const SECRET_CONTEXT = "berth-secret:";

export class SecretService {
  private constructor(
    private readonly store: SecurityStore,
    private readonly key: Buffer,
    private readonly now: () => number,
  ) {}

  /**
   * The service over `store` with `key`, once the key is known to be the
   * platform's (`keyFile` names it in the refusal).
   */
  static async open(store: SecurityStore, key: Buffer, keyFile: string, now: () => number = Date.now): Promise<SecretService> {
    const mine = keyFingerprint(key);
    const platform = await store.claimSetting(KEY_SETTING, mine);
    if (platform !== mine) {
      throw new BerthError(
        "incompatible_state",
        `the secrets key ${keyFile} is not the key this database's secrets are sealed with. Every node sharing a database needs the same key: copy the key file of the first node (or pass its path with --secret-key-file / BERTH_SECRET_KEY_FILE) and start again.`,
      );
    }
    return new SecretService(store, key, now);
  }

  /**
   * The platform's secrets key for another use (the dashboard's sessions):
   * every node opens what any node sealed, and `use` keeps it apart from
   * the secrets' own contexts.
   */
  sealer(use: string): Sealer {
    if (`${use}:`.startsWith(SECRET_CONTEXT)) throw new BerthError("internal_error", `"${use}" is the secrets' own sealing context`);
    return sealer(this.key, use);
  }

  /** Creates the secret, or replaces all its keys if it exists. */
  async create(workspace: string, name: string, values: Record<string, string>): Promise<SecretView> {
    return this.put(workspace, checkName("secret", name, ["name"]), values);
  }

  async list(workspace: string): Promise<SecretView[]> {
    return (await this.store.listSecrets(workspace))
      .filter((secret) => !secret.name.startsWith(INLINE_PREFIX))
      .map(({ name, keys, createdAt, updatedAt }) => ({ name, keys, createdAt, updatedAt }));
  }

  async delete(workspace: string, name: string): Promise<boolean> {
    if (name.startsWith(INLINE_PREFIX)) return false;
    return this.store.deleteSecret(workspace, name);
  }

  /**
   * Checks a deployment's secrets before anything is built: every named
   * secret exists in the workspace with its required keys. Returns the
   * manifest with inline values sealed away and replaced by references.
   */
  async prepare(workspace: string, manifest: AppManifest): Promise<AppManifest> {
    const functions = [];
    for (const fn of manifest.functions) {
      const secrets: SecretSpec[] = [];
      for (const spec of fn.secrets) {
        if (spec.kind === "inline") {
          const digest = createHash("sha256").update(JSON.stringify(Object.entries(spec.values).sort())).digest("hex");
          const name = `${INLINE_PREFIX}${digest.slice(0, 32)}`;
          if (!(await this.store.getSecret(workspace, name))) await this.put(workspace, name, spec.values);
          secrets.push({ kind: "name", name, requiredKeys: [] });
        } else {
          await this.check(workspace, fn, spec);
          secrets.push(spec);
        }
      }
      functions.push({ ...fn, secrets });
    }
    return { ...manifest, functions };
  }

  /** The environment variables of a function's secrets, later secrets overriding earlier ones. */
  async environment(workspace: string, fn: FunctionManifest): Promise<Record<string, string>> {
    const env: Record<string, string> = {};
    for (const spec of fn.secrets) {
      // Only versions recorded before `prepare` sealed inline values still carry them.
      if (spec.kind === "inline") Object.assign(env, spec.values);
      else Object.assign(env, await this.check(workspace, fn, spec));
    }
    return env;
  }

  private async check(workspace: string, fn: FunctionManifest, spec: Extract<SecretSpec, { kind: "name" }>): Promise<Record<string, string>> {
    const record = await this.store.getSecret(workspace, spec.name);
    if (!record) {
      throw new BerthError(
        "invalid_input",
        `function ${fn.name} names secret "${spec.name}", which does not exist in workspace "${workspace}": create it with \`berth secret create ${spec.name} KEY=VALUE\``,
        { details: { secret: spec.name } },
      );
    }
    const missing = spec.requiredKeys.filter((key) => !record.keys.includes(key));
    if (missing.length > 0) {
      throw new BerthError(
        "invalid_input",
        `secret "${spec.name}" (used by ${fn.name}) lacks required key(s) ${missing.join(", ")}; it has ${record.keys.join(", ") || "no keys"}`,
        { details: { secret: spec.name, missingKeys: missing } },
      );
    }
    return JSON.parse(open(this.key, record.sealed, context(workspace, spec.name))) as Record<string, string>;
  }

  private async put(workspace: string, name: string, values: Record<string, string>): Promise<SecretView> {
    const keys = Object.keys(values);
    if (keys.length === 0) throw new BerthError("invalid_input", `secret "${name}" needs at least one KEY=VALUE`);
    if (keys.length > MAX_KEYS) throw new BerthError("invalid_input", `a secret holds at most ${MAX_KEYS} keys`);
    for (const key of keys) {
      if (!KEY_PATTERN.test(key)) {
        throw new BerthError("invalid_input", `"${key}" is not a valid environment variable name: use letters, digits and "_", not starting with a digit`);
      }
      const value = values[key];
      if (typeof value !== "string") throw new BerthError("invalid_input", `the value of ${key} must be a string`);
      if (Buffer.byteLength(value) > MAX_VALUE_BYTES) throw new BerthError("invalid_input", `the value of ${key} is larger than ${MAX_VALUE_BYTES} bytes`);
    }
    const now = this.now();
    const existing = await this.store.getSecret(workspace, name);
    const record = {
      workspace,
      name,
      keys,
      sealed: seal(this.key, JSON.stringify(values), context(workspace, name)),
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
    };
    await this.store.putSecret(record);
    return { name, keys, createdAt: record.createdAt, updatedAt: now };
  }
}

function context(workspace: string, name: string): string {
  return `${SECRET_CONTEXT}${workspace}/${name}`;
}
