/** How the CLI prints: status lines to stderr, data to stdout, container logs prefixed by function. */
import type { LogEntry } from "../control/logs.js";

const colour = process.stderr.isTTY && !process.env.NO_COLOR;
const paint = (code: number) => (text: string) => (colour ? `\x1b[${code}m${text}\x1b[0m` : text);
export const green = paint(32);
export const red = paint(31);
export const dim = paint(2);
export const cyan = paint(36);

export function status(line: string): void {
  process.stderr.write(`${line}\n`);
}

export function formatLog(entry: LogEntry): string {
  const prefix = cyan(`[${entry.function}]`);
  return entry.stream === "system" ? `${prefix} ${dim(entry.line)}` : `${prefix} ${entry.line}`;
}
