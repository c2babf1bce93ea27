/**
 * `Secret`: a reference to environment variables that the platform injects
 * into the containers of the functions that name it. Named secrets are
 * resolved (and decrypted) by the platform; the SDK never sees their values.
 */
import { readFileSync } from "node:fs";
import type { SecretSpec } from "./contract.js";

export class Secret {
  private constructor(private readonly spec: SecretSpec) {}

  /**
   * A secret stored on the platform (`berth secret create NAME K=V`).
   *
   * @example Secret.fromName("my-web-auth-token", { requiredKeys: ["AUTH_TOKEN"] })
   */
  static fromName(name: string, options: { requiredKeys?: string[] } = {}): Secret {
    return new Secret({ kind: "name", name, requiredKeys: [...(options.requiredKeys ?? [])] });
  }

  /** Values given in code; they travel with the deployment. */
  static fromDict(values: Record<string, string>): Secret {
    return new Secret({ kind: "inline", values: { ...values } });
  }

  /** Values read from a `.env` file when the app is deployed. */
  static fromDotenv(path = ".env"): Secret {
    return new Secret({ kind: "inline", values: parseDotenv(readFileSync(path, "utf8")) });
  }

  /** @internal */
  toSpec(): SecretSpec {
    return structuredClone(this.spec);
  }
}

/** `KEY=value` lines; `#` comments, `export ` prefixes and single or double quotes are understood. */
export function parseDotenv(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (!line || line.startsWith("#")) continue;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!match) continue;
    let value = match[2]!;
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.endsWith(quote) && value.length >= 2) {
      value = value.slice(1, -1);
      if (quote === '"') value = value.replace(/\\n/g, "\n");
    } else {
      value = value.replace(/\s+#.*$/, "");
    }
    values[match[1]!] = value;
  }
  return values;
}
