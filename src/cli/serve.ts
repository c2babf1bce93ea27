/**
 * `berth serve app.ts`: runs an app ephemerally with `-dev` URLs, streams its
 * logs, and redeploys on every change to a file it imports. A change that
 * does not bundle or type-check is reported and the last good version keeps
 * serving. Ctrl-C stops the app and, if it started one, the embedded platform.
 */
import { watch, type FSWatcher } from "chokidar";
import { resolve } from "node:path";
import { TypeChecker } from "../bundler/typecheck.js";
import { startServer, type RunningServer } from "../server/start.js";
import { BerthError, systemCode } from "../errors/codes.js";
import { ApiClient } from "./client.js";
import { createLogger } from "../logging/logger.js";
import { berthHome, DEFAULT_PORT, DEFAULT_WORKSPACE, logLevel, numberFlag, serverUrl, workspace } from "./config.js";
import { formatLogEntry } from "./log-format.js";
import { formatError, green, red, status } from "./output.js";
import { ship } from "./ship.js";
import { readConfig, saveSession, tokenFor } from "./credentials.js";
import { secretKeyFile } from "./local-security.js";
import { sandboxProblem, type RuntimeName } from "../server/runtime.js";
import { buildCaFlag, imageCacheFlag, runtimeFlag } from "./server-flags.js";

export interface ServeFlags {
  port?: string;
  server?: string;
  workspace?: string;
  home?: string;
  typecheck?: boolean;
  token?: string;
  runtime?: string;
  imageCache?: string;
}

/** Entries one log page may hold (the control API's bound). */
const MAX_LOG_PAGE = 5000;

const logFormat = { compact: true, colour: process.stdout.isTTY === true && !process.env.NO_COLOR };

export async function serveCommand(file: string, flags: ServeFlags): Promise<void> {
  const entry = resolve(file);
  let embedded: RunningServer | undefined;
  let removeSession: (() => void) | undefined;
  let baseUrl = serverUrl(flags.server) ?? readConfig().server;
  if (!baseUrl) {
    embedded = await startEmbedded(flags);
    baseUrl = embedded.url;
    // Other berth commands of this user find the token here; a web page cannot.
    removeSession = saveSession(embedded.port, embedded.url, embedded.sessionToken!, flags.home);
    process.once("exit", () => removeSession?.());
  }
  const client = new ApiClient(baseUrl, workspace(flags.workspace), embedded ? embedded.sessionToken : tokenFor(baseUrl, flags.token));
  await client.health();
  const checker = flags.typecheck === false ? undefined : new TypeChecker(entry);

  let appName: string | undefined;
  let watcher: FSWatcher | undefined;
  const logsAbort = new AbortController();
  let shuttingDown = false;

  const shutdown = async (code: number) => {
    if (shuttingDown) return;
    shuttingDown = true;
    status("Stopping...");
    await watcher?.close();
    logsAbort.abort();
    if (appName) await client.stopApp(appName, true).catch(() => {});
    await embedded?.close();
    removeSession?.();
    process.exit(code);
  };
  process.on("SIGINT", () => void shutdown(0));
  process.on("SIGTERM", () => void shutdown(0));

  const deployOnce = async (): Promise<boolean> => {
    try {
      const { bundle, result } = await ship(client, { entry, ephemeral: true, checker });
      const first = appName === undefined;
      if (appName !== undefined && appName !== result.app.name) await client.stopApp(appName, true).catch(() => {});
      if (appName !== result.app.name) {
        appName = result.app.name;
        // Everything the new app has written so far (its log began with this session), then what comes.
        const follow = { follow: true, dev: true, tail: MAX_LOG_PAGE, signal: logsAbort.signal };
        void client.logs(appName, follow, (entry) => process.stdout.write(`${formatLogEntry(entry, logFormat)}\n`)).catch(() => {});
      }
      status(first ? green(`✓ Serving app "${result.app.name}" (version ${result.version})`) : green(`✓ Reloaded (version ${result.version})`));
      for (const fn of result.functions) status(`  ${fn.name.padEnd(16)} ${fn.url}`);
      watcher?.add(bundle.inputs);
      if (!watcher) watcher = startWatching(bundle.inputs);
      return true;
    } catch (error) {
      // The user's code or the server refused the deployment: say why and keep serving.
      if (error instanceof BerthError) {
        status(red(`✗ ${formatError(error)}`));
        if (appName) status("  (still serving the last good version)");
        return false;
      }
      throw error;
    }
  };

  let running = false;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  const reload = async () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    await deployOnce();
    running = false;
    if (again) {
      again = false;
      void reload();
    }
  };
  const startWatching = (inputs: string[]) =>
    watch(inputs, { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 50, pollInterval: 10 } }).on("all", () => {
      clearTimeout(timer);
      timer = setTimeout(() => void reload(), 50);
    });

  if (!(await deployOnce())) {
    // Nothing is served yet, but the file is watched so fixing it starts the app.
    watcher = watch(entry, { ignoreInitial: true }).on("all", () => void reload());
  }
  status("Watching for changes; Ctrl-C to stop.");
}

/** The sandbox when this machine can run it; otherwise the process runtime, said in one line, so `serve` works on a fresh machine. */
function serveRuntime(flag: string | undefined): RuntimeName {
  if (flag !== undefined) return runtimeFlag(flag, "sandbox");
  const problem = sandboxProblem();
  if (problem === undefined) return "sandbox";
  status(`${problem}: serving with the process runtime (no isolation between functions and this machine)`);
  return "process";
}

async function startEmbedded(flags: ServeFlags): Promise<RunningServer> {
  const home = berthHome(flags.home);
  const options = {
    home,
    runtime: serveRuntime(flags.runtime),
    imageCache: imageCacheFlag(flags.imageCache),
    buildCaFile: buildCaFlag(undefined),
    port: flags.port ? numberFlag("--port", flags.port, { integer: true }) : DEFAULT_PORT,
    workspace: DEFAULT_WORKSPACE,
    ephemeralState: true,
    secretKeyFile: secretKeyFile(home),
    // The embedded platform's own problems only, beside the status lines on stderr; stdout is the app's output.
    logger: createLogger({ level: logLevel(undefined, "warn"), destination: process.stderr }),
  };
  try {
    return await startServer(options);
  } catch (error) {
    if (systemCode(error) !== "EADDRINUSE" || flags.port) throw error;
    status(`port ${DEFAULT_PORT} is in use; the embedded platform takes a free port instead`);
    return startServer({ ...options, port: 0 });
  }
}
