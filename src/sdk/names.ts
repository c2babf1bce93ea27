/**
 * The one grammar of the names users give berth: apps, functions, secrets
 * and workspaces. The SDK checks app, function and secret names when the
 * app is imported, the CLI checks `--workspace`, and the control API checks
 * all of them again (a manifest comes from a client we do not control),
 * answering 422 with the field's location.
 *
 * A name is 1 to 63 characters of ASCII letters, digits, `_`, `-` and `.`,
 * starting with a letter, digit or `_`: safe in a log line, a URL path
 * segment, a file name and a terminal (no spaces, newlines, `/`, or a name
 * that is `.` or `..`). A workspace is also the first part of every URL
 * (`<workspace>--<label>`), so it is further held to lowercase letters,
 * digits and single dashes, at most 30 characters.
 *
 * A leaf: it imports only the error table, so the SDK can carry it.
 */
import { BerthError } from "../errors/codes.js";

export type NameKind = "app" | "function" | "secret" | "workspace";

/** Longest name of an app, function or secret: one DNS label's worth. */
export const MAX_NAME = 63;
/** Longest workspace name: leaves room in a 63-character host label for `--` and the function's label. */
export const MAX_WORKSPACE = 30;

export const NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;
export const WORKSPACE_PATTERN = /^[a-z0-9](?:-?[a-z0-9])*$/;

const RULES: Record<NameKind, string> = {
  app: `1-${MAX_NAME} letters, digits, "_", "-" or ".", starting with a letter, digit or "_"`,
  function: `1-${MAX_NAME} letters, digits, "_", "-" or ".", starting with a letter, digit or "_"`,
  secret: `1-${MAX_NAME} letters, digits, "_", "-" or ".", starting with a letter, digit or "_"`,
  workspace: `1-${MAX_WORKSPACE} lowercase letters, digits and single dashes, e.g. "team-a"`,
};

/** What is wrong with `value` as a name of `kind`, or undefined when it is valid. */
export function nameProblem(kind: NameKind, value: unknown): string | undefined {
  if (typeof value !== "string") return `${kind} name must be a string`;
  const valid = kind === "workspace" ? value.length <= MAX_WORKSPACE && WORKSPACE_PATTERN.test(value) : NAME_PATTERN.test(value);
  return valid ? undefined : `${kind} name ${JSON.stringify(value)} is not valid: use ${RULES[kind]}`;
}

/**
 * Returns `value` when it is a valid name of `kind`, else throws a 422
 * `invalid_input` whose one issue is at `loc` (the field it came from).
 *
 * @example checkName("app", "web-demo") // "web-demo"
 * @example checkName("workspace", "Team A", ["query", "workspace"]) // throws: use 1-30 lowercase letters, ...
 */
export function checkName(kind: NameKind, value: string, loc: (string | number)[] = [kind]): string {
  const problem = nameProblem(kind, value);
  if (problem === undefined) return value;
  throw new BerthError("invalid_input", problem, { details: { issues: [{ loc, message: problem }] } });
}
