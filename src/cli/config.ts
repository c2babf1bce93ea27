/** Where the CLI finds its server and state: flags first, then environment, then defaults. */
import { homedir } from "node:os";
import { join } from "node:path";

export const DEFAULT_PORT = 8600;
export const DEFAULT_WORKSPACE = "local";

export function berthHome(flag?: string): string {
  return flag ?? process.env.BERTH_HOME ?? join(homedir(), ".berth");
}

/** The configured server URL, or undefined when none is configured. */
export function serverUrl(flag?: string): string | undefined {
  const value = flag ?? process.env.BERTH_SERVER;
  if (!value) return undefined;
  return /^https?:\/\//.test(value) ? value : `http://${value}`;
}

export function workspace(flag?: string): string | undefined {
  return flag ?? process.env.BERTH_WORKSPACE;
}
