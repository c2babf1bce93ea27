// bench/hono.ts deploys this: the shared Hono app as a berth fetchApp.
import { App } from "berthjs";
import { createHonoApp } from "./hono-routes.js";

const app = new App("bench-hono");

export const hello = app.function({ concurrency: { maxInputs: 1000 } }).fetchApp(() => createHonoApp());
