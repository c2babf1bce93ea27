/**
 * `berth server`'s security and capacity flags turned into server options,
 * and the one-time announcement of a fresh server's admin token.
 */
import { readFileSync } from "node:fs";
import type { ServerOptions } from "../server/start.js";
import type { RuntimeName } from "../server/runtime.js";
import { BerthError, messageOf, systemCode } from "../errors/codes.js";
import { numberFlag } from "./config.js";
import { saveToken } from "./credentials.js";
import { green, status } from "./output.js";

export interface ServerFlags {
  port?: string;
  host?: string;
  home?: string;
  domain?: string;
  workspace?: string;
  queueLimit?: string;
  callDelay?: string;
  /** Comma-separated addresses and CIDR ranges. */
  trustProxy?: string;
  rateLimit?: string;
  burst?: string;
  maxBody?: string;
  /** Requests/s one client address may send to one workspace's public endpoints. */
  clientRateLimit?: string;
  clientBurst?: string;
  /** Failed authentications per second per client address (burst 10×). */
  failedAuthLimit?: string;
  /** Live containers on the whole server. */
  maxContainers?: string;
  /** Seconds a request waits for a container at the cap. */
  capacityWait?: string;
  /** Seconds a request body has to arrive once it holds a container. */
  bodyTimeout?: string;
  /** Bytes per second a body must average past `--body-timeout`. */
  bodyMinRate?: string;
  publicMetrics?: boolean;
  secretKeyFile?: string;
  /** The server log's least severe level (`info` by default). */
  logLevel?: string;
  /** Seconds requests in flight get to finish after SIGTERM or Ctrl-C (default 30). */
  grace?: string;
  /** Versions per app whose bundles and run folders are kept (default 10). */
  keepVersions?: string;
  /** The base clients reach the gateway at, e.g. `https://fns.example.com`. */
  publicUrl?: string;
  /** Paths of a PEM certificate (chain) and its key: the gateway then serves HTTPS itself. */
  tlsCert?: string;
  tlsKey?: string;
  /** Bytes of log kept per app, e.g. `16MiB`. */
  appLogSize?: string;
  /** False with `--no-access-log`. */
  accessLog?: boolean;
  /** `postgres://…`: state shared with every node that names the same database. */
  database?: string;
  nodeId?: string;
  advertiseUrl?: string;
  /** `sandbox` (the default) or `process`. */
  runtime?: string;
  /** Directory of the sandbox runtime's image store. */
  imageCache?: string;
  /** PEM file of extra certificate authorities for image build steps. */
  buildCaFile?: string;
}

/** `--runtime`: the name, checked. */
export function runtimeFlag(value: string | undefined, fallback: RuntimeName): RuntimeName {
  if (value === undefined) return fallback;
  if (value !== "sandbox" && value !== "process") throw new BerthError("invalid_input", `--runtime is sandbox or process, not "${value}"`);
  return value;
}

/** Where sandbox images live: --image-cache, else BERTH_IMAGE_CACHE, else the server's default. */
export function imageCacheFlag(value: string | undefined): string | undefined {
  return value ?? (process.env.BERTH_IMAGE_CACHE || undefined);
}

/** CA certificates for build steps: --build-ca-file, else BERTH_BUILD_CA_FILE, else the NODE_EXTRA_CA_CERTS node itself is told to trust. */
export function buildCaFlag(value: string | undefined): string | undefined {
  return value ?? (process.env.BERTH_BUILD_CA_FILE || process.env.NODE_EXTRA_CA_CERTS || undefined);
}

const SIZE = /^(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?$/i;
const UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** `4GiB`, `512m`, `1000000` → bytes. */
export function parseSize(text: string): number {
  const match = SIZE.exec(text.trim());
  if (!match) throw new BerthError("invalid_input", `"${text}" is not a size: use bytes or a unit, e.g. 4GiB, 512MiB, 100k`);
  return Math.floor(Number(match[1]) * UNITS[(match[2] ?? "").charAt(0).toLowerCase()]!);
}

export function securityOptions(flags: ServerFlags): Partial<ServerOptions> {
  const options: Partial<ServerOptions> = { requireAuth: true };
  if (flags.trustProxy) options.trustProxy = flags.trustProxy.split(",").map((entry) => entry.trim()).filter(Boolean);
  if (flags.rateLimit !== undefined || flags.burst !== undefined) {
    const rate = Number(flags.rateLimit ?? 200);
    const burst = Number(flags.burst ?? rate * 5);
    if (!(rate > 0) || !Number.isInteger(burst) || burst < 1) throw new BerthError("invalid_input", "--rate-limit must be > 0 and --burst an integer ≥ 1");
    options.rateLimit = { rate, burst };
  }
  if (flags.clientRateLimit !== undefined || flags.clientBurst !== undefined) {
    if (flags.clientRateLimit === undefined) throw new BerthError("invalid_input", "--client-burst needs --client-rate-limit");
    options.clientRateLimit = rateFlags("--client-rate-limit", flags.clientRateLimit, "--client-burst", flags.clientBurst);
  }
  if (flags.failedAuthLimit !== undefined) {
    const rate = numberFlag("--failed-auth-limit", flags.failedAuthLimit, { positive: true });
    options.failedAuthLimit = { rate, burst: Math.max(1, Math.ceil(rate * 10)) };
  }
  if (flags.maxContainers !== undefined) {
    const max = numberFlag("--max-containers", flags.maxContainers, { integer: true });
    if (max < 1) throw new BerthError("invalid_input", "--max-containers takes a whole number ≥ 1");
    options.maxContainers = max;
  }
  if (flags.capacityWait !== undefined) options.capacityWaitMs = numberFlag("--capacity-wait", flags.capacityWait, { positive: true }) * 1000;
  if (flags.publicMetrics) options.publicMetrics = true;
  const limits: NonNullable<ServerOptions["limits"]> = {};
  if (flags.maxBody !== undefined) limits.maxBodyBytes = parseSize(flags.maxBody);
  if (flags.bodyTimeout !== undefined) limits.bodyTimeoutMs = numberFlag("--body-timeout", flags.bodyTimeout, { positive: true }) * 1000;
  if (flags.bodyMinRate !== undefined) {
    limits.bodyMinBytesPerSecond = parseSize(flags.bodyMinRate);
    if (!(limits.bodyMinBytesPerSecond > 0)) throw new BerthError("invalid_input", "--body-min-rate must be more than 0 bytes");
  }
  if (Object.keys(limits).length > 0) options.limits = limits;
  if (flags.secretKeyFile !== undefined || process.env.BERTH_SECRET_KEY_FILE) {
    options.secretKeyFile = flags.secretKeyFile ?? process.env.BERTH_SECRET_KEY_FILE;
  }
  return options;
}

/** `--database`, `--node-id`, `--advertise-url`, each with its environment variable. */
export function nodeOptions(flags: ServerFlags): Partial<ServerOptions> {
  const options: Partial<ServerOptions> = {};
  const database = flags.database ?? (process.env.BERTH_DATABASE_URL || undefined);
  if (database !== undefined) options.database = database;
  const nodeId = flags.nodeId ?? (process.env.BERTH_NODE_ID || undefined);
  if (nodeId !== undefined) options.nodeId = nodeId;
  const advertiseUrl = flags.advertiseUrl ?? (process.env.BERTH_ADVERTISE_URL || undefined);
  if (advertiseUrl !== undefined) options.advertiseUrl = advertiseUrl;
  return options;
}

/** `--rate N [--burst M]` style pairs: a rate > 0 and a whole burst ≥ 1, 5 s worth by default. */
function rateFlags(rateFlag: string, rateText: string, burstFlag: string, burstText: string | undefined): { rate: number; burst: number } {
  const rate = Number(rateText);
  const burst = burstText === undefined ? Math.max(1, Math.ceil(rate * 5)) : Number(burstText);
  if (!(rate > 0) || !Number.isInteger(burst) || burst < 1) throw new BerthError("invalid_input", `${rateFlag} must be > 0 and ${burstFlag} an integer ≥ 1`);
  return { rate, burst };
}

/** `--public-url`, `--tls-cert` and `--tls-key` as server options; the certificate files are read here, so a wrong path fails before anything starts. */
export function publicOptions(flags: ServerFlags): Pick<ServerOptions, "publicUrl" | "tls"> {
  const options: Pick<ServerOptions, "publicUrl" | "tls"> = {};
  if (flags.publicUrl !== undefined) options.publicUrl = flags.publicUrl;
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
    throw new BerthError("invalid_input", "--tls-cert and --tls-key go together: give the certificate and its private key (PEM files)");
  }
  if (flags.tlsCert !== undefined && flags.tlsKey !== undefined) options.tls = { cert: readPem("--tls-cert", flags.tlsCert), key: readPem("--tls-key", flags.tlsKey) };
  return options;
}

function readPem(flag: string, path: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (error) {
    throw new BerthError("invalid_input", `${flag} ${path}: cannot read it (${systemCode(error) ?? messageOf(error)})`);
  }
  if (!pem.includes("-----BEGIN ")) throw new BerthError("invalid_input", `${flag} ${path} is not a PEM file (no -----BEGIN line)`);
  return pem;
}

/** Prints the admin token a fresh server created, once, and saves it for the local CLI. */
export function announceBootstrapToken(url: string, token: string, home: string): void {
  const path = saveToken(url, token, { home });
  status(green("✓ First start: created an admin API token for this server (shown only now):"));
  process.stdout.write(`${token}\n`);
  status(`  Saved for the local CLI in ${path} (mode 0600). Elsewhere: berth login --server <url> --token <token>`);
}
