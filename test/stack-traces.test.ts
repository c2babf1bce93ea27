/** Unit tests of taking a bundle's inline source map off (what the platform writes beside the bundle). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { splitSourceMap } from "../src/agent/stack-traces.js";

const MARK = "//# sourceMappingURL=data:application/json;base64,";

test("the inline map on the last line is taken off and decoded; the code is left as it was before it", () => {
  const map = JSON.stringify({ version: 3, sources: ["app.ts"], mappings: "AAAA" });
  const code = 'export const x = 1;\nconsole.log("x");\n';
  const split = splitSourceMap(Buffer.from(`${code}${MARK}${Buffer.from(map).toString("base64")}\n`));
  assert.equal(split.code.toString(), code);
  assert.equal(split.map?.toString(), map);
});

test("a bundle without a map, or one that only mentions the marker before its end, is left whole", () => {
  const plain = Buffer.from("export const x = 1;\n");
  assert.equal(splitSourceMap(plain).code, plain);
  assert.equal(splitSourceMap(plain).map, undefined);
  const mentions = Buffer.from(`const s = "${MARK}abc";\nexport const y = 2;\n`);
  assert.equal(splitSourceMap(mentions).code, mentions);
  assert.equal(splitSourceMap(Buffer.from("")).map, undefined);
});
