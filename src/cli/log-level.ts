/** The server log's level for `berth server` and `serve`'s embedded platform (apart from config.ts: it loads pino). */
import { parseLogLevel, type LogLevel } from "../logging/logger.js";

/** `--log-level`, else `BERTH_LOG_LEVEL`, else `fallback`. */
export function logLevel(flag: string | undefined, fallback: LogLevel): LogLevel {
  const value = flag ?? (process.env.BERTH_LOG_LEVEL || undefined);
  return value === undefined ? fallback : parseLogLevel(value);
}
