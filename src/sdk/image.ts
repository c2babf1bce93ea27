/**
 * `Image`: a declarative, immutable description of what a function's
 * container has installed. The platform's image builder turns the spec into
 * content-addressed cached layers, one per step, each built in a sandbox on
 * top of the one before; the SDK only records the steps (and checks them, so
 * a typo fails at import time rather than halfway through a build).
 */
import { isAbsolute, resolve } from "node:path";
import type { ImageSpec, ImageStep } from "./contract.js";

/** Debian package names, optionally `:arch` and `=version` (`python3`, `libpq-dev:amd64`, `curl=7.88.1-10+deb12u5`). */
const APT_PACKAGE = /^[a-z0-9][a-z0-9+.-]*(?::[a-z0-9-]+)?(?:=[A-Za-z0-9.+:~-]+)?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class Image {
  private constructor(private readonly steps: readonly ImageStep[]) {}

  /**
   * The default base: Debian bookworm (a debootstrap minbase root file
   * system) with Node.js, the same version as the berth server's.
   *
   * @example const image = Image.debianSlim().aptInstall("python3").npmInstall("hono@4");
   */
  static debianSlim(): Image {
    return new Image([]);
  }

  /**
   * Installs Debian packages (`apt-get install --no-install-recommends`).
   *
   * @example Image.debianSlim().aptInstall("python3", "ffmpeg")
   */
  aptInstall(...packages: string[]): Image {
    const list = packages.flat().map((p) => p.trim()).filter(Boolean);
    for (const name of list) if (!APT_PACKAGE.test(name)) throw new Error(`aptInstall: "${name}" is not a Debian package name`);
    if (list.length === 0) return this;
    return this.with({ kind: "apt", packages: list });
  }

  /**
   * Installs npm packages into the image (under /berth/node_modules). They
   * stay out of the bundle and are resolved from the image at run time.
   *
   * @example Image.debianSlim().npmInstall("hono@4", "zod@4")
   */
  npmInstall(...packages: string[]): Image {
    const list = packages.flat().map((p) => p.trim()).filter(Boolean);
    for (const spec of list) if (spec.startsWith("-")) throw new Error(`npmInstall: "${spec}" is an option, not a package`);
    if (list.length === 0) return this;
    return this.with({ kind: "npm", packages: list });
  }

  /**
   * Runs shell commands at build time, as root, in the image's working
   * directory, with network access to package registries. All of them make
   * one layer.
   *
   * @example Image.debianSlim().runCommands("mkdir -p /data", "echo ready > /data/flag")
   */
  runCommands(...commands: string[]): Image {
    const list = commands.flat().filter((c) => typeof c === "string" && c.trim());
    if (list.length === 0) return this;
    return this.with({ kind: "run", commands: list });
  }

  /**
   * Sets environment variables for every container of the image (and for
   * the build steps after this one).
   *
   * @example Image.debianSlim().env({ NODE_ENV: "production" })
   */
  env(vars: Record<string, string>): Image {
    for (const [name, value] of Object.entries(vars)) {
      if (!ENV_NAME.test(name)) throw new Error(`env: "${name}" is not a valid environment variable name`);
      if (typeof value !== "string") throw new Error(`env: the value of ${name} must be a string`);
    }
    return this.with({ kind: "env", vars: { ...vars } });
  }

  /**
   * Sets the working directory of later steps and of the containers (created
   * if missing). A relative path is taken from the current one.
   *
   * @example Image.debianSlim().workdir("/app").addLocalDir("./static", "/app/static")
   */
  workdir(path: string): Image {
    if (typeof path !== "string" || !path.trim()) throw new Error("workdir needs a path");
    return this.with({ kind: "workdir", path });
  }

  /**
   * Copies a file from this machine into the image at `remotePath` (absolute).
   * Its content, not its name or date, decides whether the layer is rebuilt.
   *
   * @example Image.debianSlim().addLocalFile("./config.json", "/app/config.json")
   */
  addLocalFile(localPath: string, remotePath: string): Image {
    return this.with({ kind: "local", source: resolve(localPath), target: checkRemote("addLocalFile", remotePath), directory: false });
  }

  /**
   * Copies a directory from this machine into the image at `remotePath`
   * (absolute), contents and subdirectories included.
   *
   * @example Image.debianSlim().addLocalDir("./public", "/srv/public")
   */
  addLocalDir(localPath: string, remotePath: string): Image {
    return this.with({ kind: "local", source: resolve(localPath), target: checkRemote("addLocalDir", remotePath), directory: true });
  }

  /** @internal */
  toSpec(): ImageSpec {
    return { base: "debian-slim", steps: this.steps.map((step) => structuredClone(step)) };
  }

  private with(step: ImageStep): Image {
    return new Image([...this.steps, step]);
  }
}

function checkRemote(verb: string, path: string): string {
  if (typeof path !== "string" || !isAbsolute(path) || path === "/") {
    throw new Error(`${verb} needs an absolute path inside the image (e.g. "/app/config.json"), got ${JSON.stringify(path)}`);
  }
  return path.replace(/\/+$/, "");
}
