/**
 * App log entries as the CLI prints them. `berth app logs` writes one line
 * per entry with its date and time, function, container and request id;
 * `berth serve` a compact one with the time of day. Bytes from a container
 * are untrusted: control characters that could move the cursor, rewrite the
 * screen or forge a line are shown as symbols (␛, ␍, ...); colour (SGR)
 * sequences pass.
 */
import { BerthError } from "../errors/codes.js";
import type { LogEntry } from "../wire/control-api.js";

export interface LogFormat {
  /** `serve`'s form: time of day, no date, no container. */
  compact: boolean;
  /** Colour codes, for a terminal. */
  colour: boolean;
}

/** A colour (SGR) sequence starting at `at`, which may stay: it changes colours, nothing else. */
const SGR = /\[[0-9;]*m/y;

/** Colour codes (SGR) stay; every other control character is shown as a symbol (␛, ␍, ␀ ...). */
export function printable(text: string): string {
  let out = "";
  let from = 0;
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code >= 0x20 && code < 0x7f) continue;
    if (code === 0x09 || code > 0x9f) continue;
    if (code === 0x1b) {
      SGR.lastIndex = i + 1;
      const colour = SGR.exec(text);
      if (colour) {
        i += colour[0].length;
        continue;
      }
    }
    out += text.slice(from, i) + (code < 0x20 ? String.fromCharCode(0x2400 + code) : code === 0x7f ? "\u2421" : `\\x${code.toString(16)}`);
    from = i + 1;
  }
  return from === 0 ? text : out + text.slice(from);
}

export function formatLogEntry(entry: LogEntry, format: LogFormat): string {
  const paint = (code: number, text: string) => (format.colour ? `\x1b[${code}m${text}\x1b[0m` : text);
  const date = new Date(entry.time);
  const clock = `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  const time = format.compact
    ? clock
    : `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${clock}.${String(date.getMilliseconds()).padStart(3, "0")}`;
  // With several nodes, which one ran the container.
  const node = entry.node === undefined ? "" : `@${printable(entry.node)}`;
  const source = format.compact ? `${printable(entry.function)}${node}` : `${printable(entry.function)}[${entry.container || "-"}]${node}`;
  const request = entry.requestId ? ` ${paint(2, entry.requestId)}` : "";
  let line = printable(entry.line);
  if (entry.stream === "system") line = paint(2, line);
  else if (entry.stream === "access") line = paint(36, line);
  else if (entry.stream === "stderr" && format.colour) line = paint(33, line);
  const continued = entry.continued ? paint(2, " [line continues]") : "";
  return `${paint(2, time)} ${paint(36, source)}${request} ${line}${continued}`;
}

function pad(n: number): string {
  return String(n).padStart(2, "0");
}

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `--since`: a duration back from `now` (`90s`, `10m`, `2h`, `1d`) or a date
 * and time (`2025-06-01`, `2025-06-01T14:00`, local unless it names a zone),
 * as milliseconds since the epoch.
 */
export function parseSince(text: string, now: number): number {
  const duration = /^(\d+(?:\.\d+)?)([smhd])$/.exec(text.trim());
  if (duration) return Math.round(now - Number(duration[1]) * UNITS[duration[2]!]!);
  // A date alone would be read as UTC midnight: as the rest, it is local.
  const written = /^\d{4}-\d{2}-\d{2}$/.test(text.trim()) ? `${text.trim()}T00:00` : text.trim();
  const time = Date.parse(written);
  if (!Number.isNaN(time) && /^\d{4}-\d{2}-\d{2}/.test(written)) return time;
  throw new BerthError("invalid_input", `--since takes a duration (30s, 10m, 2h, 1d) or a date and time (2025-06-01T14:00), not "${text}"`);
}
