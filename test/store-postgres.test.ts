/**
 * The storage conformance suite, and the dashboard's sessions over the
 * store (test/support/session-suite.ts), on the PostgreSQL engine, against
 * a real server started for this file (test/support/postgres.ts): a fresh
 * database per test.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import pg from "pg";
import { PostgresStore } from "../src/control/store/postgres.js";
import { launchPostgres, type TestPostgres } from "./support/postgres.js";
import { sessionSuite } from "./support/session-suite.js";
import { storeSuite } from "./support/store-suite.js";

let server: TestPostgres;
let databases = 0;
before(async () => {
  server = await launchPostgres();
});
const cacheRoot = mkdtempSync(join(tmpdir(), "berth-blob-caches-"));
after(() => {
  rmSync(cacheRoot, { recursive: true, force: true });
  return server.close();
});

async function sql(url: string, text: string, values: unknown[] = []): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

/** A database of its own for one test; each `open` is a node of its own, with its own cache of blobs as files. */
async function freshDatabase(prefix: string) {
  databases += 1;
  const url = await server.createDatabase(`${prefix}_${databases}`);
  return { url, open: () => PostgresStore.open({ url, blobCacheDir: mkdtempSync(join(cacheRoot, "node-")) }) };
}

storeSuite({
  name: "postgres",
  async fresh() {
    const { url, open } = await freshDatabase("suite");
    return {
      open,
      corruptBlob: async (hash) => void (await sql(url, "UPDATE blob_chunks SET data = 'tampered' WHERE hash = $1 AND seq = 0", [hash])),
      recordSchemaVersion: async (version) => void (await sql(url, "INSERT INTO berth_schema (version, name, applied_at) VALUES ($1, 'from the future', 0)", [version])),
    };
  },
});

sessionSuite({
  name: "postgres",
  async fresh() {
    const { url, open } = await freshDatabase("sessions");
    return {
      open,
      rawRows: () => sql(url, "SELECT * FROM dashboard_sessions"),
    };
  },
});
