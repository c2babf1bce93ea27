/**
 * Standard Schema glue for the SDK: runs any Standard Schema library's
 * validator and turns its issues into the platform's `FieldIssue`s, and asks a
 * schema for its JSON Schema (for OpenAPI) without depending on any particular
 * library. Bundled into user code, so it imports types only.
 */
import type { StandardJSONSchemaV1, StandardSchemaV1 } from "@standard-schema/spec";
import type { FieldIssue } from "./contract.js";

/** Where a validated value came from; the first element of every issue's `loc`. */
export type InputLocation = "query" | "body" | "params";

export type ValidationResult<T> = { ok: true; value: T } | { ok: false; issues: FieldIssue[] };

export function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  if ((typeof value !== "object" && typeof value !== "function") || value === null || !("~standard" in value)) return false;
  const props = value["~standard"];
  return typeof props === "object" && props !== null && "validate" in props && typeof props.validate === "function";
}

/**
 * Validates `value`; a schema that throws (rather than reporting issues) is a
 * bug in user code, so the exception propagates instead of becoming a 422.
 */
export async function validate<T>(
  schema: StandardSchemaV1<unknown, T>,
  value: unknown,
  location: InputLocation,
): Promise<ValidationResult<T>> {
  let result = schema["~standard"].validate(value);
  if (result instanceof Promise) result = await result;
  if (result.issues) return { ok: false, issues: result.issues.map((issue) => toFieldIssue(issue, location)) };
  return { ok: true, value: result.value };
}

export function toFieldIssue(issue: StandardSchemaV1.Issue, location: InputLocation): FieldIssue {
  const loc: (string | number)[] = [location];
  for (const segment of issue.path ?? []) {
    // Libraries may report plain keys (zod) or `{ key }` objects (valibot).
    const key = typeof segment === "object" && segment !== null ? segment.key : segment;
    loc.push(typeof key === "symbol" ? (key.description ?? key.toString()) : key);
  }
  return { loc, message: issue.message };
}

type JsonObject = Record<string, unknown>;

/**
 * The JSON Schema (draft 2020-12) of what a client must send, or undefined when
 * the library cannot say. Prefers the Standard JSON Schema interface (recent
 * zod 4 releases implement it; valibot 1 does not by itself, only through
 * `toStandardJsonSchema` from `@valibot/to-json-schema`), then zod 4's own
 * `toJSONSchema` method found by duck typing, since importing zod would tie
 * every bundle to it.
 */
export function toJsonSchema(schema: StandardSchemaV1): JsonObject | undefined {
  const props = schema["~standard"] as StandardSchemaV1.Props & Partial<StandardJSONSchemaV1.Props>;
  // zod throws on types JSON Schema cannot express (dates, functions); an
  // unconstrained `{}` there is more useful in docs than no schema at all.
  const libraryOptions = props.vendor === "zod" ? { unrepresentable: "any" } : undefined;
  const converter = props.jsonSchema;
  if (typeof converter?.input === "function") {
    try {
      return asObject(converter.input({ target: "draft-2020-12", libraryOptions }));
    } catch {
      return undefined;
    }
  }
  const zodLike = schema as unknown as { _zod?: unknown; toJSONSchema?: (params: JsonObject) => unknown };
  if (zodLike._zod !== undefined && typeof zodLike.toJSONSchema === "function") {
    try {
      return asObject(zodLike.toJSONSchema({ target: "draft-2020-12", io: "input", unrepresentable: "any" }));
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function asObject(value: unknown): JsonObject | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as JsonObject) : undefined;
}
