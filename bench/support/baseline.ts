/**
 * The baseline every benchmark compares with: a bare node:http server giving
 * the same answer as the hello endpoint, in its own process. It prints its
 * port once listening.
 */
export const BASELINE_SERVER = `
const http = require("node:http");
const body = JSON.stringify("Hello world!");
http.createServer((req, res) => {
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}).listen(0, "127.0.0.1", function () { console.log(this.address().port); });
`;
