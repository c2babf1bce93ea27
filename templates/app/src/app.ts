// Your app: every exported function gets a URL. `npm run serve` runs it with live reload.
import { App } from "berthjs";
import { z } from "zod";

const app = new App("{{name}}");

// GET /?x=42 → {"square":1764}
export const square = app
  .function()
  .webEndpoint({ query: z.object({ x: z.coerce.number().int() }) }, ({ query }) => ({ square: query.x ** 2 }));

// POST {"name":"Ada"} → {"greeting":"Hello, Ada!"}
export const greet = app
  .function()
  .webEndpoint({ method: "POST", body: z.object({ name: z.string().min(1) }) }, ({ body }) => ({ greeting: `Hello, ${body.name}!` }));
