/**
 * Parameter sets of parametrized functions: which container pool a request
 * belongs to. The gateway cannot run the user's schema library (that code
 * lives only in the bundle), so the SDK puts the params schema's JSON Schema
 * in the manifest and the gateway validates, coerces ("42" → 42) and
 * defaults the named query parameters with Ajv. The canonical key of the
 * result names the pool, so `?root=.` and a request that leaves `root` to its
 * default `"."` share containers. The container validates again with the
 * real schema (refinements JSON Schema cannot express are caught there, as a
 * start-up failure).
 *
 * Regular expressions (`pattern`) are left to the container too: a user's
 * regex run on client input in the shared gateway could stall every
 * function with catastrophic backtracking.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import type { FieldIssue, FunctionManifest } from "../sdk/contract.js";

export type ParamsResult = { ok: true; params: Record<string, unknown>; key: string } | { ok: false; issues: FieldIssue[] };

const NO_PARAMS: ParamsResult = { ok: true, params: {}, key: "" };

const ajv = new Ajv2020({ coerceTypes: true, useDefaults: true, allErrors: true, strict: false, validateFormats: false });
const compiled = new WeakMap<FunctionManifest, ValidateFunction>();

/** Resolves the parameter set of a request to `manifest`'s function from its target (`/path?query`). */
export function resolveParams(manifest: FunctionManifest, target: string | undefined): ParamsResult {
  if (manifest.params.length === 0 || !manifest.paramsSchema) return NO_PARAMS;
  const query = target && target.includes("?") ? new URLSearchParams(target.slice(target.indexOf("?") + 1)) : new URLSearchParams();
  const values: Record<string, unknown> = {};
  const issues: FieldIssue[] = [];
  for (const name of manifest.params) {
    const given = query.getAll(name);
    if (given.length > 1) issues.push({ loc: ["query", name], message: "given more than once; a parameter selects one value" });
    else if (given.length === 1) values[name] = given[0];
  }
  if (issues.length > 0) return { ok: false, issues };
  const validate = validator(manifest);
  if (!validate(values)) return { ok: false, issues: (validate.errors ?? []).map(toIssue) };
  // `root="/" n=2`: names in manifest order (sorted), values as JSON, so "1" and 1 stay apart; shown in logs and stats.
  const key = manifest.params
    .filter((name) => values[name] !== undefined)
    .map((name) => `${name}=${JSON.stringify(values[name])}`)
    .join(" ");
  return { ok: true, params: values, key };
}

function validator(manifest: FunctionManifest): ValidateFunction {
  let validate = compiled.get(manifest);
  if (!validate) {
    const { $schema: _dialect, ...schema } = manifest.paramsSchema!;
    validate = ajv.compile(withoutPatterns(schema) as Record<string, unknown>);
    compiled.set(manifest, validate);
  }
  return validate;
}

/** A copy of a JSON Schema without `pattern` keywords (a property *named* "pattern" stays). */
function withoutPatterns(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withoutPatterns);
  if (typeof schema !== "object" || schema === null) return schema;
  const copy: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === "pattern" && typeof value === "string") continue;
    if (key === "properties" || key === "$defs" || key === "definitions") {
      copy[key] = Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([name, sub]) => [name, withoutPatterns(sub)]));
    } else if (key === "default" || key === "const" || key === "enum" || key === "examples") {
      copy[key] = value;
    } else {
      copy[key] = withoutPatterns(value);
    }
  }
  return copy;
}

function toIssue(error: ErrorObject): FieldIssue {
  const missing = error.keyword === "required" ? (error.params as { missingProperty?: string }).missingProperty : undefined;
  const path = error.instancePath.split("/").filter(Boolean);
  const name = missing ?? path[0] ?? "";
  const message = missing ? "required" : `${error.message ?? "invalid"}${error.keyword === "enum" ? `: ${(error.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(", ")}` : ""}`;
  return { loc: ["query", name, ...path.slice(1)], message };
}
