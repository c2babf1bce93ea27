/**
 * `Secret`: a reference to environment variables that the platform injects
 * into the containers of the functions that name it. Named secrets are
 * resolved (and decrypted) by the platform; the SDK never sees their values.
 */
import { readFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { messageOf, systemCode } from "../errors/codes.js";
import type { DescribeContext, SecretSpec } from "./contract.js";
import { checkName } from "./names.js";

export class Secret {
  private constructor(private readonly spec: SecretSpec | ((context: DescribeContext | undefined) => SecretSpec)) {}

  /**
   * A secret stored on the platform (`berth secret create NAME K=V`).
   *
   * @example Secret.fromName("my-web-auth-token", { requiredKeys: ["AUTH_TOKEN"] })
   */
  static fromName(name: string, options: { requiredKeys?: string[] } = {}): Secret {
    checkName("secret", name, ["secret"]);
    return new Secret({ kind: "name", name, requiredKeys: [...(options.requiredKeys ?? [])] });
  }

  /** Values given in code; they travel with the deployment. */
  static fromDict(values: Record<string, string>): Secret {
    return new Secret({ kind: "inline", values: { ...values } });
  }

  /**
   * Values read from a `.env` file when the app is deployed; they are sealed
   * by the platform like named secrets. A relative path starts at the
   * directory of the app file given to `berth serve` or `berth deploy`,
   * wherever those run from. Inside a container the file is not needed: its
   * values arrive as environment variables.
   *
   * @example Secret.fromDotenv(".env.production")
   */
  static fromDotenv(path = ".env"): Secret {
    return new Secret((context) => {
      if (process.env.BERTH_CONTAINER === "1") return { kind: "inline", values: {} };
      const file = isAbsolute(path) || !context ? path : join(context.appDir, path);
      let text: string;
      try {
        text = readFileSync(file, "utf8");
      } catch (error) {
        throw new Error(`Secret.fromDotenv: cannot read ${file} (${systemCode(error) ?? messageOf(error)})`);
      }
      return { kind: "inline", values: parseDotenv(text) };
    });
  }

  /** @internal */
  toSpec(context?: DescribeContext): SecretSpec {
    return typeof this.spec === "function" ? this.spec(context) : structuredClone(this.spec);
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
