/** The storage conformance suite on the SQLite engine: a state directory per test, opened as often as a test likes. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import Database from "better-sqlite3";
import { SqliteStore } from "../src/control/store/sqlite.js";
import { storeSuite } from "./support/store-suite.js";

const homes: string[] = [];
after(() => homes.forEach((home) => rmSync(home, { recursive: true, force: true })));

storeSuite({
  name: "sqlite",
  async fresh() {
    const home = mkdtempSync(join(tmpdir(), "berth-store-"));
    homes.push(home);
    return {
      open: async () => SqliteStore.inHome(home),
      async corruptBlob(hash) {
        writeFileSync(join(home, "blobs", "sha256", hash), "tampered");
      },
      async recordSchemaVersion(version) {
        const db = new Database(join(home, "state.db"));
        db.prepare("INSERT INTO berth_schema (version, name, applied_at) VALUES (?, 'from the future', 0)").run(version);
        db.close();
      },
    };
  },
});
