/**
 * The contract between user code (the SDK bundled into it) and the platform.
 *
 * The SDK is bundled into every user bundle, so the platform never shares a
 * module instance with it: the CLI and the agent find berth functions among a
 * bundle's exports by the `BERTH_FUNCTION` symbol (registered with
 * `Symbol.for`, so it is the same in every copy of the SDK) and talk to them
 * only through the types below. Nothing here imports platform code but the
 * error table, a leaf.
 */
import type { StartContext, StartedFunction } from "./container.js";
import type { HttpMethod } from "./endpoint.js";

export const BERTH_FUNCTION: unique symbol = Symbol.for("berth.function") as never;

/**
 * On a `Response` made by a simple endpoint from a plain value (see
 * plain-response.ts): its whole body as a string, so the agent can write it
 * without reading the body stream the response would otherwise need.
 */
export const PLAIN_BODY: unique symbol = Symbol.for("berth.plainBody") as never;

/**
 * On a `Request` the agent hands to a fetch handler: the request's header
 * lines as node:http read them (`IncomingMessage.rawHeaders`, name and value
 * alternating), so a simple endpoint reads the one or two headers it needs
 * (`Origin` for CORS, `X-Forwarded-For` for `clientIp`) without building the
 * request's `Headers` object (request-header.ts).
 */
export const RAW_HEADERS: unique symbol = Symbol.for("berth.rawHeaders") as never;

/**
 * Marks a simple endpoint's plain return value, JSON-encoded, so that the
 * typed client (`berthjs/client`) parses it and hands back a `Response` the
 * handler built itself untouched, whatever its content type.
 */
export const RETURN_HEADER = "berth-return";

/** How a function answers HTTP: the closed set of web function kinds. */
export type FunctionKind = "endpoint" | "fetch" | "node" | "server";

/** The image a function runs in, as a serialisable, content-hashable spec. */
export interface ImageSpec {
  /** Base image name; `debian-slim` is the only one today. */
  base: "debian-slim";
  /** Steps in the order they were declared. */
  steps: ImageStep[];
}

/**
 * One step of an image, in declaration order. Each becomes a layer, cached by
 * (parent layer, step). `local` names files on the deploying machine: the
 * CLI uploads them and turns the step into `copy` before it deploys.
 */
export type ImageStep =
  | { kind: "apt"; packages: string[] }
  | { kind: "npm"; packages: string[] }
  | { kind: "run"; commands: string[] }
  | { kind: "env"; vars: Record<string, string> }
  | { kind: "workdir"; path: string }
  | { kind: "local"; source: string; target: string; directory: boolean }
  | { kind: "copy"; blob: string; target: string; directory: boolean };

/** A secret reference as it travels in the manifest (never its values when named). */
export type SecretSpec =
  | { kind: "name"; name: string; requiredKeys: string[] }
  | { kind: "inline"; values: Record<string, string> };

/** Everything the platform needs to know about one function, serialisable to JSON. */
export interface FunctionManifest {
  /** The export name; unique within the app. */
  name: string;
  kind: FunctionKind;
  /** The user's URL label override; without one the platform derives `<app>-<function>`. */
  label?: string;
  /** Only for `endpoint`: the HTTP method it accepts. */
  method?: string;
  /** Only for `endpoint`: whether `/docs` and `/openapi.json` are served. */
  docs?: boolean;
  /** Only for `server`: the port the user's server listens on; absent, each container gets a free one. */
  port?: number;
  requiresProxyAuth: boolean;
  image: ImageSpec;
  secrets: SecretSpec[];
  /** Extra environment variables for the container. */
  env: Record<string, string>;
  /** Names of the parameters that select a container pool (from the `params` schema). */
  params: string[];
  /**
   * JSON Schema (draft 2020-12, input side) of the `params` object, present
   * when the function has params. The gateway cannot run the user's schema
   * library, so it validates, coerces and defaults query values with this
   * before choosing a pool; the container validates again with the real schema.
   */
  paramsSchema?: Record<string, unknown>;
  scaling: ScalingSpec;
  /** What each container may use. Absent in manifests from before it existed: the defaults. */
  resources?: ResourceSpec;
  /** Seconds a call may run before it gets 504. Default 300. */
  timeout: number;
  /** Seconds a container may take to become ready. Default 60 (server functions: their own). */
  startupTimeout: number;
}

/** Limits and network of each container of a function (enforced by the sandbox runtime). */
export interface ResourceSpec {
  /** MiB of memory; over it the container is killed ("out of memory"). Default 1024. */
  memory: number;
  /** CPU cores (0.5 = half a core), or null for no cap (a fair share of the machine). Default null. */
  cpu: number | null;
  /** Outbound network (never the host's loopback). Default true. */
  network: boolean;
}

export const DEFAULT_RESOURCES: ResourceSpec = { memory: 1024, cpu: null, network: true };

/** Autoscaling options of one function, resolved to numbers. */
export interface ScalingSpec {
  /** Containers kept running with no traffic. Default 0. */
  minContainers: number;
  /** Upper bound on containers. Default 100. */
  maxContainers: number;
  /** Idle containers kept beyond demand. Default 0. */
  bufferContainers: number;
  /** Seconds a container stays up with no inputs before it is retired. Default 60. */
  scaledownWindow: number;
  /** Inputs one container serves at once. Default 1. */
  maxInputs: number;
  /** Inputs per container the autoscaler aims for. Default `maxInputs`. */
  targetInputs: number;
}

export interface AppManifest {
  name: string;
  functions: FunctionManifest[];
}

/** What the platform tells a function while it reads the app's manifest. */
export interface DescribeContext {
  /** Absolute directory of the app file given to `serve` or `deploy`: relative `Secret.fromDotenv` paths start here. */
  appDir: string;
}

/**
 * The runtime face of an exported berth function. Its members but the
 * marker are the platform's business (internal: left out of the published
 * types).
 */
export interface FunctionDefinition {
  /** Marks berth functions among a module's exports (and keeps this type from matching any object). */
  readonly [BERTH_FUNCTION]: true;
  /**
   * The manifest without the name, which only the export knows.
   * @internal
   */
  describe(name: string, context?: DescribeContext): FunctionManifest;
  /**
   * Runs `enter` and builds the handler for one container.
   * @internal
   */
  start(context: StartContext): Promise<StartedFunction>;
  /** @internal */
  readonly appName: string;
}

/**
 * What a typed client (`berthjs/client`) reads off an exported simple
 * endpoint's type. Only the type checker sees it: nothing at run time.
 */
export interface EndpointTypes {
  /** The one method the endpoint accepts. */
  method: HttpMethod;
  /** The query schema's input type (what a caller may send), `unknown` without a schema. */
  queryInput: unknown;
  /** The query schema's output type (what the handler receives). */
  query: unknown;
  /** The body schema's input type, `unknown` without a schema (any JSON). */
  body: unknown;
  /** What the handler returns (before awaiting). */
  returns: unknown;
  /** The function's `params` (its output type), `{}` without a params schema. */
  params: unknown;
}

/** An exported simple endpoint: a `FunctionDefinition` that carries its types for `berthjs/client`. */
export interface WebEndpoint<T extends EndpointTypes = EndpointTypes> extends FunctionDefinition {
  /** Phantom: never set; only `endpoint<typeof fn>()` reads it. */
  readonly "~endpoint"?: T;
}

/** An exported whole app (`fetchApp`, `nodeApp`, `webServer`): any method, any path. */
export interface WebApp<P = unknown> extends FunctionDefinition {
  /** Phantom: never set; only `endpoint<typeof fn>()` reads it. */
  readonly "~app"?: { params: P };
}

/** One reason a request's input was refused; the 422 body lists them. */
export type { FieldIssue } from "../errors/codes.js";

export function isFunctionDefinition(value: unknown): value is FunctionDefinition {
  return typeof value === "object" && value !== null && BERTH_FUNCTION in value && value[BERTH_FUNCTION] === true;
}
