/**
 * `berth serve app.ts`: runs an app ephemerally with `-dev` URLs, streams its
 * logs, and redeploys on every change to a file it imports. URLs are printed
 * as soon as the bundle is built; the type check runs beside it and reports
 * when done (`--typecheck=warn`, the default), or holds the deploy back
 * (`block`). A change that does not bundle is reported and the last good
 * version keeps serving; a deploy refused for a missing secret is retried
 * when the workspace's secrets change. Ctrl-C stops the app and, if it
 * started one, the embedded platform.
 */
import { watch, type FSWatcher } from "chokidar";
import { BackgroundTypeCheck, type TypeReport } from "../bundler/background-check.js";
import { startServer, type RunningServer } from "../server/start.js";
import { BerthError, systemCode } from "../errors/codes.js";
import { ApiClient } from "./client.js";
import { createLogger } from "../logging/logger.js";
import { berthHome, DEFAULT_PORT, DEFAULT_WORKSPACE, numberFlag, serverUrl, workspace } from "./config.js";
import { logLevel } from "./log-level.js";
import { formatLogEntry } from "./log-format.js";
import { dim, formatError, green, red, status, yellow } from "./output.js";
import { appFile, ship, typecheckMode } from "./ship.js";
import { readConfig, saveSession, tokenFor } from "./credentials.js";
import { secretKeyFile } from "./local-security.js";
import { sandboxProblem, type RuntimeName } from "../server/runtime.js";
import { buildCaFlag, imageCacheFlag, runtimeFlag } from "./server-flags.js";

export interface ServeFlags {
  port?: string;
  server?: string;
  workspace?: string;
  home?: string;
  /** `off`, `warn` or `block`; `false` from `--no-typecheck`. */
  typecheck?: string | boolean;
  token?: string;
  runtime?: string;
  imageCache?: string;
}

/** How often a session waiting for a missing secret asks for the workspace's secrets, in milliseconds. */
const SECRET_POLL_MS = 1000;

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

  const shutdown = async (code: number) => {
    if (shuttingDown) return;
    shuttingDown = true;
    status("Stopping...");
    await watcher?.close();
    clearInterval(secretPoll);
    await checker?.close();
    logsAbort.abort();
    if (appName) await client.stopApp(appName, true).catch(() => {});
    await embedded?.close();
    removeSession?.();
    process.exit(code);
  };
  process.on("SIGINT", () => void shutdown(0));
  process.on("SIGTERM", () => void shutdown(0));

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

  const deployOnce = async (): Promise<boolean> => {
    const of = ++generation;
    try {
      const { bundle, result, types } = await ship(client, { entry, ephemeral: true, typecheck, checker });
      clearInterval(secretPoll);
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
