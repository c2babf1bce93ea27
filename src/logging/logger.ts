/**
 * The server's own log: pino, one root logger made by the composition root
 * and a child per component (`component: "gateway"`, `"control"`, ...),
 * injected into each. JSON lines when the output is not a terminal, for log
 * collectors; one human-readable line per event when it is (pretty.ts).
 *
 * What a container prints is not logged here: that is the app's own output,
 * kept per app by the control plane (`berth app logs`) and printed by
 * `berth serve` as it is.
 */
import { pino, type DestinationStream, type Logger as PinoLogger, type LevelWithSilent } from "pino";
import { BerthError } from "../errors/codes.js";
import { prettyLines } from "./pretty.js";

export type Logger = PinoLogger;
export type LogLevel = LevelWithSilent;

export const LOG_LEVELS: readonly LogLevel[] = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/** Where log lines go: a stream, and whether a person is reading it. */
export interface LogDestination extends DestinationStream {
  isTTY?: boolean;
}

export interface LoggerOptions {
  /** Least severe level written. Default "info". */
  level?: LogLevel;
  /** Default `process.stdout`. */
  destination?: LogDestination;
  /** One readable line per event instead of JSON. Default: whether `destination` is a terminal. */
  pretty?: boolean;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? process.stdout;
  const pretty = options.pretty ?? destination.isTTY === true;
  return pino({ level: options.level ?? "info" }, pretty ? prettyLines(destination) : destination);
}

/** A logger that writes nothing: the default of components built without one (unit tests). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

/** `--log-level` / `BERTH_LOG_LEVEL`, checked. */
export function parseLogLevel(text: string): LogLevel {
  const level = LOG_LEVELS.find((candidate) => candidate === text.trim().toLowerCase());
  if (level === undefined) throw new BerthError("invalid_input", `"${text}" is not a log level: use one of ${LOG_LEVELS.join(", ")}`);
  return level;
}
