/**
 * pino's JSON lines made readable for a terminal, without a pretty-printer
 * package: `12:03:04.123 WARN  gateway: message key=value`, an error's
 * stack indented below. Colour only when the terminal has it and NO_COLOR
 * is unset.
 */
import type { DestinationStream } from "pino";
import type { LogDestination } from "./logger.js";

const LEVELS: Record<number, [name: string, colour: number]> = {
  10: ["TRACE", 90],
  20: ["DEBUG", 36],
  30: ["INFO ", 32],
  40: ["WARN ", 33],
  50: ["ERROR", 31],
  60: ["FATAL", 35],
};

/** Fields shown in the line's fixed part, or left out. */
const SHOWN = new Set(["level", "time", "msg", "pid", "hostname", "component", "err"]);

export function prettyLines(destination: LogDestination): DestinationStream {
  const colour = destination.isTTY === true && !process.env.NO_COLOR;
  const paint = (code: number, text: string) => (colour ? `\x1b[${code}m${text}\x1b[0m` : text);
  return {
    write(line: string) {
      destination.write(`${formatLine(line, paint)}\n`);
    },
  };
}

/** One JSON log line as text; a line that is not JSON passes through. */
export function formatLine(line: string, paint: (code: number, text: string) => string = (_code, text) => text): string {
  let event: unknown;
  try {
    event = JSON.parse(line);
  } catch {
    return line.trimEnd();
  }
  if (typeof event !== "object" || event === null) return line.trimEnd();
  const fields = new Map(Object.entries(event));
  const [name, code] = LEVELS[Number(fields.get("level"))] ?? ["?    ", 0];
  const time = new Date(Number(fields.get("time"))).toTimeString().slice(0, 8);
  const millis = String(Number(fields.get("time")) % 1000).padStart(3, "0");
  const component = fields.get("component");
  let text = `${paint(90, `${time}.${millis}`)} ${paint(code, name)} ${typeof component === "string" ? paint(1, `${component}: `) : ""}${String(fields.get("msg") ?? "")}`;
  for (const [key, value] of fields) {
    if (!SHOWN.has(key)) text += ` ${paint(90, `${key}=`)}${typeof value === "string" && !/\s/.test(value) ? value : JSON.stringify(value)}`;
  }
  const error = fields.get("err");
  if (typeof error === "object" && error !== null && "stack" in error && typeof error.stack === "string") {
    text += `\n${error.stack.replace(/^/gm, "    ")}`;
  }
  return text;
}
