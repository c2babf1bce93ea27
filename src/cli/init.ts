/**
 * `berth init <dir>`: a new project from the template in `templates/app`
 * (an app, a test of it, a strict tsconfig, a package.json that depends on
 * this version of berth). Refuses to write into a directory that has files.
 */
import { cpSync, existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { basename, join, relative, resolve, sep } from "node:path";
import { BerthError, messageOf } from "../errors/codes.js";
import { makeDirectory } from "../files/make-directory.js";
import { PACKAGE_NAME, PACKAGE_ROOT } from "../paths.js";
import { green, status } from "./output.js";

const TEMPLATE = join(PACKAGE_ROOT, "templates", "app");
/** Files whose text has `{{name}}` and `{{version}}` in it. */
const FILLED = ["package.json", "README.md", join("src", "app.ts")];
/** Run from a checkout of berth's repository rather than an installed package (which sits in a node_modules folder). */
const FROM_CHECKOUT = !PACKAGE_ROOT.split(sep).includes("node_modules");
/** npm leaves `.gitignore` files out of packages, so the template carries it under another name. */
const RENAMED: Record<string, string> = { gitignore: ".gitignore" };

export async function initCommand(dir: string): Promise<void> {
  if (dir.trim() === "") throw new BerthError("invalid_input", "name the new project's directory, e.g. berth init my-app");
  const target = resolve(dir);
  const name = basename(target).toLowerCase();
  if (!/^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$/.test(name)) {
    throw new BerthError("invalid_input", `"${basename(target)}" cannot name an app: use letters, digits and "-" (it becomes part of its URLs), e.g. berth init my-app`);
  }
  if (existsSync(target) && (!statSync(target).isDirectory() || readdirSync(target).length > 0)) {
    throw new BerthError("invalid_input", `${dir} already exists and is not empty: choose a new directory`);
  }
  try {
    makeDirectory(target);
  } catch (error) {
    throw new BerthError("invalid_input", `cannot create ${dir}: ${messageOf(error)}`, { cause: error });
  }
  cpSync(TEMPLATE, target, { recursive: true });
  for (const [from, to] of Object.entries(RENAMED)) renameSync(join(target, from), join(target, to));
  const values: Record<string, string> = { name, dependency: dependencySpec(target) };
  for (const file of FILLED) {
    const path = join(target, file);
    writeFileSync(path, readFileSync(path, "utf8").replace(/\{\{(\w+)\}\}/g, (whole, key: string) => values[key] ?? whole));
  }
  if (FROM_CHECKOUT) approveCheckoutBuild(join(target, "package.json"), values.dependency!);
  const shown = relative(process.cwd(), target) || ".";
  status(green(`✓ Created ${shown}: an app (src/app.ts), its test, a strict tsconfig`));
  if (FROM_CHECKOUT) status(`  ${PACKAGE_NAME} comes from this checkout (${values.dependency}): its dist/ is what the project runs`);
  process.stdout.write(`\n  cd ${shown}\n  npm install\n  npx berth serve src/app.ts\n\n`);
}

/**
 * The project's `berthjs` dependency: this version from the registry, or,
 * run from a checkout (whose version may not be published), the checkout
 * itself, which npm links, relative to the project as npm writes it.
 */
function dependencySpec(project: string): string {
  if (!FROM_CHECKOUT) return `^${ownVersion()}`;
  const path = relative(project, PACKAGE_ROOT).split(sep).join("/");
  return `file:${path}`;
}

/**
 * npm runs a linked checkout's `prepare` (berth's build) at each install and
 * asks, from npm 11, that the project approve it in `allowScripts`, where a
 * local directory is named by its `file:` spec: the build keeps the
 * checkout's dist/ in step with its sources.
 */
function approveCheckoutBuild(packageJson: string, spec: string): void {
  const manifest = JSON.parse(readFileSync(packageJson, "utf8")) as { allowScripts?: Record<string, boolean> };
  manifest.allowScripts = { ...manifest.allowScripts, [spec]: true };
  writeFileSync(packageJson, `${JSON.stringify(manifest, null, 2)}\n`);
}

function ownVersion(): string {
  const manifest: unknown = JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8"));
  if (typeof manifest === "object" && manifest !== null && "name" in manifest && manifest.name === PACKAGE_NAME && "version" in manifest) {
    return String(manifest.version);
  }
  throw new BerthError("internal_error", `cannot read ${PACKAGE_NAME}'s version from ${PACKAGE_ROOT}/package.json`);
}
