/**
 * Validation of what crosses the control API: a deployment's manifest comes
 * from a CLI we do not control, so every field is checked before the
 * platform acts on it. What they accept is assigned to the wire types of
 * wire/control-api.ts where they are used, so the two cannot drift apart.
 */
import type { Context } from "hono";
import { z } from "zod";
import { BerthError } from "../errors/codes.js";

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
  z.object({ kind: z.literal("name"), name: z.string().min(1).max(128), requiredKeys: z.array(z.string()) }),
  z.object({ kind: z.literal("inline"), values: z.record(z.string(), z.string()) }),
]);

const positiveSeconds = z.number().positive().max(86_400);

export const functionManifestSchema = z.object({
  name: z.string().min(1).max(200),
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
  name: z.string().min(1).max(100),
  functions: z.array(functionManifestSchema).max(100),
});

export const deployRequestSchema = z.object({
  workspace: z.string().regex(/^[a-z0-9][a-z0-9-]{0,30}$/, "workspace: lowercase letters, digits and -").optional(),
  ephemeral: z.boolean().default(false),
  bundleHash: z.string().regex(/^[0-9a-f]{64}$/),
  manifest: appManifestSchema,
});

export const rollbackRequestSchema = z.object({ version: z.number().int().positive().optional() });

export const pruneRequestSchema = z.object({ all: z.boolean().optional() });

/**
 * Reads a JSON request body and validates it: 400 when it is not JSON, 422
 * naming each bad field. With `empty`, a request without a body stands for
 * that value (a rollback without a version).
 */
export async function parseBody<T>(c: Context, schema: z.ZodType<T>, options: { empty?: unknown } = {}): Promise<T> {
  const text = await c.req.text();
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
