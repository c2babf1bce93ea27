/**
 * The composition root: wires the state store, blob store, image builder,
 * runtime driver, control plane and gateway into one running platform.
 * `berth server` runs it for good; `berth serve` embeds a throwaway one.
 */
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { mkdirSync } from "node:fs";
import { getRequestListener } from "@hono/node-server";
import { createControlApi } from "../control/api.js";
import { BlobStore } from "../control/blobs.js";
import { LogHub, type LogEntry } from "../control/logs.js";
import { Platform } from "../control/platform.js";
import { SqliteStore } from "../control/store/sqlite.js";
import { CallRegistry } from "../gateway/calls.js";
import { createGateway } from "../gateway/server.js";
import { Metrics } from "../metrics/metrics.js";
import { ImageBuilder } from "../image/builder.js";
import { ProcessDriver } from "../runtime/process-driver.js";

export interface ServerOptions {
  /** State directory: database, blobs, images. */
  home: string;
  /** Port to listen on; 0 picks a free one. */
  port: number;
  /** Address to bind. Default 127.0.0.1. */
  host?: string;
  /** Base domain of function hosts. Default "localhost". */
  domain?: string;
  /** Workspace of requests that name none. */
  workspace: string;
  /** Keep state in memory only (the embedded platform of `berth serve`). */
  ephemeralState?: boolean;
  /** Receives every container log line (the server prints them). */
  onLog?: (entry: LogEntry) => void;
  /** Generic agents kept warm by the process runtime. */
  warmAgents?: number;
  /** Requests allowed to wait per function pool before 503 queue_full. Default 1000. */
  queueLimit?: number;
  /** Milliseconds a call may go without starting its response before the client gets a 303 to its result URL. Default 150 000. */
  callDelayMs?: number;
  /** Milliseconds a finished call's result waits at its result URL. Default 60 000. */
  callResultTtlMs?: number;
  /** Milliseconds a stopping container gets for its `exit` hook (in-flight requests finish first). Default 30 000. */
  exitGraceMs?: number;
}

export interface RunningServer {
  port: number;
  /** `http://localhost:<port>`, the control API's base URL. */
  url: string;
  platform: Platform;
  close(): Promise<void>;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  mkdirSync(options.home, { recursive: true });
  const store = new SqliteStore(options.ephemeralState ? ":memory:" : join(options.home, "state.db"));
  const blobs = new BlobStore(join(options.home, "blobs"));
  const images = new ImageBuilder(join(options.home, "images"));
  const driver = new ProcessDriver({ warmAgents: options.warmAgents });
  const logs = new LogHub(options.onLog);
  const domain = options.domain ?? "localhost";
  let port = options.port;
  // Scraped later, so the platform it reads from can be created after it.
  const metrics = new Metrics({ services: () => platform.services() });
  const platform = new Platform({
    store,
    blobs,
    images,
    driver,
    logs,
    runRoot: join(options.home, "run"),
    domain,
    publicPort: () => port,
    queueLimit: options.queueLimit,
    drainGraceMs: options.exitGraceMs,
    onPoolEvent: (identity, event) => metrics.poolEvent(identity, event),
  });
  const calls = new CallRegistry({ delayMs: options.callDelayMs, resultTtlMs: options.callResultTtlMs });
  const api = createControlApi({ platform, blobs, logs, metrics, defaultWorkspace: options.workspace });
  const gateway = createGateway({
    domain,
    routes: platform,
    control: getRequestListener(api.fetch, { overrideGlobalObjects: false }),
    calls,
    observer: metrics,
  });
  await new Promise<void>((resolve, reject) => {
    gateway.once("error", reject);
    gateway.listen(options.port, options.host ?? "127.0.0.1", () => resolve());
  });
  port = (gateway.address() as AddressInfo).port;
  await platform.restore();

  let closing: Promise<void> | undefined;
  return {
    port,
    url: `http://localhost:${port}`,
    platform,
    close() {
      closing ??= (async () => {
        gateway.close();
        gateway.closeAllConnections();
        calls.close();
        await platform.close();
        await driver.close();
        store.close();
      })();
      return closing;
    },
  };
}
