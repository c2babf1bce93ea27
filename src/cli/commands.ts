/**
 * `berth server`, `berth deploy` and `berth app ...`: thin wrappers over the
 * control API. The server, the bundler and the type checker are imported by
 * the commands that use them, so `app list` and friends start fast.
 */
import { BerthError } from "../errors/codes.js";
import type { Logger } from "../logging/logger.js";
import { ApiClient } from "./client.js";
import { berthHome, DEFAULT_PORT, DEFAULT_WORKSPACE, graceMs, numberFlag, serverUrl, workspace } from "./config.js";
import { formatLogEntry, parseSince, printable } from "./log-format.js";
import { dim, green, status, yellow } from "./output.js";
import { readConfig, tokenFor } from "./credentials.js";
import { announceBootstrapToken, buildCaFlag, imageCacheFlag, nodeOptions, parseSize, publicOptions, runtimeFlag, securityOptions, type ServerFlags } from "./server-flags.js";
import { formatNodeTable, formatStatsTable } from "./stats-table.js";
import { onStopSignals } from "./stop-signals.js";
import type { LogEntry } from "../wire/control-api.js";

export interface ClientFlags {
  server?: string;
  workspace?: string;
  token?: string;
}

/** The server from --server, BERTH_SERVER, `berth login`, else localhost; the token from --token, BERTH_TOKEN, the config file. */
export function clientFor(flags: ClientFlags): ApiClient {
  const base = serverUrl(flags.server) ?? readConfig().server ?? `http://localhost:${DEFAULT_PORT}`;
  return new ApiClient(base, workspace(flags.workspace), tokenFor(base, flags.token));
}

export async function serverCommand(flags: ServerFlags) {
  const [{ startServer }, { RuntimeUnavailableError }, { createLogger }, { logLevel }] = await Promise.all([
    import("../server/start.js"),
    import("../server/runtime.js"),
    import("../logging/logger.js"),
    import("./log-level.js"),
  ]);
  const home = berthHome(flags.home);
  const logger = createLogger({ level: logLevel(flags.logLevel, "info") });
  // In a server, container output is part of the server's log: JSON with its app and function when collected.
  const containers = logger.child({ component: "container" });
  const queueLimit = flags.queueLimit === undefined ? undefined : numberFlag("--queue-limit", flags.queueLimit, { integer: true });
  const callDelay = flags.callDelay === undefined ? undefined : numberFlag("--call-delay", flags.callDelay, { positive: true });
  const grace = graceMs(flags.grace);
  const keepVersions = flags.keepVersions === undefined ? undefined : numberFlag("--keep-versions", flags.keepVersions, { integer: true, positive: true });
  const server = await startServer({
    home,
    runtime: runtimeFlag(flags.runtime, "sandbox"),
    imageCache: imageCacheFlag(flags.imageCache),
    buildCaFile: buildCaFlag(flags.buildCaFile),
    port: flags.port ? numberFlag("--port", flags.port, { integer: true }) : DEFAULT_PORT,
    host: flags.host,
    domain: flags.domain,
    workspace: flags.workspace ?? DEFAULT_WORKSPACE,
    queueLimit,
    keepVersions,
    callDelayMs: callDelay === undefined ? undefined : callDelay * 1000,
    onLog: echoAppLog(containers),
    appLogBytes: flags.appLogSize === undefined ? undefined : appLogBytes(flags.appLogSize),
    accessLog: flags.accessLog,
    logger,
    ...securityOptions(flags),
    ...nodeOptions(flags),
    ...publicOptions(flags),
  }).catch((error: unknown) => {
    if (error instanceof RuntimeUnavailableError) {
      throw new BerthError("invalid_input", `${error.message}; or run \`berth server --runtime process\` (one trusted user, no isolation)`);
    }
    throw error;
  });
  const where = server.store.engine === "postgres" ? `state in ${server.store.location}, node ${server.membership.id}` : `state in ${home}`;
  status(green(`✓ berth server listening on ${server.url} (${where}; ${server.runtime} runtime)`));
  status(`  Dashboard: ${server.dashboardUrl} (sign in with an API token)`);
  if (server.bootstrapToken) announceBootstrapToken(server.url, server.bootstrapToken, home);
  onStopSignals({
    graceful: async () => {
      const inFlight = server.requestsInFlight;
      // `shutdown` has closed the port by the time it returns its promise: the message is true when it is read.
      const shutdown = server.shutdown(grace);
      status(`Shutting down: no new connections; ${inFlight} request(s) in flight get up to ${grace / 1000} s to finish (signal again to stop now), then containers drain...`);
      const cut = await shutdown;
      if (cut > 0) status(`${cut} request(s) still in flight after ${grace / 1000} s were cut`);
    },
    now: async () => {
      status("Stopping now: cutting what is in flight...");
      await server.close();
    },
  });
}

/**
 * App log lines in the server's own log: containers' output at `info`,
 * access lines at `debug` (they can be many). Read by a person on a
 * terminal, a container's bytes are shown safe (log-format.ts); as JSON
 * they stay as written.
 */
function echoAppLog(logger: Logger): (entry: LogEntry) => void {
  const safe = process.stdout.isTTY === true ? printable : (text: string) => text;
  return ({ app, function: fn, container, stream, requestId, line }) => {
    if (!logger.isLevelEnabled(stream === "access" ? "debug" : "info")) return;
    const fields = { app, function: fn, container, stream, requestId };
    if (stream === "access") logger.debug(fields, line);
    else logger.info(fields, safe(line));
  };
}

/** `--app-log-size`: at least 64 KiB, so a few long lines always fit. */
function appLogBytes(text: string): number {
  const bytes = parseSize(text);
  if (bytes < 64 * 1024) throw new BerthError("invalid_input", `--app-log-size must be at least 64KiB, not "${text}"`);
  return bytes;
}

export async function deployCommand(file: string, flags: ClientFlags & { typecheck?: string | boolean }) {
  const [{ appFile, ship, typecheckMode }, { BackgroundTypeCheck }] = await Promise.all([import("./ship.js"), import("../bundler/background-check.js")]);
  const entry = appFile(file);
  const typecheck = typecheckMode(flags.typecheck, "block");
  const client = clientFor(flags);
  await client.health();
  const checker = typecheck === "off" ? undefined : new BackgroundTypeCheck(entry);
  try {
    const { result, types } = await ship(client, { entry, ephemeral: false, typecheck, checker });
    status(green(`✓ Deployed app "${result.app.name}" (version ${result.version})`));
    for (const fn of result.functions) process.stdout.write(`${fn.name.padEnd(16)} ${fn.url}\n`);
    const report = typecheck === "warn" ? await types : undefined;
    if (report?.errors) status(yellow(`⚠ Deployed with type errors:\n${report.errors.trimEnd()}`));
  } finally {
    await checker?.close();
  }
}

export async function nodeListCommand(flags: ClientFlags & { json?: boolean }) {
  const list = await clientFor(flags).listNodes();
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
    return;
  }
  process.stdout.write(formatNodeTable(list));
}

export async function appListCommand(flags: ClientFlags & { json?: boolean }) {
  const apps = await clientFor(flags).listApps();
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(apps, null, 2)}\n`);
    return;
  }
  if (apps.length === 0) {
    status("No apps. Deploy one with `npx berth deploy app.ts`.");
    return;
  }
  for (const app of apps) {
    process.stdout.write(`${app.name}  ${app.state}  v${app.version ?? "-"}${app.ephemeral ? "  (serve)" : ""}\n`);
    for (const fn of app.functions) process.stdout.write(`  ${fn.name.padEnd(16)} ${fn.url}\n`);
  }
}

export async function appRollbackCommand(name: string, flags: ClientFlags & { version?: string }) {
  const version = flags.version === undefined ? undefined : numberFlag("--version", flags.version, { integer: true });
  const result = await clientFor(flags).rollback(name, version, (message) => status(dim(message)));
  status(green(`✓ Rolled back app "${name}": now version ${result.version}`));
  for (const fn of result.functions) process.stdout.write(`${fn.name.padEnd(16)} ${fn.url}\n`);
}

export async function appStopCommand(name: string, flags: ClientFlags & { dev?: boolean }) {
  await clientFor(flags).stopApp(name, flags.dev);
  status(green(`✓ Stopped app "${name}"`));
}

export interface LogsFlags extends ClientFlags {
  follow?: boolean;
  dev?: boolean;
  since?: string;
  tail?: string;
  json?: boolean;
  function?: string;
  request?: string;
}

/** Lines shown without --tail or --since. */
const DEFAULT_TAIL = 100;

export async function appLogsCommand(name: string, flags: LogsFlags) {
  const since = flags.since === undefined ? undefined : parseSince(flags.since, Date.now());
  const tail = flags.tail !== undefined ? numberFlag("--tail", flags.tail, { integer: true }) : since === undefined ? DEFAULT_TAIL : undefined;
  const abort = new AbortController();
  process.on("SIGINT", () => abort.abort());
  const format = { compact: false, colour: process.stdout.isTTY === true && !process.env.NO_COLOR };
  const print = flags.json
    ? (entry: LogEntry) => process.stdout.write(`${JSON.stringify(entry)}\n`)
    : (entry: LogEntry) => process.stdout.write(`${formatLogEntry(entry, format)}\n`);
  const request = { dev: flags.dev, follow: flags.follow, since, tail, function: flags.function, requestId: flags.request, signal: abort.signal };
  await clientFor(flags).logs(name, request, print);
}

export async function appVersionsCommand(name: string, flags: ClientFlags & { dev?: boolean; json?: boolean }) {
  const versions = await clientFor(flags).versions(name, flags.dev);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(versions, null, 2)}\n`);
    return;
  }
  const rows = versions.map((version) => [
    `${version.current ? "*" : " "} v${version.number}`,
    new Date(version.createdAt).toLocaleString(),
    version.bundleHash.slice(0, 12),
    version.deployedBy ? printable(`${version.deployedBy.name || "(unnamed token)"} (${version.deployedBy.tokenId})`) : "-",
  ]);
  const header = ["  VERSION", "DEPLOYED", "BUNDLE", "BY"];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  for (const row of [header, ...rows]) process.stdout.write(`${row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd()}\n`);
}

export async function appStatsCommand(name: string, flags: ClientFlags & { dev?: boolean; json?: boolean; watch?: string | true }) {
  const client = clientFor(flags);
  const render = async () => {
    const stats = await client.stats(name, flags.dev);
    return flags.json ? `${JSON.stringify(stats, null, 2)}\n` : formatStatsTable(stats.functions, stats.unreachable);
  };
  if (!flags.watch) {
    process.stdout.write(await render());
    return;
  }
  const seconds = typeof flags.watch === "string" ? numberFlag("--watch", flags.watch, { positive: true }) : 2;
  const stop = new AbortController();
  process.once("SIGINT", () => stop.abort());
  while (!stop.signal.aborted) {
    const text = await render();
    const clear = process.stdout.isTTY ? "\x1b[2J\x1b[H" : "";
    process.stdout.write(`${clear}${dim(`${new Date().toLocaleTimeString()} · every ${seconds} s · Ctrl-C to stop`)}\n${text}\n`);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, seconds * 1000);
      stop.signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
    });
  }
}
