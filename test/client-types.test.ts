/**
 * The published types, compiled as a user's project would compile them:
 * against dist/*.d.ts (the package's `exports`, not berth's sources), with
 * the strictest common settings (`exactOptionalPropertyTypes`,
 * `noUncheckedIndexedAccess`), every library file checked (no
 * skipLibCheck). The typed client's file of expected types and expected
 * errors (fixtures/typed-client/calls.ts) compiles without @types/node;
 * whole Node apps typed with Node's, Express's and Fastify's own types fit
 * the SDK's structural ones (fixtures/typed-client/node-apps.ts).
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import ts from "typescript";
import { REPO } from "./support/platform.js";

const FIXTURES = join(REPO, "test", "fixtures", "typed-client");

/** A strict user's tsconfig, as `tsc --init` writes it (TypeScript 5.9) plus the rest of `strict`'s neighbours. */
function consumerOptions(types: string[]): ts.CompilerOptions {
  return {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ["lib.es2023.d.ts", "lib.dom.d.ts", "lib.dom.iterable.d.ts", "lib.dom.asynciterable.d.ts"],
    types,
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    noImplicitOverride: true,
    verbatimModuleSyntax: true,
    isolatedModules: true,
    // Every .d.ts is checked (berth's, zod's) but TypeScript's own lib files, which take most of the time.
    skipLibCheck: false,
    skipDefaultLibCheck: true,
    noEmit: true,
  };
}

/** Diagnostics of a program of `roots` (`extra`: files that exist only in memory). */
function diagnostics(roots: string[], options: ts.CompilerOptions, extra: Record<string, string> = {}): { messages: string[]; files: string[] } {
  const host = ts.createCompilerHost(options);
  const read = host.readFile.bind(host);
  const exists = host.fileExists.bind(host);
  const getSource = host.getSourceFile.bind(host);
  host.readFile = (name) => extra[name] ?? read(name);
  host.fileExists = (name) => name in extra || exists(name);
  host.getSourceFile = (name, language) => (name in extra ? ts.createSourceFile(name, extra[name]!, language) : getSource(name, language));
  const program = ts.createProgram({ rootNames: roots, options, host });
  const messages = ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file && d.start !== undefined ? `${d.file.fileName}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}: ` : "";
    return `${where}${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
  });
  return { messages, files: program.getSourceFiles().map((file) => file.fileName) };
}

test("the build wrote the types the package exports", () => {
  for (const file of ["dist/sdk/index.d.ts", "dist/client/index.d.ts"]) assert.ok(existsSync(join(REPO, file)), `${file} missing: npm run build`);
});

test("the typed client's expected types and errors hold, without @types/node; a call the types refuse is reported", () => {
  // One program (a check takes seconds): the file of expectations, and a call that must fail.
  const probe = join(FIXTURES, "probe.ts");
  const source = 'import { endpoint } from "berthjs/client";\nexport const p = endpoint<typeof import("./app.js").square>("http://x/").get({ x: "not a number" });\n';
  const { messages, files } = diagnostics([join(FIXTURES, "calls.ts"), probe], consumerOptions([]), { [probe]: source });
  assert.equal(messages.length, 1, messages.join("\n"));
  assert.match(messages[0]!, /probe\.ts:2: .*Type 'string' is not assignable to type 'number'/s);
  assert.ok(files.some((name) => name.endsWith("/dist/client/index.d.ts")), "the client's types come from dist/");
  assert.ok(files.some((name) => name.endsWith("/dist/sdk/index.d.ts")), "the SDK's types come from dist/");
  assert.ok(!files.some((name) => name.includes("@types/node")), "no @types/node in the program");
});

test("whole Node apps typed with Node's, Express's, Fastify's and @hono/node-ws's own types fit the SDK", () => {
  assert.deepEqual(diagnostics([join(FIXTURES, "node-apps.ts")], { ...consumerOptions(["node"]), skipLibCheck: true }).messages, []);
});
