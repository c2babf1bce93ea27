/**
 * Type-checks the user's app before `serve` or `deploy` ships it, so a type
 * error is reported like a syntax error (and `serve` keeps the last good
 * version). The previous program is reused, so a reload only re-checks what
 * changed. Only diagnostics in the user's own files are reported.
 */
import { dirname, resolve } from "node:path";
import ts from "typescript";

const DEFAULT_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  esModuleInterop: true,
  lib: ["lib.es2023.d.ts", "lib.dom.d.ts", "lib.dom.iterable.d.ts"],
  types: ["node"],
};

export class TypeChecker {
  private program: ts.Program | undefined;
  private readonly options: ts.CompilerOptions;

  constructor(private readonly entry: string) {
    this.options = loadOptions(resolve(entry));
  }

  /** Returns the formatted errors, or an empty string when the app type-checks. */
  check(): string {
    const host = ts.createCompilerHost(this.options);
    this.program = ts.createProgram({ rootNames: [resolve(this.entry)], options: this.options, host, oldProgram: this.program });
    const diagnostics = ts
      .getPreEmitDiagnostics(this.program)
      .filter((d) => d.category === ts.DiagnosticCategory.Error && (!d.file || !d.file.fileName.includes("/node_modules/")));
    if (diagnostics.length === 0) return "";
    return ts.formatDiagnostics(diagnostics, {
      getCanonicalFileName: (name) => name,
      getCurrentDirectory: () => process.cwd(),
      getNewLine: () => "\n",
    });
  }
}

function loadOptions(entry: string): ts.CompilerOptions {
  const configPath = ts.findConfigFile(dirname(entry), ts.sys.fileExists);
  if (!configPath) return DEFAULT_OPTIONS;
  const config = ts.readConfigFile(configPath, ts.sys.readFile);
  if (config.error) return DEFAULT_OPTIONS;
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, dirname(configPath));
  return { ...parsed.options, noEmit: true };
}
