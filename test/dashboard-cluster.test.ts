/**
 * The dashboard on two real `berth server` nodes sharing one real
 * PostgreSQL database (test/support/cluster.ts), reached by a browser (a
 * real HTTP client keeping its cookie) that lands on either node, as it
 * would behind a load balancer without sticky sessions: signed in on one,
 * signed in on both, with the same CSRF token; an action's message shown
 * once by whichever node answers the next page; signing out anywhere signs
 * out everywhere; a restart keeps sessions; a revoked token is refused by
 * both nodes; the database down is a 503, not a sign-out.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startCluster, type Cluster, type NodeProcess } from "./support/cluster.js";
import { Browser } from "./support/form-browser.js";
import { waitFor } from "./support/wait.js";

/** Bound on a revocation reaching the other node, in milliseconds (NOTIFY makes it milliseconds; see test/cluster.test.ts). */
const PROPAGATION_MS = 5000;

describe("the dashboard on two nodes, one database", { timeout: 300_000 }, () => {
  let cluster: Cluster;
  let a: NodeProcess;
  let b: NodeProcess;
  let workspace: string;
  const cleanups: (() => unknown)[] = [];
  before(async () => {
    cluster = await startCluster({ after: (fn) => cleanups.push(fn) }, { nodes: 2 });
    [a, b] = cluster.nodes as [NodeProcess, NodeProcess];
    workspace = (await cluster.client().listTokens())[0]!.workspace;
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  test("signed in on A is signed in on B with the same CSRF token; an action on B shows its message once on A; signing out on B signs out on A", async () => {
    const browser = new Browser(a.url);
    assert.equal((await browser.signIn(cluster.token)).status, 303);
    const cookie = browser.cookie;
    assert.ok(cookie);
    const csrf = await browser.csrf(`/w/${workspace}/tokens`);

    browser.base = b.url;
    const onB = await browser.get(`/w/${workspace}/tokens`);
    assert.equal(onB.status, 200, "B knows the session A made");
    assert.match(await onB.text(), new RegExp(`data-csrf="${csrf}"`), "with the same CSRF token");
    assert.equal((await browser.post(`/w/${workspace}/tokens`, { kind: "api", _csrf: "x".repeat(43) })).status, 403, "a wrong CSRF token is refused");
    const made = await browser.post(`/w/${workspace}/tokens`, { kind: "api", name: "made on B", _csrf: csrf });
    assert.equal(made.status, 303, "B takes the form of A's page");

    browser.base = a.url;
    const shown = await (await browser.get(`/w/${workspace}/tokens`)).text();
    const secret = /<code id="new-secret">(bt_[^<]+)<\/code>/.exec(shown)?.[1];
    assert.ok(secret, "A shows the message B left: the new token's secret");
    browser.base = b.url;
    assert.doesNotMatch(await (await browser.get(`/w/${workspace}/tokens`)).text(), new RegExp(secret), "once, on any node");
    assert.ok((await cluster.client().listTokens()).some((token) => token.name === "made on B"));

    assert.equal((await browser.post("/logout", { _csrf: csrf })).status, 303);
    assert.equal(browser.cookie, undefined, "B cleared the cookie");
    // The cookie as it was (a copy kept somewhere), on A: signed out there too.
    const replay = new Browser(a.url);
    replay.cookie = cookie;
    const page = await replay.get(`/w/${workspace}/`);
    assert.equal(page.status, 303, "A: the session is gone");
    assert.match(page.headers.get("location") ?? "", /^\/login/);
    assert.equal((await replay.post(`/w/${workspace}/tokens`, { kind: "api", _csrf: csrf })).status, 401);
  });

  test("a revoked token is refused on both nodes, each on its own; a restarted node keeps the sessions", async () => {
    const member = await cluster.client(a).createToken({ kind: "api", name: "soon revoked" });
    const [onA, onB] = [new Browser(a.url), new Browser(b.url)];
    for (const browser of [onA, onB]) {
      assert.equal((await browser.signIn(member.token!)).status, 303);
      assert.equal((await browser.get(`/w/${workspace}/`)).status, 200);
    }
    const admin = new Browser(a.url);
    await admin.signIn(cluster.token);

    // B restarts: the sessions it did not make, and the ones it did, are still there after.
    await b.stop();
    // Same id, home and port; the cluster's cleanup ends it like the others.
    const restarted = await cluster.startNode({ id: b.id, home: b.home, port: b.port });
    for (const browser of [onB, admin]) {
      browser.base = restarted.url;
      assert.equal((await browser.get(`/w/${workspace}/`)).status, 200, "signed in after B's restart");
    }

    await cluster.client(a).revokeToken(member.id);
    // Each node checks the token itself (a refusal deletes the session's row, so each browser asks one node only).
    for (const browser of [onA, onB]) {
      await waitFor(`${browser.base} to refuse the revoked token`, async () => (await browser.get(`/w/${workspace}/`)).status === 303 || undefined, PROPAGATION_MS, 50);
    }
    assert.equal((await admin.get(`/w/${workspace}/`)).status, 200, "the admin's session is untouched");
  });

  test("while the database is down the dashboard answers 503 with the reason, and the session is back with the database", async () => {
    const browser = new Browser(a.url);
    await browser.signIn(cluster.token);
    cluster.pg.stop();
    try {
      const down = await browser.get(`/w/${workspace}/`);
      assert.equal(down.status, 503);
      assert.match(await down.text(), /state database .* is unreachable/);
    } finally {
      cluster.pg.start();
    }
    await waitFor("the session back with the database", async () => (await browser.get(`/w/${workspace}/`)).status === 200 || undefined, 30_000, 100);
  });
});
