/**
 * The baseline of bench/hono.ts, in its own process (as the container's
 * copy is): the shared Hono app (apps/hono-routes.ts) on a bare
 * @hono/node-server. Prints its port once listening.
 */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { createHonoApp } from "../apps/hono-routes.js";

const server = serve({ fetch: createHonoApp().fetch, port: 0, hostname: "127.0.0.1" }, (info: AddressInfo) => console.log(info.port));
server.on("error", (error) => {
  console.error(error);
  process.exit(1);
});
