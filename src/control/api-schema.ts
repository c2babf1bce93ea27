/**
 * Validation of what crosses the control API: a deployment's manifest comes
 * from a CLI we do not control, so every field is checked before the
 * platform acts on it. What they accept is assigned to the wire types of
 * wire/control-api.ts where they are used, so the two cannot drift apart.
 */
import type { Context } from "hono";
import { z } from "zod";
import { BerthError } from "../errors/codes.js";

const imageStep = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("npm"), packages: z.array(z.string().min(1).max(214)).max(100) }),
  z.object({ kind: z.literal("run"), commands: z.array(z.string().max(10_000)).max(100) }),
  z.object({ kind: z.literal("env"), vars: z.record(z.string(), z.string()) }),
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
  timeout: positiveSeconds,
  startupTimeout: positiveSeconds,
});

export const appManifestSchema = z.object({
  name: z.string().min(1).max(100),
  functions: z.array(functionManifestSchema).max(100),
});

/** A client-made deploy id: a UUID, or anything of the same alphabet and a sane length. */
const deployId = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, "deployId: 8 to 64 letters, digits, - or _");

export const deployRequestSchema = z.object({
  workspace: z.string().regex(/^[a-z0-9][a-z0-9-]{0,30}$/, "workspace: lowercase letters, digits and -").optional(),
  ephemeral: z.boolean().default(false),
  bundleHash: z.string().regex(/^[0-9a-f]{64}$/),
  manifest: appManifestSchema,
  deployId: deployId.optional(),
});

export const rollbackRequestSchema = z.object({ version: z.number().int().positive().optional(), deployId: deployId.optional() });

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
