// The document's "everything together" example: a typed body model with a
// default, returning HTML. `docs: true` also serves /docs and /openapi.json.
//   curl -d '{"name": "Erik", "qty": 10}' -H "Content-Type: application/json" \
//     -X POST http://local--web-demo-f-dev.localhost:8600/         → <html>Hello, Erik!</html>
import { App, Image } from "berthjs";
import { z } from "zod";

const image = Image.debianSlim();
const app = new App("web-demo", { image });

const Item = z.object({ name: z.string(), qty: z.number().int().default(42) });

export const f = app.function().webEndpoint({ method: "POST", body: Item, docs: true }, ({ body }) =>
  new Response(`<html>Hello, ${escapeHtml(body.name)}!</html>`, { headers: { "content-type": "text/html; charset=utf-8" } }),
);

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
