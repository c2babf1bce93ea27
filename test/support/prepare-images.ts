/**
 * Run by scripts/test.js before the test files: builds the Debian and Node
 * base of the shared test image store once, with its progress on stderr, so
 * that no single test pays for debootstrap inside its own timeout. Does
 * nothing where sandbox tests cannot run (they skip, or fail where required).
 */
import { LayeredImageBuilder } from "../../src/image/layered-builder.js";
import { ImageStore } from "../../src/image/store.js";
import { CgroupTree, detectCgroups } from "../../src/sandbox/cgroups.js";
import { sandboxSupport } from "../../src/sandbox/tools.js";
import { TEST_BUILD_CA, TEST_IMAGE_CACHE } from "./sandbox.js";

const support = sandboxSupport();
const detected = detectCgroups();
if (support.ok && detected.ok) {
  const cgroups = new CgroupTree(detected.layout);
  const started = Date.now();
  try {
    const builder = new LayeredImageBuilder({ store: new ImageStore(TEST_IMAGE_CACHE), tools: support.tools, cgroups, blobPath: () => undefined, caFile: TEST_BUILD_CA });
    const image = await builder.build({ base: "debian-slim", steps: [] }, (line) => {
      if (!line.startsWith("    ")) process.stderr.write(`${line}\n`);
    });
    process.stderr.write(`test image store ${TEST_IMAGE_CACHE}: base image ${image.id.slice(0, 12)} ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  } finally {
    await cgroups.close();
  }
}
