/**
 * Test support for several nodes: real `berth server` processes sharing a
 * real PostgreSQL database (postgres.ts), each with its own state
 * directory and port, and a small round-robin load balancer in front of
 * them, as a user would run them. Every process is killed (its whole
 * process group) and every directory removed when the test or suite ends.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { bundleApp } from "../../src/bundler/bundle.js";
import { ApiClient } from "../../src/cli/client.js";
import type { DeployResult } from "../../src/wire/control-api.js";
import { REPO } from "./platform.js";
import { launchPostgres, type TestPostgres } from "./postgres.js";
import { freePort } from "./ports.js";
import { waitFor } from "./wait.js";

/** Registers cleanups: a TestContext, or `{ after }` of a describe. */
export interface Cleanup {
  after(fn: () => unknown): void;
}

export interface NodeProcess {
  id: string;
  port: number;
  home: string;
  /** `http://127.0.0.1:<port>`: this node's control API. */
  url: string;
  child: ChildProcess;
  output(): string;
  /** SIGKILL of the node process, as a crash would. */
  kill(): Promise<void>;
  /** SIGTERM: a clean shutdown (deregisters, drains). */
  stop(): Promise<void>;
  alive(): boolean;
}

export interface Cluster {
  pg: TestPostgres;
  database: string;
  nodes: NodeProcess[];
  /** The load balancer's base URL (`http://127.0.0.1:<port>`). */
  lb: string;
  lbPort: number;
  /** The admin token the first node printed. */
  token: string;
  keyFile: string;
  /** A control API client through the load balancer, or straight to one node. */
  client(node?: NodeProcess): ApiClient;
  /** Starts another node (or the same one again: same id, home and port). */
  startNode(options: { id: string; home?: string; port?: number; keyFile?: string; extra?: string[] }): Promise<NodeProcess>;
  /** Bundles `file` and deploys it through the load balancer (or `via` one node). */
  deploy(file: string, via?: NodeProcess): Promise<DeployResult>;
  /** A function's URL on one node (or on the load balancer): its host with that port. */
  urlOn(result: DeployResult, fn: string, port: number): string;
}

export interface ClusterOptions {
  nodes: number;
  /** Extra `berth server` flags for every node. */
  extra?: string[];
  /** The nodes' runtime. Default `process`. */
  runtime?: "process" | "sandbox";
  /** Flags of one node's own, by its id (`n1`, `n2`, …), after `extra`. */
  nodeExtra?: (id: string) => string[];
}

const TOKEN = /bt_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/;

export async function startCluster(cleanup: Cleanup, options: ClusterOptions): Promise<Cluster> {
  const pg = await launchPostgres();
  cleanup.after(() => pg.close());
  const database = await pg.createDatabase("berth");
  const shared = mkdtempSync(join(tmpdir(), "berth-cluster-"));
  cleanup.after(() => rmSync(shared, { recursive: true, force: true }));
  const keyFile = join(shared, "secrets.key");
  writeFileSync(keyFile, `${Buffer.alloc(32, 7).toString("base64")}\n`, { mode: 0o600 });
  const nodes: NodeProcess[] = [];

  const startNode: Cluster["startNode"] = async ({ id, home, port, keyFile: key = keyFile, extra = [] }) => {
    const dir = home ?? mkdtempSync(join(tmpdir(), `berth-${id}-`));
    if (!home) cleanup.after(() => rmSync(dir, { recursive: true, force: true }));
    const nodePort = port ?? (await freePort());
    const args = [
      join(REPO, "bin", "berth.js"),
      "server",
      "--port",
      String(nodePort),
      "--home",
      dir,
      "--database",
      database,
      "--node-id",
      id,
      "--secret-key-file",
      key,
      "--log-level",
      "warn",
      // What these tests are about is the cluster, not the sandbox (whose own tests cover it): containers as child processes.
      "--runtime",
      options.runtime ?? "process",
      ...(options.extra ?? []),
      ...(options.nodeExtra?.(id) ?? []),
      ...extra,
    ];
    const child = spawn(process.execPath, args, { cwd: REPO, env: { ...process.env, NO_COLOR: "1", BERTH_HOME: dir }, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let text = "";
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (text += chunk));
    const exited = new Promise<void>((done) => child.once("exit", () => done()));
    const kill = async (signal: NodeJS.Signals) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        // The node process alone: its containers outlive it as they would a crash (the cleanup below ends them).
        process.kill(child.pid!, signal);
      } catch {
        // Already gone.
      }
      await exited;
    };
    cleanup.after(async () => {
      // The whole group: the node and every container it started.
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // Already gone.
      }
      await exited;
    });
    const node: NodeProcess = {
      id,
      port: nodePort,
      home: dir,
      url: `http://127.0.0.1:${nodePort}`,
      child,
      output: () => text,
      kill: () => kill("SIGKILL"),
      stop: () => kill("SIGTERM"),
      alive: () => child.exitCode === null && child.signalCode === null,
    };
    await new Promise<void>((ready, fail) => {
      const timer = setTimeout(() => fail(new Error(`node ${id} did not start within 60 s; output:\n${text}`)), 60_000);
      const check = () => {
        if (/berth server listening on/.test(text)) {
          clearTimeout(timer);
          ready();
        }
      };
      child.stdout!.on("data", check);
      child.stderr!.on("data", check);
      child.once("exit", (code) => {
        clearTimeout(timer);
        fail(new Error(`node ${id} exited (${code}) before listening; output:\n${text}`));
      });
      check();
    });
    return node;
  };

  for (let i = 1; i <= options.nodes; i += 1) nodes.push(await startNode({ id: `n${i}` }));
  const token = TOKEN.exec(nodes[0]!.output())?.[0];
  if (!token) throw new Error(`the first node printed no admin token:\n${nodes[0]!.output()}`);
  // Every node has heard of every other before the test acts: a deploy converged on a node that has not yet seen the
  // last one to join gives it a larger share of minContainers, whose extra containers then stay until idle.
  const allStarted = Date.now();
  await waitFor(
    "every node to have completed a heartbeat (and read the others) after the last one joined",
    async () => {
      const { nodes: views } = await new ApiClient(nodes[0]!.url, undefined, token).listNodes();
      const now = Date.now();
      return (views.length === nodes.length && views.every((view) => now - view.lastSeenMs > allStarted + 1000)) || undefined;
    },
    30_000,
    100,
  );

  const balancer = roundRobin(() => nodes.filter((node) => node.alive()).map((node) => node.port));
  await new Promise<void>((done) => balancer.listen(0, "127.0.0.1", () => done()));
  cleanup.after(
    () =>
      new Promise<void>((done) => {
        balancer.closeAllConnections();
        balancer.close(() => done());
      }),
  );
  const lbPort = (balancer.address() as AddressInfo).port;
  const lb = `http://127.0.0.1:${lbPort}`;

  return {
    pg,
    database,
    nodes,
    lb,
    lbPort,
    token,
    keyFile,
    client: (node) => new ApiClient(node ? node.url : lb, undefined, token),
    startNode,
    async deploy(file, via) {
      const client = new ApiClient(via ? via.url : lb, undefined, token);
      const bundle = await bundleApp(resolve(REPO, file));
      await client.uploadBlob(bundle.hash, bundle.code);
      return client.deploy({ bundleHash: bundle.hash, manifest: bundle.manifest, ephemeral: false }, () => {});
    },
    urlOn(result, fn, port) {
      const found = result.functions.find((f) => f.name === fn);
      if (!found) throw new Error(`no function ${fn}`);
      const url = new URL(found.url);
      url.port = String(port);
      return url.toString();
    },
  };
}

/**
 * A load balancer as small as it gets: each request to the next node in
 * turn, streamed both ways; a node that refuses the connection is skipped
 * (as nginx's `proxy_next_upstream error` does), one that fails after
 * taking the request costs that request a 502.
 */
export function roundRobin(ports: () => number[]): Server {
  let next = 0;
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const candidates = ports();
    const attempt = (tries: number) => {
      if (candidates.length === 0 || tries >= candidates.length) {
        res.writeHead(502, { "content-type": "text/plain" }).end("no node answered\n");
        return;
      }
      const port = candidates[next++ % candidates.length]!;
      // A connection per request (no agent), so "refused" always means the node is down, and the body is sent only once connected.
      const upstream = httpRequest({ host: "127.0.0.1", port, method: req.method, path: req.url, headers: req.headers, agent: false });
      let connected = false;
      upstream.on("socket", (socket) =>
        socket.once("connect", () => {
          connected = true;
          req.pipe(upstream);
        }),
      );
      upstream.on("response", (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
        answer.pipe(res);
        answer.on("error", () => res.destroy());
      });
      upstream.on("error", () => {
        if (!connected && !res.headersSent) return attempt(tries + 1);
        if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" }).end("the node failed\n");
        else res.destroy();
      });
      res.on("close", () => {
        if (!res.writableFinished) upstream.destroy();
      });
    };
    attempt(0);
  });
}
