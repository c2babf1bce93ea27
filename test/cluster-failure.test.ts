/**
 * Node failure on a platform of three real nodes over a real PostgreSQL
 * (test/support/cluster.ts): `kill -9` of a node under load costs only the
 * requests it was serving, the others go on, its minContainers come back
 * on the others, and it rejoins when restarted; a database outage leaves
 * every app serving from memory while changes are refused with a clear
 * 503, and the nodes catch up when the database returns.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { BerthError } from "../src/errors/codes.js";
import type { DeployResult } from "../src/wire/control-api.js";
import { startCluster, type Cluster, type NodeProcess } from "./support/cluster.js";
import { request, tempApp } from "./support/platform.js";
import { sleep, waitFor } from "./support/wait.js";

// \`f\` keeps three containers and takes no load, so its ready count is exactly the nodes' shares; \`load\` takes the load.
const KEPT_APP = (mark: string) => `
import { App } from "berthjs";
const app = new App("kept");
export const f = app.function({ minContainers: 3, scaledownWindow: 600 }).webEndpoint(() => ${JSON.stringify(mark)});
export const load = app.function({ concurrency: { maxInputs: 4 }, scaledownWindow: 600 })
  .webEndpoint(async () => { await new Promise((r) => setTimeout(r, 20)); return ${JSON.stringify(mark)}; });
`;

/** Ready containers of the current version of \`f\` per node, as stats through `via` report them. */
async function readyByNode(cluster: Cluster, via: NodeProcess): Promise<Map<string, number>> {
  const ready = new Map<string, number>();
  for (const fn of (await cluster.client(via).stats("kept")).functions) {
    if (fn.draining || fn.function !== "f") continue;
    for (const pool of fn.pools) ready.set(fn.node, (ready.get(fn.node) ?? 0) + pool.ready);
  }
  return ready;
}

describe("node failure", { timeout: 300_000 }, () => {
  let cluster: Cluster;
  let result: DeployResult;
  const cleanups: (() => unknown)[] = [];
  before(async () => {
    cluster = await startCluster({ after: (fn) => cleanups.push(fn) }, { nodes: 3 });
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  test("kill -9 of a node under load: the others serve on, its minContainers reappear on them, and it rejoins", async (t) => {
    result = await cluster.deploy(tempApp(t, "kept.ts", KEPT_APP("v1")));
    const [n1, n2, n3] = cluster.nodes as [NodeProcess, NodeProcess, NodeProcess];
    await waitFor("one ready container per node", async () => [...(await readyByNode(cluster, n1)).values()].join() === "1,1,1" || undefined, 60_000, 200);

    // Every request comes from the load balancer's one address: lift the workspace's and the client's limits, so what is counted is what the kill costs.
    await cluster.client(n1).setWorkspaceLimit("local", { rate: 1_000_000, burst: 1_000_000, clientRate: 1_000_000, clientBurst: 1_000_000 });
    await waitFor("every node to have the limit", async () => {
      for (const node of cluster.nodes) if ((await cluster.client(node).workspaceLimit("local")).client.rate !== 1_000_000) return undefined;
      return true;
    }, 5000, 50);
    // Load through the load balancer: 8 clients, one request after another each, until told to stop.
    const statuses = new Map<number | string, number>();
    const afterKill = new Map<number | string, number>();
    let killed = false;
    let stop = false;
    const url = cluster.urlOn(result, "load", cluster.lbPort);
    const client = async () => {
      while (!stop) {
        const status = await request(url).then(
          async (response) => (await response.text(), response.status),
          (error: Error) => `error ${error.message}`,
        );
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (killed) afterKill.set(status, (afterKill.get(status) ?? 0) + 1);
      }
    };
    const clients = Array.from({ length: 8 }, client);
    await sleep(1500);
    await n2.kill();
    killed = true;
    await sleep(3000);
    stop = true;
    await Promise.all(clients);
    const failed = [...statuses].filter(([status]) => status !== 200).reduce((sum, [, count]) => sum + count, 0);
    t.diagnostic(`statuses: ${JSON.stringify([...statuses])}; after the kill: ${JSON.stringify([...afterKill])}`);
    // Only what n2 was serving at the moment of the kill can be lost: at most one request per client.
    assert.ok(failed <= 8, `${failed} requests failed: ${JSON.stringify([...statuses])}`);
    assert.ok((afterKill.get(200) ?? 0) > 20, "the platform went on serving");
    for (const node of [n1, n3]) assert.equal((await request(cluster.urlOn(result, "f", node.port))).status, 200);

    // Past the node timeout (5 s), n2 is not live, and the two live nodes run all three minContainers between them.
    await waitFor("n2 taken for dead", async () => (await cluster.client(n1).listNodes()).nodes.find((node) => node.id === "n2")?.live === false || undefined, 15_000, 200);
    await waitFor(
      "n2's minContainers on the others",
      async () => {
        const ready = await readyByNode(cluster, n3);
        return (ready.get("n1") ?? 0) + (ready.get("n3") ?? 0) === 3 || undefined;
      },
      60_000,
      250,
    );
    const stats = await cluster.client(n1).stats("kept");
    assert.equal(stats.unreachable, undefined, "a dead node is not asked");
    assert.ok(stats.functions.every((fn) => fn.node !== "n2"));

    // Back with the same state directory and port: it rejoins as n2 and serves again.
    const again = await cluster.startNode({ id: "n2", home: n2.home, port: n2.port });
    cluster.nodes[1] = again;
    await waitFor("n2 live again", async () => (await cluster.client(n1).listNodes()).nodes.find((node) => node.id === "n2")?.live || undefined, 15_000, 200);
    assert.equal(await (await request(cluster.urlOn(result, "f", again.port))).text(), JSON.stringify("v1"));
    await waitFor("a container on n2 again", async () => ((await readyByNode(cluster, n1)).get("n2") ?? 0) >= 1 || undefined, 60_000, 250);
  });

  test("a database outage: apps serve from memory, changes get a clear 503, and the nodes catch up when it returns", async (t) => {
    const [n1, n2, n3] = cluster.nodes as [NodeProcess, NodeProcess, NodeProcess];
    const proxy = await cluster.client(n1).createToken({ kind: "proxy" });
    const guarded = await cluster.deploy(
      tempApp(t, "guarded.ts", `import { App } from "berthjs";
const app = new App("guarded");
export const f = app.function().webEndpoint({ requiresProxyAuth: true }, () => "in");`),
    );
    const headers = { "berth-key": proxy.key!, "berth-secret": proxy.secret! };
    for (const node of cluster.nodes) {
      await waitFor(`node ${node.id} to accept the proxy token`, async () => (await request(cluster.urlOn(guarded, "f", node.port), { headers })).status === 200 || undefined, 5000, 50);
    }

    cluster.pg.stop();
    t.after(() => {
      try {
        cluster.pg.start();
      } catch {
        // Already running.
      }
    });
    for (const node of cluster.nodes) {
      assert.equal(await (await request(cluster.urlOn(result, "f", node.port))).text(), JSON.stringify("v1"), `node ${node.id} serves from memory`);
      assert.equal((await request(cluster.urlOn(guarded, "f", node.port), { headers })).status, 200, `node ${node.id} checks tokens from memory`);
      assert.equal((await request(cluster.urlOn(guarded, "f", node.port))).status, 401);
    }
    const refusals: BerthError[] = [];
    await cluster.deploy(tempApp(t, "kept.ts", KEPT_APP("v2")), n2).catch((error: BerthError) => refusals.push(error));
    await cluster.client(n3).stopApp("kept").catch((error: BerthError) => refusals.push(error));
    await cluster.client(n1).rollback("kept", undefined, () => {}).catch((error: BerthError) => refusals.push(error));
    assert.equal(refusals.length, 3);
    for (const error of refusals) {
      assert.ok(error instanceof BerthError);
      assert.equal(error.code, "database_unavailable");
      assert.match(error.message, /state database \(postgres:\/\/127\.0\.0\.1:\d+\/berth\) is unreachable/);
      assert.match(error.message, /running apps keep serving; deploys and other changes are refused until it is back/);
      assert.doesNotMatch(error.message, /berth@/, "no credentials in the message");
    }
    // Still serving after a few heartbeats without the database: nobody concluded the others were dead.
    await sleep(2000);
    for (const node of cluster.nodes) assert.equal((await request(cluster.urlOn(result, "f", node.port))).status, 200);

    cluster.pg.start();
    const v2 = await waitFor(
      "a deploy to succeed again",
      () => cluster.deploy(tempApp(t, "kept.ts", KEPT_APP("v2")), n1).catch(() => undefined),
      30_000,
      500,
    );
    assert.ok(v2.version >= 2);
    // Every node catches up: by the notification, or by the re-read when its feed reconnects.
    await Promise.all(
      cluster.nodes.map((node) =>
        waitFor(`node ${node.id} to serve v2`, async () => (await (await request(cluster.urlOn(v2, "f", node.port))).text()) === JSON.stringify("v2") || undefined, 20_000, 100),
      ),
    );
  });
});
