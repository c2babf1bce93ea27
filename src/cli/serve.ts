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
import { onStopSignals } from "./commands.js";
import { berthHome, DEFAULT_PORT, DEFAULT_WORKSPACE, graceMs, logLevel, numberFlag, serverUrl, workspace } from "./config.js";
import { formatError, formatLog, green, red, status } from "./output.js";
import { ship } from "./ship.js";
import { readConfig, tokenFor } from "./credentials.js";
import { secretKeyFile } from "./local-security.js";

export interface ServeFlags {
  port?: string;
  server?: string;
  workspace?: string;
  home?: string;
  typecheck?: boolean;
  token?: string;
  /** Seconds requests in flight get to finish after Ctrl-C (default 30). */
  grace?: string;
}

export async function serveCommand(file: string, flags: ServeFlags): Promise<void> {
  const entry = resolve(file);
  let embedded: RunningServer | undefined;
  let baseUrl = serverUrl(flags.server) ?? readConfig().server;
  if (!baseUrl) {
    embedded = await startEmbedded(flags);
    baseUrl = embedded.url;
  }
  const client = new ApiClient(baseUrl, workspace(flags.workspace), embedded ? undefined : tokenFor(baseUrl, flags.token));
  await client.health();
  const checker = flags.typecheck === false ? undefined : new TypeChecker(entry);

  let appName: string | undefined;
  let watcher: FSWatcher | undefined;
  const logsAbort = new AbortController();

  const grace = graceMs(flags.grace);
  onStopSignals({
    // Requests in flight finish (up to --grace), then the app and its containers go.
    graceful: async () => {
      status(`Stopping: requests in flight get up to ${grace / 1000} s to finish (Ctrl-C again to stop now)...`);
      await watcher?.close();
      logsAbort.abort();
      if (embedded) {
        await embedded.shutdown(grace);
      } else if (appName) {
        // The server drains the app's containers; the CLI waits for that no longer than the grace.
        await Promise.race([client.stopApp(appName, true).catch(() => {}), new Promise((resolve) => setTimeout(resolve, grace))]);
      }
    },
    now: async () => {
      status("Stopping now...");
      if (embedded) await embedded.close();
      else if (appName) await client.stopApp(appName, true).catch(() => {});
    },
  });

  const deployOnce = async (): Promise<boolean> => {
    try {
      const { bundle, result } = await ship(client, { entry, ephemeral: true, checker });
      const first = appName === undefined;
      if (appName !== undefined && appName !== result.app.name) await client.stopApp(appName, true).catch(() => {});
      if (appName !== result.app.name) {
        appName = result.app.name;
        const follow = { follow: true, dev: true, signal: logsAbort.signal };
        void client.logs(appName, follow, (line) => process.stdout.write(`${formatLog(line)}\n`)).catch(() => {});
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
  // Said once it is true: a change made before the watcher has read the files would go unnoticed.
  await new Promise<void>((resolve) => (watcher ? watcher.once("ready", () => resolve()) : resolve()));
  status("Watching for changes; Ctrl-C to stop.");
}

async function startEmbedded(flags: ServeFlags): Promise<RunningServer> {
  const home = berthHome(flags.home);
  const options = {
    home,
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
