// The document's WSGI example (`flask_app`) as a whole Express app: any Node
// (req, res) handler is served as is.
//   npx berth serve examples/flask-app.ts
//   curl -X POST -H 'Content-Type: application/json' -d '{"hello": "world"}' \
//     http://local--flask-app-flask-app-dev.localhost:8600/echo              → {"hello":"world"}
import { App } from "berthjs";
import express from "express";

const app = new App("flask-app");

export const flaskApp = app.function({ concurrency: { maxInputs: 1000 } }).nodeApp(() => {
  const web = express();
  web.use(express.json());
  web.post("/echo", (req, res) => {
    res.json(req.body);
  });
  return web;
});
