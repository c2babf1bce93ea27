/**
 * The CLI's credentials file, `$BERTH_HOME/config.json` (mode 0600): the
 * default server (`berth login`) and an API token per server URL; and the
 * session files of running `berth serve` processes. A token comes from
 * `--token`, then `BERTH_TOKEN`, then a session file, then the config file.
 */
import { chmodSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeDirectory } from "../files/make-directory.js";
import { berthHome } from "./config.js";
import { BerthError, messageOf } from "../errors/codes.js";
import { isStorageFull, writeFailureReason } from "../errors/storage.js";

export interface CliConfig {
  /** Server used when neither --server nor BERTH_SERVER says otherwise. */
  server?: string;
  /** API tokens by server base URL (`http://localhost:8600`). */
  tokens?: Record<string, string>;
}

export function configPath(home = berthHome()): string {
  return join(home, "config.json");
}

export function readConfig(home?: string): CliConfig {
  const path = configPath(home);
  if (!existsSync(path)) return {};
  try {
    return JSON.parse(readFileSync(path, "utf8")) as CliConfig;
  } catch (error) {
    throw new BerthError("invalid_input", `cannot read ${path}: ${messageOf(error)}; fix or delete it`);
  }
}

/** Writes the file with mode 0600 (through a temporary file, so a crash never leaves half a file). */
export function writeConfig(config: CliConfig, home?: string): string {
  const path = configPath(home);
  makeDirectory(join(path, ".."), 0o700);
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
    chmodSync(temporary, 0o600);
    renameSync(temporary, path);
  } catch (error) {
    // A failed write (a full disk) leaves neither half a file nor its temporary one.
    rmSync(temporary, { force: true });
    throw new BerthError(isStorageFull(error) ? "storage_full" : "invalid_input", `cannot write ${path}: ${writeFailureReason(error)}`, { cause: error });
  }
  return path;
}

/** Remembers `token` for `server` (and makes it the default server when `makeDefault`). */
export function saveToken(server: string, token: string, options: { makeDefault?: boolean; home?: string } = {}): string {
  const config = readConfig(options.home);
  config.tokens = { ...config.tokens, [normalise(server)]: token };
  if (options.makeDefault) config.server = normalise(server);
  return writeConfig(config, options.home);
}

/**
 * The token for `server`: `--token`, else `BERTH_TOKEN`, else the session
 * token of a `berth serve` running on that local port, else the one saved
 * by `berth login`.
 */
export function tokenFor(server: string, flag?: string): string | undefined {
  return flag ?? (process.env.BERTH_TOKEN || undefined) ?? sessionToken(server) ?? readConfig().tokens?.[normalise(server)];
}

/**
 * `$BERTH_HOME/sessions/serve-<port>.json` (mode 0600): where `berth serve`
 * leaves its embedded platform's session token for the CLI of the same
 * user (`berth app logs --dev`, `berth secret create`) while it runs. A web
 * page cannot read it, which is the point.
 */
export function sessionPath(port: number, home = berthHome()): string {
  return join(home, "sessions", `serve-${port}.json`);
}

interface SessionFile {
  url: string;
  token: string;
  pid: number;
}

/** Writes the session file of a `berth serve` on `port`; returns a function that removes it. */
export function saveSession(port: number, url: string, token: string, home?: string): () => void {
  const path = sessionPath(port, home);
  makeDirectory(join(path, ".."), 0o700);
  const temporary = `${path}.${process.pid}.tmp`;
  const session: SessionFile = { url, token, pid: process.pid };
  writeFileSync(temporary, `${JSON.stringify(session)}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
  return () => rmSync(path, { force: true });
}

/** The session token of the `berth serve` answering at `server`, if one of ours runs there. */
function sessionToken(server: string): string | undefined {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    return undefined;
  }
  if (!["localhost", "127.0.0.1", "[::1]"].includes(url.hostname) || url.port === "") return undefined;
  const path = sessionPath(Number(url.port));
  if (!existsSync(path)) return undefined;
  try {
    const session = JSON.parse(readFileSync(path, "utf8")) as SessionFile;
    process.kill(session.pid, 0);
    return session.token;
  } catch {
    // Unreadable, or its `berth serve` is gone (killed without cleaning up): not a token for whatever runs there now.
    return undefined;
  }
}

/** `http://127.0.0.1:8600/` and `http://localhost:8600` are the same server to the file. */
function normalise(server: string): string {
  try {
    const url = new URL(server);
    if (url.hostname === "127.0.0.1" || url.hostname === "[::1]") url.hostname = "localhost";
    return url.origin;
  } catch {
    return server.replace(/\/+$/, "");
  }
}
