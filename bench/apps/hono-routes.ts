// The Hono app both sides of bench/hono.ts serve: berth's gateway and a bare @hono/node-server.
import { Hono } from "hono";

export function createHonoApp(): Hono {
  const app = new Hono();
  app.get("/", (c) => c.text("Hello world!"));
  app.get("/json", (c) => c.json({ square: 1764 }));
  return app;
}
