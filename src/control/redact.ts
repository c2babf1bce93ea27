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

/**
 * Masks secrets in a line. `safeCut` serves lines too long to hold whole
 * (they arrive in pieces of 16 KiB): how much of `text`, the start of a line
 * whose rest is still to come, can be masked and let go now. What is held
 * back (at most the longest secret's length, short of straddling matches)
 * goes before the next piece, so a secret printed across a boundary is
 * still masked whole.
 */
export interface Redact {
  (line: string): string;
  safeCut(text: string): number;
}

export function redactor(values: Iterable<string>): Redact {
  // Logs arrive line by line, so a multi-line value (a PEM key) is masked line by line.
  const pieces = [...values].flatMap((value) => value.split(/\r?\n/));
  // Longest first, so a value that contains another is masked whole.
  const secrets = [...new Set(pieces)].filter((value) => value.length >= MIN_LENGTH).sort((a, b) => b.length - a.length);
  const longest = secrets[0]?.length ?? 0;
  const redact = (line: string): string => {
    for (const secret of secrets) if (line.includes(secret)) line = line.split(secret).join(MASK);
    return line;
  };
  const safeCut = (text: string): number => {
    // The last longest-1 characters may begin a secret that the next piece completes.
    let cut = Math.max(0, text.length - Math.max(0, longest - 1));
    // A whole occurrence across the cut moves it back to the occurrence's start; each move is backwards, so this ends.
    for (let moved = true; moved && cut > 0; ) {
      moved = false;
      for (const secret of secrets) {
        const at = text.indexOf(secret, Math.max(0, cut - secret.length + 1));
        if (at !== -1 && at < cut) {
          cut = at;
          moved = true;
        }
      }
    }
    return cut;
  };
  return Object.assign(redact, { safeCut });
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
