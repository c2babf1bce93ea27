/**
 * `berth token ...`, `berth secret ...`, `berth login` and `berth workspace
 * limit`: thin wrappers over the control API's security routes (or, with no
 * server, over the state directory: local-security.ts). Secrets' values are
 * never printed back.
 */
import { readFileSync } from "node:fs";
import { BerthError, messageOf, systemCode } from "../errors/codes.js";
import { parseDotenv } from "../sdk/secret.js";
import type { TokenView, WorkspaceLimitRequest } from "../wire/control-api.js";
import { clientFor, type ClientFlags } from "./commands.js";
import { berthHome, DEFAULT_WORKSPACE, serverUrl, workspace } from "./config.js";
import { readConfig, saveToken } from "./credentials.js";
import { LocalSecurity, type SecurityClient } from "./local-security.js";
import { dim, green, status } from "./output.js";

export interface SecurityFlags extends ClientFlags {
  /** Work directly in this state directory instead of talking to a server. */
  home?: string;
}

export interface TokenCreateFlags extends SecurityFlags {
  proxy?: boolean;
  admin?: boolean;
  name?: string;
  json?: boolean;
}

/**
 * A server when one is configured (--server, BERTH_SERVER, `berth login`) or
 * answers on the default port; else, like `berth serve`, the state
 * directory itself (`--home`, BERTH_HOME, ~/.berth).
 */
export async function securityClient(flags: SecurityFlags): Promise<SecurityClient> {
  if (flags.home) return new LocalSecurity(flags.home, workspace(flags.workspace) ?? DEFAULT_WORKSPACE);
  const client = clientFor(flags);
  if (serverUrl(flags.server) ?? readConfig().server) return client;
  try {
    await client.health();
    return client;
  } catch (error) {
    if (!(error instanceof BerthError)) throw error;
    const home = berthHome();
    status(dim(`No berth server at ${client.baseUrl}: using the state directory ${home} (what \`berth serve\` uses).`));
    return new LocalSecurity(home, workspace(flags.workspace) ?? DEFAULT_WORKSPACE);
  }
}

export async function tokenCreateCommand(flags: TokenCreateFlags): Promise<void> {
  const kind = flags.proxy ? "proxy" : "api";
  const issued = await (await securityClient(flags)).createToken({ kind, admin: flags.admin, name: flags.name, workspace: flags.workspace });
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(issued, null, 2)}\n`);
    return;
  }
  if (kind === "proxy") {
    status(green(`✓ Created proxy token ${issued.key} for workspace "${issued.workspace}" (shown once; store it now)`));
    process.stdout.write(`Berth-Key: ${issued.key}\nBerth-Secret: ${issued.secret}\n`);
  } else {
    status(green(`✓ Created ${issued.admin ? "admin " : ""}API token ${issued.id} for workspace "${issued.workspace}" (shown once; store it now)`));
    process.stdout.write(`${issued.token}\n`);
    status(dim("Use it with --token, BERTH_TOKEN, or `berth login --token <token> --server <url>`."));
  }
}

export async function tokenListCommand(flags: SecurityFlags & { all?: boolean; json?: boolean }): Promise<void> {
  const tokens = await (await securityClient(flags)).listTokens(flags.all);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(tokens, null, 2)}\n`);
    return;
  }
  if (tokens.length === 0) return status("No tokens.");
  for (const token of tokens) process.stdout.write(`${describeToken(token)}\n`);
}

function describeToken(token: TokenView): string {
  const kind = token.kind === "proxy" ? "proxy" : token.admin ? "api (admin)" : "api";
  const state = token.revokedAt === null ? "valid" : `revoked ${new Date(token.revokedAt).toISOString()}`;
  return [token.id.padEnd(20), kind.padEnd(12), token.workspace.padEnd(12), new Date(token.createdAt).toISOString(), state, token.name].join("  ");
}

export async function tokenRevokeCommand(id: string, flags: SecurityFlags): Promise<void> {
  await (await securityClient(flags)).revokeToken(id);
  status(green(`✓ Revoked ${id}; it is refused from now on`));
}

/** Stores `token` for the server (and makes that server the default), after checking that it works. */
export async function loginCommand(flags: ClientFlags & { token?: string }): Promise<void> {
  if (!flags.token) throw new BerthError("invalid_input", "berth login needs --token <token> (from `berth token create` or a fresh server's output)");
  const client = clientFor(flags);
  await client.listTokens();
  const path = saveToken(client.baseUrl, flags.token, { makeDefault: serverUrl(flags.server) !== undefined });
  status(green(`✓ Logged in to ${client.baseUrl}; token saved in ${path} (mode 0600)`));
}

export async function secretCreateCommand(name: string, pairs: string[], flags: SecurityFlags & { fromDotenv?: string }): Promise<void> {
  const values: Record<string, string> = flags.fromDotenv ? parseDotenv(readDotenv(flags.fromDotenv)) : {};
  for (const pair of pairs) {
    const equals = pair.indexOf("=");
    if (equals <= 0) throw new BerthError("invalid_input", `"${pair.split("=")[0]}..." is not KEY=VALUE`);
    values[pair.slice(0, equals)] = pair.slice(equals + 1);
  }
  if (Object.keys(values).length === 0) throw new BerthError("invalid_input", "give the secret at least one KEY=VALUE, or --from-dotenv <file>");
  const secret = await (await securityClient(flags)).createSecret(name, values);
  status(green(`✓ Saved secret "${secret.name}" with key(s) ${secret.keys.join(", ")}`));
}

/** `-` reads standard input, so values need not appear in the shell history: `pass show db | berth secret create db --from-dotenv -`. */
function readDotenv(path: string): string {
  try {
    return readFileSync(path === "-" ? 0 : path, "utf8");
  } catch (error) {
    throw new BerthError("invalid_input", `cannot read ${path}: ${systemCode(error) ?? messageOf(error)}`);
  }
}

export async function secretListCommand(flags: SecurityFlags & { json?: boolean }): Promise<void> {
  const secrets = await (await securityClient(flags)).listSecrets();
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(secrets, null, 2)}\n`);
    return;
  }
  if (secrets.length === 0) return status("No secrets. Create one with `berth secret create NAME KEY=VALUE`.");
  for (const secret of secrets) process.stdout.write(`${secret.name.padEnd(24)} ${secret.keys.join(", ")}\n`);
}

export async function secretDeleteCommand(name: string, flags: SecurityFlags): Promise<void> {
  await (await securityClient(flags)).deleteSecret(name);
  status(green(`✓ Deleted secret "${name}"`));
}

export interface WorkspaceLimitFlags extends ClientFlags {
  rate?: string;
  burst?: string;
  clientRate?: string;
  clientBurst?: string;
  containers?: string;
}

export async function workspaceLimitCommand(name: string, flags: WorkspaceLimitFlags): Promise<void> {
  const client = clientFor(flags);
  const request = limitRequest(flags);
  const view = Object.keys(request).length === 0 ? await client.workspaceLimit(name) : await client.setWorkspaceLimit(name, request);
  if (Object.keys(request).length > 0) status(green(`✓ Workspace "${name}" updated`));
  const own = (custom: boolean) => (custom ? "" : " (the server's default)");
  process.stdout.write(
    `${view.workspace}: ${view.rate} requests/s, burst ${view.burst}${own(view.custom)}\n` +
      `  per client address (public endpoints): ${view.client.rate} requests/s, burst ${view.client.burst}${own(view.clientCustom)}\n` +
      `  containers: ${view.containers === null ? `${view.serverContainers} (the server's cap)` : `${view.containers} (the server's cap: ${view.serverContainers})`}\n`,
  );
}

/** The flags given, as a limit request; `default` for a value returns it to the server's default. */
export function limitRequest(flags: WorkspaceLimitFlags): WorkspaceLimitRequest {
  const request: WorkspaceLimitRequest = {};
  const value = (flag: string, text: string | undefined, integer: boolean): number | null | undefined => {
    if (text === undefined) return undefined;
    if (text === "default") return null;
    const parsed = Number(text);
    const ok = text.trim() !== "" && Number.isFinite(parsed) && (integer ? Number.isInteger(parsed) && parsed >= 0 : parsed > 0);
    if (!ok) throw new BerthError("invalid_input", `${flag} takes ${integer ? "a whole number" : "a number > 0"} or "default", not "${text}"`);
    return parsed;
  };
  const fields: [keyof WorkspaceLimitRequest, string, string | undefined, boolean][] = [
    ["rate", "--rate", flags.rate, false],
    ["burst", "--burst", flags.burst, true],
    ["clientRate", "--client-rate", flags.clientRate, false],
    ["clientBurst", "--client-burst", flags.clientBurst, true],
    ["containers", "--containers", flags.containers, true],
  ];
  for (const [field, flag, text, integer] of fields) {
    const parsed = value(flag, text, integer);
    if (parsed !== undefined) request[field] = parsed;
  }
  return request;
}
