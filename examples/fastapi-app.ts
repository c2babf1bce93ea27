// The document's ASGI example (`fastapi_app`) as a whole Hono app: any object
// with a fetch(Request) handler is served as is; one container takes up to
// 1000 requests at once.
//   npx berth serve examples/fastapi-app.ts
//   curl -X POST -H 'Content-Type: application/json' -d '{"hello": "world"}' \
//     http://local--fastapi-app-fastapi-app-dev.localhost:8600/echo          → {"hello":"world"}
import { App } from "berthjs";
import { Hono } from "hono";

const app = new App("fastapi-app");

export const fastapiApp = app.function({ concurrency: { maxInputs: 1000 } }).fetchApp(() => {
  const web = new Hono();
  web.post("/echo", async (c) => c.json(await c.req.json()));
  return web;
});
