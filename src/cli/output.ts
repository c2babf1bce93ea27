/** How the CLI prints: status lines to stderr, data to stdout (app logs: log-format.ts), errors in a line or two. */
import { BerthError, issuesOf } from "../errors/codes.js";

const colour = process.stderr.isTTY && !process.env.NO_COLOR;
const paint = (code: number) => (text: string) => (colour ? `\x1b[${code}m${text}\x1b[0m` : text);
export const green = paint(32);
export const red = paint(31);
export const yellow = paint(33);
export const dim = paint(2);
export const cyan = paint(36);

export function status(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** An error as the user reads it: the message, then each bad field (`body.name: required`) on its own line. */
export function formatError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (!(error instanceof BerthError)) return error.message;
  const issues = issuesOf(error).map((issue) => `\n  ${issue.loc.join(".")}: ${issue.message}`);
  return `${error.message}${issues.join("")}`;
}
