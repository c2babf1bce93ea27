/**
 * `berth init <dir>`: a new project from the template in `templates/app`
 * (an app, a test of it, a strict tsconfig, a package.json that depends on
 * this version of berth). Refuses to write into a directory that has files.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { basename, join, relative, resolve } from "node:path";
import { BerthError } from "../errors/codes.js";
import { PACKAGE_NAME, PACKAGE_ROOT } from "../paths.js";
import { green, status } from "./output.js";

const TEMPLATE = join(PACKAGE_ROOT, "templates", "app");
/** Files whose text has `{{name}}` and `{{version}}` in it. */
const FILLED = ["package.json", "README.md", join("src", "app.ts")];
/** npm leaves `.gitignore` files out of packages, so the template carries it under another name. */
const RENAMED: Record<string, string> = { gitignore: ".gitignore" };

export async function initCommand(dir: string): Promise<void> {
  const target = resolve(dir);
  const name = basename(target).toLowerCase();
  if (!/^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$/.test(name)) {
    throw new BerthError("invalid_input", `"${basename(target)}" cannot name an app: use letters, digits and "-" (it becomes part of its URLs), e.g. berth init my-app`);
  }
  if (existsSync(target) && (!statSync(target).isDirectory() || readdirSync(target).length > 0)) {
    throw new BerthError("invalid_input", `${dir} already exists and is not empty: choose a new directory`);
  }
  mkdirSync(target, { recursive: true });
  cpSync(TEMPLATE, target, { recursive: true });
  for (const [from, to] of Object.entries(RENAMED)) renameSync(join(target, from), join(target, to));
  const values: Record<string, string> = { name, version: ownVersion() };
  for (const file of FILLED) {
    const path = join(target, file);
    writeFileSync(path, readFileSync(path, "utf8").replace(/\{\{(\w+)\}\}/g, (whole, key: string) => values[key] ?? whole));
  }
  const shown = relative(process.cwd(), target) || ".";
  status(green(`✓ Created ${shown}: an app (src/app.ts), its test, a strict tsconfig`));
  process.stdout.write(`\n  cd ${shown}\n  npm install\n  npx berth serve src/app.ts\n\n`);
}

function ownVersion(): string {
  const manifest: unknown = JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8"));
  if (typeof manifest === "object" && manifest !== null && "name" in manifest && manifest.name === PACKAGE_NAME && "version" in manifest) {
    return String(manifest.version);
  }
  throw new BerthError("internal_error", `cannot read ${PACKAGE_NAME}'s version from ${PACKAGE_ROOT}/package.json`);
}
