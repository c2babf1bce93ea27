/**
 * Log redaction: container output passes through here on its way to the log
 * hub, so a secret value a function prints (the source document's example
 * prints its token) is shown as `[redacted]` in `berth serve`, `berth app
 * logs` and the server's output.
 *
 * Values shorter than 6 characters are left alone: replacing every "1" or
 * "yes" would garble logs while hiding nothing worth guessing.
 */
import { BerthError } from "../errors/codes.js";
import { isStartupInterrupted, startupFailure, startupInterrupted, type RuntimeDriver } from "../runtime/types.js";

const MIN_LENGTH = 6;
const MASK = "[redacted]";

export type Redact = (line: string) => string;

export function redactor(values: Iterable<string>): Redact {
  // Logs arrive line by line, so a multi-line value (a PEM key) is masked line by line.
  const pieces = [...values].flatMap((value) => value.split(/\r?\n/));
  // Longest first, so a value that contains another is masked whole.
  const secrets = [...new Set(pieces)].filter((value) => value.length >= MIN_LENGTH).sort((a, b) => b.length - a.length);
  if (secrets.length === 0) return (line) => line;
  return (line) => {
    for (const secret of secrets) if (line.includes(secret)) line = line.split(secret).join(MASK);
    return line;
  };
}

/**
 * A driver whose start-up errors are redacted: a container's failure message
 * (often the user's exception text) is repeated to HTTP clients (503),
 * `berth app stats` and the logs. Everything but `start` goes to the driver
 * itself, so the wrapper keeps up with whatever the driver interface grows.
 */
export function redactingDriver(driver: RuntimeDriver, redact: Redact): RuntimeDriver {
  const start: RuntimeDriver["start"] = (spec, log) =>
    driver.start(spec, log).catch((error: unknown) => {
      if (error instanceof BerthError && error.code === "startup_failed") {
        throw isStartupInterrupted(error) ? startupInterrupted(redact(error.message)) : startupFailure(redact(error.message));
      }
      throw error;
    });
  return new Proxy(driver, {
    get(target, property) {
      if (property === "start") return start;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
