/**
 * `berth serve app.ts`: runs an app ephemerally with `-dev` URLs, streams its
 * logs, and redeploys on every change to a file it imports. URLs are printed
 * as soon as the bundle is built; the type check runs beside it and reports
 * when done (`--typecheck=warn`, the default), or holds the deploy back
 * (`block`). A change that does not bundle is reported and the last good
 * version keeps serving; a deploy refused for a missing secret is retried
 * when the workspace's secrets change. With `--server`, a restart of that
 * server is survived: serve registers the app again when the server is
 * back. Ctrl-C lets requests in flight finish, then stops the app and, if it
 * started one, the embedded platform.
 */
import { watch, type FSWatcher } from "chokidar";
import { BackgroundTypeCheck, type TypeReport } from "../bundler/background-check.js";
import { startServer, type RunningServer } from "../server/start.js";
import { BerthError, systemCode } from "../errors/codes.js";
import { ApiClient } from "./client.js";
import { createLogger } from "../logging/logger.js";
import type { LogEntry } from "../wire/control-api.js";
import { berthHome, DEFAULT_PORT, DEFAULT_WORKSPACE, graceMs, numberFlag, serverUrl, workspace } from "./config.js";
import { logLevel } from "./log-level.js";
import { formatLogEntry } from "./log-format.js";
import { dim, formatError, green, red, status, yellow } from "./output.js";
import { appFile, ship, typecheckMode } from "./ship.js";
import { readConfig, saveSession, tokenFor } from "./credentials.js";
import { secretKeyFile } from "./local-security.js";
import { sandboxProblem, type RuntimeName } from "../server/runtime.js";
import { buildCaFlag, imageCacheFlag, runtimeFlag } from "./server-flags.js";
import { onStopSignals } from "./stop-signals.js";

export interface ServeFlags {
  port?: string;
  server?: string;
  workspace?: string;
  home?: string;
  /** `off`, `warn` or `block`; `false` from `--no-typecheck`. */
  typecheck?: string | boolean;
  token?: string;
  /** Seconds requests in flight get to finish after Ctrl-C (default 30). */
  grace?: string;
  runtime?: string;
  imageCache?: string;
}

/** How often a session waiting for a missing secret asks for the workspace's secrets, in milliseconds. */
const SECRET_POLL_MS = 1000;

/** Why serve deploys again: the code changed, a missing secret arrived, or the server came back without the app. */
type Occasion = "reload" | "reconnect";

/** Entries one log page may hold (the control API's bound). */
const MAX_LOG_PAGE = 5000;

const logFormat = { compact: true, colour: process.stdout.isTTY === true && !process.env.NO_COLOR };

export async function serveCommand(file: string, flags: ServeFlags): Promise<void> {
  const entry = appFile(file);
  const typecheck = typecheckMode(flags.typecheck, "warn");
  // Loads TypeScript in its worker while the platform starts and the app bundles.
  const checker = typecheck === "off" ? undefined : new BackgroundTypeCheck(entry);
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
  status(embedded ? `Dashboard: ${embedded.dashboardUrl}` : `Dashboard: ${baseUrl}/ (sign in with an API token)`);

  let appName: string | undefined;
  let watcher: FSWatcher | undefined;
  const logsAbort = new AbortController();
  let shuttingDown = false;

  const grace = graceMs(flags.grace);
  const stopWatching = async () => {
    shuttingDown = true;
    await watcher?.close();
    clearInterval(secretPoll);
    await checker?.close();
    logsAbort.abort();
  };
  onStopSignals({
    // Requests in flight finish (up to --grace), then the app and its containers go.
    graceful: async () => {
      status(`Stopping: requests in flight get up to ${grace / 1000} s to finish (Ctrl-C again to stop now)...`);
      await stopWatching();
      if (embedded) {
        await embedded.shutdown(grace);
        removeSession?.();
      } else if (appName) {
        // The server drains the app's containers; the CLI waits for that no longer than the grace.
        await Promise.race([client.stopApp(appName, true).catch(() => {}), new Promise((resolve) => setTimeout(resolve, grace))]);
      }
    },
    now: async () => {
      status("Stopping now...");
      await stopWatching();
      if (embedded) await embedded.close();
      else if (appName) await client.stopApp(appName, true).catch(() => {});
      removeSession?.();
    },
  });

  /**
   * Follows the app's logs for as long as serve runs. The stream ends when
   * the server goes away (stopped, restarted, crashed); a server that comes
   * back has dropped the app (served apps do not outlive a restart), so
   * serve waits for it, registers the app again and follows on.
   */
  const followLogs = async (name: string) => {
    const print = (entry: LogEntry) => process.stdout.write(`${formatLogEntry(entry, logFormat)}\n`);
    // Everything the new app has written so far (its log began with this session), then what comes; after a reconnect, only what comes.
    let tail: number | undefined = MAX_LOG_PAGE;
    while (!logsAbort.signal.aborted && appName === name) {
      await client.logs(name, { follow: true, dev: true, tail, signal: logsAbort.signal }, print).catch(() => {});
      tail = undefined;
      if (logsAbort.signal.aborted || embedded || appName !== name) return;
      status(red(`✗ Lost the server at ${baseUrl}; waiting for it to come back (the app is not served meanwhile)...`));
      await waitForServer();
      if (logsAbort.signal.aborted) return;
      await reload("reconnect");
    }
  };

  /** Polls the server's health once a second until it answers, or serve stops. */
  const waitForServer = async () => {
    while (!logsAbort.signal.aborted) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      if (await client.health().then(() => true, () => false)) return;
    }
  };

  // Only the newest deploy's type report is printed: an older one describes code that is no longer served.
  let generation = 0;
  const report = (types: Promise<TypeReport>, of: number) => {
    types.then(
      ({ errors, ms }) => {
        if (of !== generation || shuttingDown) return;
        if (!errors) status(dim(`✓ No type errors (${(ms / 1000).toFixed(1)} s)`));
        else status(yellow(`⚠ Type errors (served anyway; --typecheck=block holds a deploy back until they are fixed):\n${errors.trimEnd()}`));
      },
      (error: unknown) => status(yellow(`⚠ The type check failed: ${formatError(error)}`)),
    );
  };

  // A deploy refused for a missing secret (or missing keys of one) is retried once the workspace has them.
  let secretPoll: NodeJS.Timeout | undefined;
  const waitForSecret = (name: string, keys: string[]) => {
    clearInterval(secretPoll);
    status(dim(`  (waiting for secret "${name}"${keys.length > 0 ? ` to have ${keys.join(", ")}` : ""}: serving starts once it does)`));
    secretPoll = setInterval(() => {
      client.listSecrets().then(
        (secrets) => {
          const secret = secrets.find((candidate) => candidate.name === name);
          if (!secret || !keys.every((key) => secret.keys.includes(key))) return;
          clearInterval(secretPoll);
          void reload();
        },
        () => {},
      );
    }, SECRET_POLL_MS);
  };

  const deployOnce = async (occasion: Occasion): Promise<boolean> => {
    const of = ++generation;
    try {
      const { bundle, result, types } = await ship(client, { entry, ephemeral: true, typecheck, checker });
      clearInterval(secretPoll);
      const first = appName === undefined;
      if (appName !== undefined && appName !== result.app.name) await client.stopApp(appName, true).catch(() => {});
      if (appName !== result.app.name) {
        appName = result.app.name;
        void followLogs(appName);
      }
      const { name } = result.app;
      const { version } = result;
      if (first) status(green(`✓ Serving app "${name}" (version ${version})`));
      else if (occasion === "reconnect") status(green(`✓ The server at ${baseUrl} is back: registered app "${name}" again (version ${version}); following its logs`));
      else status(green(`✓ Reloaded (version ${version})`));
      for (const fn of result.functions) status(`  ${fn.name.padEnd(16)} ${fn.url}`);
      if (types && typecheck === "warn") report(types, of);
      watcher?.add(bundle.inputs);
      if (!watcher) watcher = startWatching(bundle.inputs);
      return true;
    } catch (error) {
      // The user's code or the server refused the deployment: say why and keep serving.
      if (error instanceof BerthError) {
        status(red(`✗ ${formatError(error)}`));
        if (appName) status("  (still serving the last good version)");
        const { secret, missingKeys } = error.details;
        if (typeof secret === "string") waitForSecret(secret, Array.isArray(missingKeys) ? missingKeys.map(String) : []);
        return false;
      }
      throw error;
    }
  };

  // One deploy at a time: a change (or a reconnect) during a deploy runs once more after it.
  let running = false;
  let again: Occasion | undefined;
  let timer: NodeJS.Timeout | undefined;
  const reload = async (occasion: Occasion = "reload") => {
    if (running) {
      again = again === "reconnect" ? again : occasion;
      return;
    }
    running = true;
    await deployOnce(occasion);
    running = false;
    if (again) {
      const next = again;
      again = undefined;
      void reload(next);
    }
  };
  const startWatching = (inputs: string[]) =>
    watch(inputs, { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 50, pollInterval: 10 } }).on("all", () => {
      clearTimeout(timer);
      timer = setTimeout(() => void reload(), 50);
    });

  if (!(await deployOnce("reload"))) {
    // Nothing is served yet, but the file is watched so fixing it starts the app.
    watcher = watch(entry, { ignoreInitial: true }).on("all", () => void reload());
  }
  // Said once it is true: a change made before the watcher has read the files would go unnoticed.
  await new Promise<void>((resolve) => (watcher ? watcher.once("ready", () => resolve()) : resolve()));
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
