/**
 * Log redaction: container output passes through here on its way to the log
 * hub, so a secret value a function prints (the source document's example
 * prints its token) is shown as `[redacted]` in `berth serve`, `berth app
 * logs` and the server's output.
 *
 * Values shorter than 6 characters are left alone: replacing every "1" or
 * "yes" would garble logs while hiding nothing worth guessing.
 */
const MIN_LENGTH = 6;
const MASK = "[redacted]";

export type Redact = (line: string) => string;

export function redactor(values: Iterable<string>): Redact {
  // Longest first, so a value that contains another is masked whole.
  const secrets = [...new Set(values)].filter((value) => value.length >= MIN_LENGTH).sort((a, b) => b.length - a.length);
  if (secrets.length === 0) return (line) => line;
  return (line) => {
    for (const secret of secrets) if (line.includes(secret)) line = line.split(secret).join(MASK);
    return line;
  };
}
