/**
 * The architecture, enforced (after Knative's nodeps_test.go): reads every
 * import under `src/` and fails, naming the file and the import, when one
 * folder imports another that the table below does not allow, or when the
 * folders' imports form a cycle. Type-only imports count: a type is a
 * dependency too.
 *
 * ALLOWED is the one place where the direction of dependencies is written
 * down (the README's "How it works" points here). Read it bottom-up: leaves
 * first, the composition root (server) and the CLI last. A new folder, or a
 * new arrow, is a change to this table, made on purpose.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import ts from "typescript";

const SRC = resolve(import.meta.dirname, "..", "src");

/**
 * Which folders (and root modules) of src/ each may import. Anything not
 * listed is refused, including importing a folder that is not in the table.
 */
const ALLOWED: Record<string, readonly string[]> = {
  // Leaves: shared by everyone, importing nothing of ours.
  errors: [], // the error table and BerthError
  clock: [], // the injected clock
  paths: [], // src/paths.ts: where the compiled entry points are
  lifetime: ["errors"], // run marks, pdeathsig, the janitor and the sweep: nothing the platform starts outlives it
  files: [], // directories made without Node's recursive mkdir (which spins forever under /proc)
  // The SDK is bundled into user code: the error table is all it may carry along.
  sdk: ["errors"],
  // The typed client runs in browsers too: the error table and the SDK's types (and one header name) only.
  client: ["sdk", "errors"],
  logging: ["errors"], // pino, one logger per component
  hosts: ["errors"], // URL labels and Host classification, for control and gateway alike
  wire: ["errors", "sdk"], // the control API's JSON types (sdk: the manifest type)
  // The gateway's multiplexed wire to its own agent (frames, streams, flow control): both ends import it.
  mux: [],
  // Inside the container.
  agent: ["sdk", "errors", "mux", "lifetime"], // lifetime: isAlive, for the port lock of a dead agent
  // Sandbox mechanics (bubblewrap, cgroups, slirp4netns, user namespaces), for containers and image builds alike.
  sandbox: ["errors"],
  // The platform's components.
  runtime: ["agent", "sandbox", "paths", "errors", "lifetime"],
  router: ["runtime", "sdk", "wire", "errors", "clock", "logging"],
  logs: ["agent", "wire", "clock", "logging"], // app logs: container output and access lines, bounded, in their stores
  metrics: ["router", "wire", "clock"],
  image: ["sandbox", "sdk", "errors", "files", "lifetime"],
  bundler: ["sdk", "paths", "errors"],
  gateway: ["router", "runtime", "mux", "hosts", "sdk", "errors", "clock", "logging"],
  // Nodes sharing one database: heartbeats, the live set, shares of containers.
  cluster: ["wire", "errors", "clock", "logging"],
  control: ["cluster", "router", "runtime", "logs", "agent", "image", "hosts", "sdk", "wire", "errors", "clock", "logging", "files", "lifetime"],
  // Web pages on the bare host: reads the platform and metrics through interfaces it declares, acts through the control API (handed in).
  dashboard: ["metrics", "wire", "sdk", "errors", "clock", "logging", "paths"],
  // The composition root: the only folder that knows every component.
  server: ["control", "gateway", "dashboard", "cluster", "router", "runtime", "logs", "image", "sandbox", "metrics", "hosts", "wire", "errors", "clock", "logging", "paths", "files", "lifetime"],
  // The CLI talks to the control API (wire), and starts the composition root for `serve` and `server`.
  // image: the tar writer that packs addLocalFile/addLocalDir sources.
  cli: ["server", "bundler", "image", "wire", "sdk", "errors", "logging", "paths", "files"],
};

/** npm packages a folder may import, where that must stay narrow: what is bundled into user code or runs in every container. */
const PACKAGES: Record<string, readonly string[]> = {
  errors: [],
  clock: [],
  sdk: ["@standard-schema/spec"],
  client: [],
  agent: ["@hono/node-server"],
  wire: [],
  mux: [],
};

interface Import {
  /** File under src/, e.g. `gateway/server.ts`. */
  file: string;
  /** The specifier as written. */
  specifier: string;
  from: string;
  to: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith(".ts") || path.endsWith(".tsx") ? [path] : [];
  });
}

/** `gateway/server.ts` → `gateway`; `paths.ts` → `paths`. */
function unitOf(path: string): string {
  const [first, second] = relative(SRC, path).split("/");
  return second === undefined ? (first ?? "").replace(/\.[jt]sx?$/, "") : (first ?? "");
}

function readImports(): { internal: Import[]; packages: Import[] } {
  const internal: Import[] = [];
  const packages: Import[] = [];
  for (const path of sourceFiles(SRC)) {
    const file = relative(SRC, path);
    const from = unitOf(path);
    for (const { fileName: specifier } of ts.preProcessFile(readFileSync(path, "utf8"), true, true).importedFiles) {
      if (specifier.startsWith(".")) {
        const target = resolve(dirname(path), specifier);
        const to = unitOf(target);
        if (to !== from) internal.push({ file, specifier, from, to });
      } else if (!specifier.startsWith("node:")) {
        const name = specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : (specifier.split("/")[0] ?? "");
        packages.push({ file, specifier, from, to: name });
      }
    }
  }
  return { internal, packages };
}

/** A cycle among the edges, as the list of units around it, or null. */
function findCycle(edges: Map<string, Set<string>>): string[] | null {
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (unit: string): string[] | null => {
    state.set(unit, "open");
    path.push(unit);
    for (const next of edges.get(unit) ?? []) {
      if (state.get(next) === "open") return [...path.slice(path.indexOf(next)), next];
      if (state.get(next) === undefined) {
        const cycle = visit(next);
        if (cycle) return cycle;
      }
    }
    path.pop();
    state.set(unit, "done");
    return null;
  };
  for (const unit of [...edges.keys()].sort()) {
    if (state.get(unit) === undefined) {
      const cycle = visit(unit);
      if (cycle) return cycle;
    }
  }
  return null;
}

function edgesOf(pairs: Iterable<readonly [string, string]>): Map<string, Set<string>> {
  const edges = new Map<string, Set<string>>();
  for (const [from, to] of pairs) {
    let targets = edges.get(from);
    if (!targets) edges.set(from, (targets = new Set()));
    targets.add(to);
  }
  return edges;
}

test("every folder under src/ is in the dependency table", () => {
  const units = new Set(sourceFiles(SRC).map(unitOf));
  const missing = [...units].filter((unit) => !(unit in ALLOWED)).sort();
  assert.deepEqual(missing, [], `add ${missing.join(", ")} to ALLOWED in test/import-graph.test.ts, with the folders it may import`);
});

test("the dependency table itself has no cycle", () => {
  const cycle = findCycle(edgesOf(Object.entries(ALLOWED).flatMap(([from, targets]) => targets.map((to) => [from, to] as const))));
  assert.equal(cycle, null, `ALLOWED has a cycle: ${cycle?.join(" → ")}`);
});

test("every import between folders goes in an allowed direction", () => {
  const { internal } = readImports();
  assert.ok(internal.length > 50, "the imports were read");
  const refused = internal
    .filter(({ from, to }) => !(ALLOWED[from] ?? []).includes(to))
    .map(({ file, specifier, from, to }) => `src/${file} imports "${specifier}": ${from} may not depend on ${to}`);
  assert.deepEqual(refused, [], `imports against the direction in ALLOWED:\n  ${refused.join("\n  ")}`);
});

test("the folders' imports form no cycle", () => {
  const { internal } = readImports();
  const cycle = findCycle(edgesOf(internal.map(({ from, to }) => [from, to] as const)));
  if (cycle === null) return;
  const steps = cycle.slice(1).map((to, i) => {
    const example = internal.find((edge) => edge.from === cycle[i] && edge.to === to);
    return `${cycle[i]} → ${to} (src/${example?.file} imports "${example?.specifier}")`;
  });
  assert.fail(`a cycle between folders:\n  ${steps.join("\n  ")}`);
});

test("what is bundled into user code or runs in every container imports only the packages it may", () => {
  const { packages } = readImports();
  const refused = packages
    .filter(({ from, to }) => from in PACKAGES && !(PACKAGES[from] ?? []).includes(to))
    .map(({ file, specifier }) => `src/${file} imports the package "${specifier}"`);
  assert.deepEqual(refused, []);
});

test("the checks can fail: a cycle and a refused direction are found and named", () => {
  assert.deepEqual(findCycle(edgesOf([["gateway", "control"], ["control", "router"], ["router", "gateway"]])), ["control", "router", "gateway", "control"]);
  assert.equal(findCycle(edgesOf([["gateway", "router"], ["control", "router"]])), null);
  assert.ok(!ALLOWED.control?.includes("gateway"), "the control plane must not import the gateway");
  assert.ok(!ALLOWED.gateway?.includes("control"), "the gateway must not import the control plane");
  assert.ok(!ALLOWED.cli?.includes("control"), "the CLI speaks the wire types, not the control plane's");
});
