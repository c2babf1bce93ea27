/** The dashboard's sessions over the SQLite engine (test/support/session-suite.ts): a state directory per test. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { SqliteStore } from "../src/control/store/sqlite.js";
import { sessionSuite } from "./support/session-suite.js";

sessionSuite({
  name: "sqlite",
  async fresh(t) {
    const home = mkdtempSync(join(tmpdir(), "berth-sessions-"));
    t.after(() => rmSync(home, { recursive: true, force: true }));
    return {
      open: async () => SqliteStore.inHome(home),
      async rawRows() {
        const db = new Database(join(home, "state.db"), { readonly: true });
        try {
          return db.prepare("SELECT * FROM dashboard_sessions").all() as Record<string, unknown>[];
        } finally {
          db.close();
        }
      },
    };
  },
});
