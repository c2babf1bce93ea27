/**
 * Validation of what crosses the control API: a deployment's manifest comes
 * from a CLI we do not control, so every field is checked before the
 * platform acts on it. What they accept is assigned to the wire types of
 * wire/control-api.ts where they are used, so the two cannot drift apart.
 */
import type { Context } from "hono";
import { z } from "zod";
import { REQUEST_ID_PATTERN } from "../agent/protocol.js";
import { BerthError } from "../errors/codes.js";
import { MAX_PAGE_ENTRIES } from "../logs/query.js";
import { nameProblem, type NameKind } from "../sdk/names.js";

/** A string held to the name grammar of sdk/names.ts; the issue names the field. */
const name = (kind: NameKind) =>
  z.string().superRefine((value, ctx) => {
    const problem = nameProblem(kind, value);
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
  });

const absolutePath = z.string().regex(/^\/./, "an absolute path").max(4096);

/** Steps as the server builds them: `local` steps must have been uploaded and turned into `copy` by the CLI. */
const imageStep = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("apt"), packages: z.array(z.string().regex(/^[a-z0-9][a-z0-9+.:=~-]*$/i, "a Debian package name")).min(1).max(200) }),
  z.object({ kind: z.literal("npm"), packages: z.array(z.string().min(1).max(214).regex(/^[^-]/, "a package, not an option")).min(1).max(100) }),
  z.object({ kind: z.literal("run"), commands: z.array(z.string().max(10_000)).max(100) }),
  z.object({ kind: z.literal("env"), vars: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "a variable name"), z.string()) }),
  z.object({ kind: z.literal("workdir"), path: z.string().min(1).max(4096) }),
  z.object({ kind: z.literal("copy"), blob: z.string().regex(/^[0-9a-f]{64}$/), target: absolutePath, directory: z.boolean() }),
]);

const secretSpec = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("name"), name: name("secret"), requiredKeys: z.array(z.string()) }),
  z.object({ kind: z.literal("inline"), values: z.record(z.string(), z.string()) }),
]);

const positiveSeconds = z.number().positive().max(86_400);

export const functionManifestSchema = z.object({
  name: name("function"),
  kind: z.enum(["endpoint", "fetch", "node", "server"]),
  label: z.string().min(1).max(63).optional(),
  method: z.enum(["GET", "POST", "PUT", "PATCH", "DELETE"]).optional(),
  docs: z.boolean().optional(),
  port: z.number().int().min(1).max(65_535).optional(),
  requiresProxyAuth: z.boolean(),
  image: z.object({ base: z.literal("debian-slim"), steps: z.array(imageStep).max(100) }),
  secrets: z.array(secretSpec).max(50),
  env: z.record(z.string(), z.string()),
  params: z.array(z.string()).max(20),
  paramsSchema: z.record(z.string(), z.unknown()).optional(),
  scaling: z
    .object({
      minContainers: z.number().int().min(0).max(1000),
      maxContainers: z.number().int().min(1).max(1000),
      bufferContainers: z.number().int().min(0).max(1000),
      scaledownWindow: positiveSeconds,
      maxInputs: z.number().int().min(1).max(100_000),
      targetInputs: z.number().int().min(1).max(100_000),
    })
    .refine((s) => s.minContainers <= s.maxContainers, "minContainers must not exceed maxContainers")
    .refine((s) => s.targetInputs <= s.maxInputs, "targetInputs must not exceed maxInputs"),
  resources: z
    .object({
      memory: z.number().int().min(128).max(1024 * 1024),
      cpu: z.number().positive().max(1024).nullable(),
      network: z.boolean(),
    })
    .optional(),
  timeout: positiveSeconds,
  startupTimeout: positiveSeconds,
});

export const appManifestSchema = z.object({
  name: name("app"),
  functions: z.array(functionManifestSchema).max(100),
});

/** A client-made deploy id: a UUID, or anything of the same alphabet and a sane length. */
const deployId = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, "deployId: 8 to 64 letters, digits, - or _");

export const deployRequestSchema = z.object({
  workspace: name("workspace").optional(),
  ephemeral: z.boolean().default(false),
  bundleHash: z.string().regex(/^[0-9a-f]{64}$/),
  manifest: appManifestSchema,
  deployId: deployId.optional(),
});

export const rollbackRequestSchema = z.object({ version: z.number().int().positive().optional(), deployId: deployId.optional() });

export const pruneRequestSchema = z.object({ all: z.boolean().optional() });

const count = z.string().regex(/^\d{1,9}$/, "a whole number").transform(Number);

/** `GET /api/apps/:name/logs`'s query: see LogQuery (logs/store.ts); `request` is the request id. */
export const logQuerySchema = z.object({
  since: z.string().regex(/^\d{1,15}$/, "milliseconds since the epoch").transform(Number).optional(),
  tail: count.pipe(z.number().max(MAX_PAGE_ENTRIES)).optional(),
  limit: count.pipe(z.number().min(1).max(MAX_PAGE_ENTRIES)).default(1000),
  // A node's own cursor, or one naming several nodes' (`m.` and base64url JSON; control/api.ts).
  after: z.string().regex(/^(?:\d{1,20}|m\.[A-Za-z0-9_-]{1,8000})$/, "a cursor from an earlier page").optional(),
  function: z.string().min(1).max(200).optional(),
  request: z.string().regex(REQUEST_ID_PATTERN, "a request id (berth-request-id)").optional(),
  container: z.string().regex(/^[0-9a-z]{1,32}$/, "a container id").optional(),
  stream: z.enum(["stdout", "stderr", "system", "access"]).optional(),
  follow: z.enum(["0", "1", "true", "false"]).transform((value) => value === "1" || value === "true").default(false),
});

/** Validates a route's query parameters: 422 naming each bad one (`["query", "tail"]`). */
export function parseQuery<T>(c: Context, schema: z.ZodType<T>): T {
  const parsed = schema.safeParse(c.req.query());
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => ({ loc: ["query", ...issue.path.map((key) => (typeof key === "symbol" ? String(key) : key))], message: issue.message }));
    throw new BerthError("invalid_input", undefined, { details: { issues } });
  }
  return parsed.data;
}

/** Largest JSON body of any control API route: a deploy's manifest is a few KiB; 1 MiB leaves room and bounds memory. */
export const MAX_JSON_BYTES = 1024 * 1024;

/** 413 for a JSON body over the limit; the rest of it is never read, so its connection closes. */
export function jsonTooLarge(): BerthError {
  return new BerthError("payload_too_large", `JSON bodies are limited to ${MAX_JSON_BYTES} bytes`, { headers: { connection: "close" } });
}

/**
 * Reads a JSON request body and validates it: 415 when it is not declared
 * `application/json` (so a cross-site form or `text/plain` post is never
 * parsed), 413 past 1 MiB (counted as it arrives), 400 when it is not JSON,
 * 422 naming each bad field. With `empty`, a request without a body stands
 * for that value (a rollback without a version).
 */
export async function parseBody<T>(c: Context, schema: z.ZodType<T>, options: { empty?: unknown } = {}): Promise<T> {
  const text = await readJson(c);
  let raw: unknown;
  if (text.trim() === "" && options.empty !== undefined) {
    raw = options.empty;
  } else {
    try {
      raw = JSON.parse(text);
    } catch {
      throw new BerthError("bad_request", "the body must be JSON");
    }
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => ({ loc: issue.path.map((key) => (typeof key === "symbol" ? String(key) : key)), message: issue.message }));
    throw new BerthError("invalid_input", undefined, { details: { issues } });
  }
  return parsed.data;
}

/** The body as text, bounded: none at all, or JSON of at most MAX_JSON_BYTES. */
async function readJson(c: Context): Promise<string> {
  const declared = c.req.header("content-length");
  const chunked = c.req.header("transfer-encoding") !== undefined;
  const body = c.req.raw.body;
  if (body === null || (!chunked && (declared === undefined || declared === "0"))) return "";
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/json\s*(?:;|$)/i.test(type)) throw new BerthError("unsupported_media_type", "control API bodies must be JSON, sent as Content-Type: application/json");
  if (Number(declared ?? 0) > MAX_JSON_BYTES) throw jsonTooLarge();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_JSON_BYTES) throw jsonTooLarge();
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}
