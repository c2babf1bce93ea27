/**
 * `Image`: a declarative, immutable description of what a function's
 * container has installed. The platform's image builder turns the spec into
 * content-addressed cached layers; the SDK only records the steps.
 */
import type { ImageSpec, ImageStep } from "./contract.js";

export class Image {
  private constructor(private readonly steps: readonly ImageStep[]) {}

  /** The default base: Debian slim with Node.js 20. */
  static debianSlim(): Image {
    return new Image([]);
  }

  /**
   * Installs npm packages into the image. They stay out of the bundle and are
   * resolved from the image at run time.
   *
   * @example Image.debianSlim().npmInstall("hono@4", "zod@4")
   */
  npmInstall(...packages: string[]): Image {
    const list = packages.flat().map((p) => p.trim()).filter(Boolean);
    if (list.length === 0) return this;
    return new Image([...this.steps, { kind: "npm", packages: list }]);
  }

  /** Runs shell commands inside the image directory at build time. */
  runCommands(...commands: string[]): Image {
    return new Image([...this.steps, { kind: "run", commands }]);
  }

  /** Sets environment variables for every container of the image. */
  env(vars: Record<string, string>): Image {
    return new Image([...this.steps, { kind: "env", vars: { ...vars } }]);
  }

  /** @internal */
  toSpec(): ImageSpec {
    return { base: "debian-slim", steps: this.steps.map((step) => structuredClone(step)) };
  }
}
