/** Where the CLI finds its server and state: flags first, then environment, then defaults. */
import { homedir } from "node:os";
import { join } from "node:path";
import { BerthError } from "../errors/codes.js";
import { checkName } from "../sdk/names.js";

export const DEFAULT_PORT = 8600;
export const DEFAULT_WORKSPACE = "local";
/** Seconds a stopping server (`berth server`, `berth serve`) gives requests in flight to finish. */
export const DEFAULT_GRACE_SECONDS = 30;

/** `--grace` in milliseconds. */
export function graceMs(flag: string | undefined): number {
  return (flag === undefined ? DEFAULT_GRACE_SECONDS : numberFlag("--grace", flag, {})) * 1000;
}

export function berthHome(flag?: string): string {
  return flag ?? process.env.BERTH_HOME ?? join(homedir(), ".berth");
}

/** The configured server URL, or undefined when none is configured. */
export function serverUrl(flag?: string): string | undefined {
  const value = flag ?? process.env.BERTH_SERVER;
  if (!value) return undefined;
  return /^https?:\/\//.test(value) ? value : `http://${value}`;
}

/** `--workspace`, else `BERTH_WORKSPACE`, held to the name grammar before any request is sent. */
export function workspace(flag?: string): string | undefined {
  const value = flag ?? (process.env.BERTH_WORKSPACE || undefined);
  return value === undefined ? undefined : checkName("workspace", value, [flag !== undefined ? "--workspace" : "BERTH_WORKSPACE"]);
}

/** A numeric flag, checked: a whole number ≥ 0 with `integer`, a number > 0 with `positive`. */
export function numberFlag(flag: string, value: string, rules: { integer?: boolean; positive?: boolean }): number {
  const parsed = Number(value);
  const ok = value.trim() !== "" && Number.isFinite(parsed) && parsed >= 0 && (!rules.integer || Number.isInteger(parsed)) && (!rules.positive || parsed > 0);
  const wanted = rules.integer ? `a whole number ≥ ${rules.positive ? 1 : 0}` : rules.positive ? "a number of seconds > 0" : "a number of seconds ≥ 0";
  if (!ok) throw new BerthError("invalid_input", `${flag} takes ${wanted}, not "${value}"`);
  return parsed;
}
