/**
 * The fresh-process baseline of bench/cold-start.ts: plain JavaScript run
 * with `node -e` (no TypeScript loader to slow its start), giving the same
 * answer as the hello handler (apps/hello-handler.ts). It prints its port
 * once listening.
 */
export const BASELINE_SERVER = `
const http = require("node:http");
const body = JSON.stringify("Hello world!");
http.createServer((req, res) => {
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}).listen(0, "127.0.0.1", function () { console.log(this.address().port); });
`;
