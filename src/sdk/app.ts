/**
 * `App` and the function builder: the user-facing verbs that turn plain
 * TypeScript into berth functions. Each builder method returns a
 * `FunctionDefinition` (see contract.ts) that the user exports; the export
 * name becomes the function's name.
 */
import { createServer, type AddressInfo } from "node:net";
import type { StandardSchemaV1 } from "@standard-schema/spec";
import type { ContainerHandler, ServerHook, StartContext, StartedFunction } from "./container.js";
import {
  BERTH_FUNCTION,
  DEFAULT_RESOURCES,
  type DescribeContext,
  type FunctionDefinition,
  type FunctionKind,
  type FunctionManifest,
  type WebApp,
  type WebEndpoint,
} from "./contract.js";
import {
  createEndpointFetch,
  type EndpointHandler,
  type EndpointOptions,
  type ErasedEndpointHandler,
  type HttpMethod,
  type RawQuery,
} from "./endpoint.js";
import type { HttpServerLike, IncomingMessageLike, ServerResponseLike } from "./node-like.js";
import { Image } from "./image.js";
import { checkName } from "./names.js";
import type { Secret } from "./secret.js";
import { toJsonSchema, validate } from "./schema.js";

export interface AppOptions {
  /** Default image of every function in the app. Default `Image.debianSlim()`. */
  image?: Image;
  /** Secrets every function of the app receives. */
  secrets?: Secret[];
  /** Environment variables every function of the app receives. */
  env?: Record<string, string>;
}

/** Options of `app.function()`. Times are in seconds. */
export interface FunctionOptions<S = unknown, P = Record<string, unknown>> {
  /** Overrides the app's image. */
  image?: Image;
  /** Secrets injected as environment variables. */
  secrets?: Secret[];
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Seconds one call may run before it is answered 504. Default 300. */
  timeout?: number;
  /** Seconds a container may take to become ready. Default 60. */
  startupTimeout?: number;
  /** Containers kept warm with no traffic. Default 0. */
  minContainers?: number;
  /** Upper bound on containers. Default 100. */
  maxContainers?: number;
  /** Idle containers kept beyond current demand. Default 0. */
  bufferContainers?: number;
  /** Seconds an idle container stays up before it is retired. Default 60. */
  scaledownWindow?: number;
  /** Inputs one container takes at once (`maxInputs`, default 1) and the autoscaler's target per container (`targetInputs`, default `maxInputs`). */
  concurrency?: { maxInputs?: number; targetInputs?: number };
  /** Standard Schema (an object schema) of parameters read from the query string; each distinct set gets its own container pool. */
  params?: StandardSchemaV1<unknown, P>;
  /** Runs once per container before it takes traffic; its result is the handler's `state`. */
  enter?: (context: { params: P }) => S | Promise<S>;
  /** Runs when the container shuts down (30 s grace period). */
  exit?: (context: { params: P; state: S }) => void | Promise<void>;
  /** CPU cores each container may use (0.5 = half a core). Default: no cap, a fair share of the machine. Sandbox runtime only. */
  cpu?: number;
  /** Memory of each container in MiB (at least 128); over it the container is killed ("out of memory"). Default 1024. Sandbox runtime only. */
  memory?: number;
  /** Outbound network; `false` cuts it entirely. Containers never reach the host's loopback either way. Default true. Sandbox runtime only. */
  network?: boolean;
}

/** Options shared by the whole-app kinds (`fetchApp`, `nodeApp`, `webServer`). */
export interface WebAppOptions {
  /** URL label override. */
  label?: string;
  /** Demand `Berth-Key`/`Berth-Secret` proxy-auth headers, checked by the gateway. */
  requiresProxyAuth?: boolean;
}

export interface WebServerOptions extends WebAppOptions {
  /**
   * Port the server listens on inside the container (also in `PORT`). Omit it
   * to get a free port per container in `port` and `PORT`: under the process
   * runtime containers share the host's network, so only that lets several
   * replicas or parameter sets run at once.
   */
  port?: number;
  /** Seconds to wait for the port to accept connections. Default 60. */
  startupTimeout?: number;
}

/** Anything with a web-standard fetch handler: a Hono app, `{ fetch }`, ... */
export interface FetchApp {
  fetch(request: Request, ...rest: unknown[]): Response | Promise<Response>;
  /**
   * Receives the container's `http.Server` before it listens, for WebSockets:
   * pass @hono/node-ws's `injectWebSocket` here.
   *
   * @example
   * const { injectWebSocket, upgradeWebSocket } = createNodeWebSocket({ app: hono });
   * return { fetch: hono.fetch, injectWebSocket };
   */
  injectWebSocket?(server: HttpServerLike): void;
}

/**
 * A Node `(req, res)` listener: an Express app, Koa's `callback()`, or your
 * own function. Declared as a method's type so that listeners typed with
 * Node's own `IncomingMessage` and `ServerResponse` (or Express's) fit.
 */
export type NodeListener = { listener(req: IncomingMessageLike, res: ServerResponseLike): void }["listener"];

/**
 * What a `nodeApp` factory may return: a `(req, res)` listener (Express,
 * Koa's `callback()`), an `http.Server` that is not listening (its `request`
 * and `upgrade` listeners serve, so a `ws` server attached to it works), or a
 * Fastify instance (made ready, then served through its server).
 */
export type NodeApp = NodeListener | HttpServerLike | { server: HttpServerLike; ready(): PromiseLike<unknown> };

const DEFAULTS = {
  timeout: 300,
  startupTimeout: 60,
  minContainers: 0,
  maxContainers: 100,
  bufferContainers: 0,
  scaledownWindow: 60,
  maxInputs: 1,
} as const;

/**
 * An app groups functions under one name, deployed and stopped together.
 *
 * @example
 * const app = new App("web-demo", { image: Image.debianSlim().npmInstall("hono@4") });
 * export const hello = app.function().webEndpoint(() => "Hello world!");
 */
export class App {
  constructor(
    readonly name: string,
    private readonly options: AppOptions = {},
  ) {
    if (typeof name !== "string" || !name.trim()) throw new Error("App needs a name: new App(\"my-app\")");
    checkName("app", name, ["app"]);
  }

  /** Declares a function; finish it with one of the web verbs. */
  function<S = unknown, P = Record<string, unknown>>(options: FunctionOptions<S, P> = {}): FunctionBuilder<S, P> {
    return new FunctionBuilder<S, P>(this.name, this.options, options);
  }
}

export class FunctionBuilder<S, P> {
  constructor(
    private readonly appName: string,
    private readonly appOptions: AppOptions,
    private readonly options: FunctionOptions<S, P>,
  ) {}

  /**
   * A simple endpoint: query and JSON body validated by Standard Schemas, return value JSON-encoded.
   * The result carries its types for the typed client (`endpoint<typeof fn>(url)` from `berthjs/client`).
   *
   * @example app.function().webEndpoint({ query: z.object({ x: z.coerce.number() }) }, ({ query }) => ({ square: query.x ** 2 }))
   */
  webEndpoint<R>(handler: EndpointHandler<RawQuery, unknown, S, P, R>): WebEndpoint<{
    method: "GET";
    queryInput: unknown;
    query: RawQuery;
    body: unknown;
    returns: R;
    params: P;
  }>;
  webEndpoint<Q = RawQuery, B = unknown, R = unknown, QI = unknown, BI = unknown, M extends HttpMethod = "GET">(
    options: EndpointOptions<Q, B, QI, BI> & { method?: M },
    handler: EndpointHandler<Q, B, S, P, R>,
  ): WebEndpoint<{ method: M; queryInput: QI; query: Q; body: BI; returns: R; params: P }>;
  // The overloads above check the user's types; from here on they are erased.
  webEndpoint(a: EndpointOptions<unknown, unknown> | ErasedEndpointHandler | undefined, b?: ErasedEndpointHandler): WebEndpoint {
    const [web, handler] = typeof a === "function" ? [{}, a] : [a ?? {}, b];
    if (typeof handler !== "function") throw new Error("webEndpoint needs a handler function");
    // Built once here so that definition errors (a GET with a body schema) surface at import time.
    createEndpointFetch("definition-check", web, handler, { state: undefined, params: {} });
    return this.define("endpoint", web, { method: web.method ?? "GET", docs: web.docs ?? false }, (name, scope) => ({
      type: "fetch",
      fetch: createEndpointFetch(name, web, handler, scope),
    }));
  }

  /**
   * A whole app with a fetch handler (Hono, itty-router, a plain `{ fetch }`).
   *
   * @example app.function({ concurrency: { maxInputs: 1000 } }).fetchApp(() => honoApp)
   */
  fetchApp(factory: (context: { params: P; state: S }) => FetchApp | Promise<FetchApp>): WebApp<P>;
  fetchApp(options: WebAppOptions, factory: (context: { params: P; state: S }) => FetchApp | Promise<FetchApp>): WebApp<P>;
  fetchApp(a: unknown, b?: unknown): WebApp<P> {
    const [web, factory] = splitOptions<(context: { params: P; state: S }) => FetchApp | Promise<FetchApp>>(a, b, "fetchApp");
    return this.define("fetch", web, {}, async (name, scope) => {
      const app = await factory(scope as { params: P; state: S });
      if (!app || typeof (app as FetchApp).fetch !== "function") {
        throw new Error(`fetchApp factory of ${name} must return an object with a fetch(request) method, got ${describeValue(app)}`);
      }
      const inject = app.injectWebSocket?.bind(app);
      const attach: ServerHook | undefined = inject ? (server) => inject(server) : undefined;
      return { type: "fetch", fetch: (request: Request) => app.fetch(request), ...(attach ? { attach } : {}) };
    });
  }

  /**
   * A whole Node app: any `(req, res)` listener (Express, Fastify's `server`, Koa's `callback()`).
   *
   * @example app.function().nodeApp(() => expressApp)
   */
  nodeApp(factory: (context: { params: P; state: S }) => NodeApp | Promise<NodeApp>): WebApp<P>;
  nodeApp(options: WebAppOptions, factory: (context: { params: P; state: S }) => NodeApp | Promise<NodeApp>): WebApp<P>;
  nodeApp(a: unknown, b?: unknown): WebApp<P> {
    const [web, factory] = splitOptions<(context: { params: P; state: S }) => NodeApp | Promise<NodeApp>>(a, b, "nodeApp");
    return this.define("node", web, {}, async (name, scope) => {
      const app = await factory(scope as { params: P; state: S });
      if (typeof app === "function") return { type: "node", listener: app };
      if (isFastifyLike(app)) {
        await app.ready();
        return nodeServerHandler(app.server);
      }
      if (isNodeServer(app)) return nodeServerHandler(app);
      throw new Error(
        `nodeApp factory of ${name} must return a (req, res) function, an http.Server or a Fastify instance, got ${describeValue(app)}`,
      );
    });
  }

  /**
   * Any HTTP server listening on `port` inside the container; `start` launches it.
   *
   * @example app.function().webServer({ port: 8000 }, () => { spawn("python3", ["-m", "http.server", "8000"]) })
   * @example app.function().webServer({}, ({ port }) => { spawn("python3", ["-m", "http.server", String(port)]) })
   */
  webServer(options: WebServerOptions, start: (context: { params: P; state: S; port: number }) => unknown): WebApp<P> {
    const fixed = options?.port;
    if (!options || (fixed !== undefined && (!Number.isInteger(fixed) || fixed < 1 || fixed > 65535))) {
      throw new Error("webServer needs options, with port (if given) an integer from 1 to 65535");
    }
    if (typeof start !== "function") throw new Error("webServer needs a start function");
    const extra = { port: fixed, startupTimeout: options.startupTimeout };
    return this.define("server", options, extra, async (_name, scope) => {
      const port = fixed ?? (await freePort());
      process.env.PORT = String(port);
      await start({ ...(scope as { params: P; state: S }), port });
      return { type: "port", port };
    });
  }

  private define(
    kind: FunctionKind,
    web: { label?: string; requiresProxyAuth?: boolean },
    extra: { method?: string; docs?: boolean; port?: number | undefined; startupTimeout?: number | undefined },
    build: (name: string, scope: { params: Record<string, unknown>; state: unknown }) => Promise<ContainerHandler> | ContainerHandler,
  ): FunctionDefinition {
    const { appName, appOptions, options } = this;
    const image = options.image ?? appOptions.image ?? Image.debianSlim();
    const secrets = [...(appOptions.secrets ?? []), ...(options.secrets ?? [])];
    const maxInputs = options.concurrency?.maxInputs ?? DEFAULTS.maxInputs;
    const paramsSchema = paramsJsonSchema(options.params);
    const resources = resourceSpec(options);
    let definedName = "function";
    return {
      [BERTH_FUNCTION]: true,
      appName,
      describe(name: string, context?: DescribeContext): FunctionManifest {
        checkName("function", name, ["function"]);
        definedName = name;
        return {
          name,
          kind,
          ...(web.label !== undefined ? { label: web.label } : {}),
          ...(extra.method !== undefined ? { method: extra.method } : {}),
          ...(extra.docs !== undefined ? { docs: extra.docs } : {}),
          ...(extra.port !== undefined ? { port: extra.port } : {}),
          requiresProxyAuth: web.requiresProxyAuth ?? false,
          image: image.toSpec(),
          secrets: secrets.map((secret) => secret.toSpec(context)),
          env: { ...appOptions.env, ...options.env },
          params: paramsSchema ? Object.keys(paramsSchema.properties as object).sort() : [],
          ...(paramsSchema ? { paramsSchema } : {}),
          scaling: {
            minContainers: options.minContainers ?? DEFAULTS.minContainers,
            maxContainers: options.maxContainers ?? DEFAULTS.maxContainers,
            bufferContainers: options.bufferContainers ?? DEFAULTS.bufferContainers,
            scaledownWindow: options.scaledownWindow ?? DEFAULTS.scaledownWindow,
            maxInputs,
            targetInputs: options.concurrency?.targetInputs ?? maxInputs,
          },
          resources,
          timeout: options.timeout ?? DEFAULTS.timeout,
          startupTimeout: extra.startupTimeout ?? options.startupTimeout ?? DEFAULTS.startupTimeout,
        };
      },
      async start(context: StartContext): Promise<StartedFunction> {
        let params = context.params;
        if (options.params) {
          const parsed = await validate(options.params, context.params, "params");
          if (!parsed.ok) throw new Error(`invalid params: ${parsed.issues.map((i) => `${i.loc.join(".")}: ${i.message}`).join("; ")}`);
          params = parsed.value as Record<string, unknown>;
        }
        const state = options.enter ? await options.enter({ params: params as P }) : undefined;
        const handler = await build(definedName, { params, state });
        return {
          handler,
          async stop() {
            if (options.exit) await options.exit({ params: params as P, state: state as S });
          },
        };
      },
    };
  }
}

/** `cpu`, `memory` and `network`, checked now so a bad value fails at import, not at the first start. */
function resourceSpec(options: { cpu?: number; memory?: number; network?: boolean }) {
  const { cpu, memory, network } = options;
  if (memory !== undefined && !(Number.isInteger(memory) && memory >= 128 && memory <= 1024 * 1024)) {
    throw new Error(`memory is in MiB: a whole number from 128 up, got ${memory}`);
  }
  if (cpu !== undefined && !(typeof cpu === "number" && cpu > 0 && cpu <= 1024)) {
    throw new Error(`cpu is a number of cores greater than 0 (e.g. 0.5 or 2), got ${cpu}`);
  }
  if (network !== undefined && typeof network !== "boolean") throw new Error(`network is true or false, got ${String(network)}`);
  return { memory: memory ?? DEFAULT_RESOURCES.memory, cpu: cpu ?? DEFAULT_RESOURCES.cpu, network: network ?? DEFAULT_RESOURCES.network };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "0.0.0.0", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

function splitOptions<F>(a: unknown, b: unknown, verb: string): [WebAppOptions, F] {
  const [web, factory] = typeof a === "function" ? [{}, a] : [a ?? {}, b];
  if (typeof factory !== "function") throw new Error(`${verb} needs a factory function`);
  return [web as WebAppOptions, factory as F];
}

/**
 * The JSON Schema of a params schema: the gateway validates query values with
 * it (see `paramsSchema` in contract.ts), so a library that cannot describe
 * its schema is refused here, at import time, rather than at the first request.
 */
function paramsJsonSchema(schema: StandardSchemaV1 | undefined): Record<string, unknown> | undefined {
  if (!schema) return undefined;
  const json = toJsonSchema(schema);
  if (!json) {
    throw new Error(
      "params needs a schema that can describe itself as JSON Schema: zod 4 (z.object), or valibot wrapped in toStandardJsonSchema from @valibot/to-json-schema",
    );
  }
  const properties = json.properties;
  if (json.type !== "object" || typeof properties !== "object" || properties === null || Object.keys(properties).length === 0) {
    throw new Error("params must be an object schema with at least one field, e.g. z.object({ root: z.string().default(\".\") })");
  }
  return json;
}

function isNodeServer(value: unknown): value is HttpServerLike {
  return typeof value === "object" && value !== null && "listen" in value && typeof value.listen === "function" && "emit" in value && typeof value.emit === "function";
}

function isFastifyLike(value: unknown): value is { server: HttpServerLike; ready(): PromiseLike<unknown> } {
  return typeof value === "object" && value !== null && "ready" in value && typeof value.ready === "function" && "server" in value && isNodeServer(value.server);
}

/** Serves a user's own (not listening) server by re-emitting the container server's events on it. */
function nodeServerHandler(server: HttpServerLike): ContainerHandler {
  return {
    type: "node",
    listener: (req, res) => server.emit("request", req, res),
    attach(ours) {
      if (server.listenerCount("upgrade") === 0) return;
      ours.on("upgrade", (req, socket, head) => server.emit("upgrade", req, socket, head));
    },
  };
}

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? `an object with keys [${Object.keys(value).join(", ")}]` : typeof value;
}
