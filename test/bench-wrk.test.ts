/** The benchmarks' reading of wrk's text report (bench/support/wrk.ts). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseWrk } from "../bench/support/wrk.js";

const REPORT = `Running 1s test @ http://127.0.0.1:18081/
  1 threads and 5 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   151.08us  463.82us   8.61ms   94.17%
    Req/Sec    95.69k    33.81k  116.12k    81.82%
  Latency Distribution
     50%   41.00us
     75%   62.00us
     90%  176.00us
     99%    2.38ms
  104647 requests in 1.10s, 12.28MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:  95194.13
Transfer/sec:     11.17MB
`;

test("wrk's report becomes requests, failures, req/s and percentiles in milliseconds", () => {
  assert.deepEqual(parseWrk(REPORT), {
    requests: 104647,
    failures: { "non-2xx/3xx": 4, "socket read": 2, timeout: 1 },
    rps: 95194.13,
    p50: 0.041,
    p99: 2.38,
  });
  assert.equal(parseWrk(REPORT.replace("2.38ms", "1.50s")).p99, 1500);
});

test("with the status script's line, failures are counted by status (2xx and 3xx are not failures)", () => {
  const report = `${REPORT}statuses: {"200":104000,"304":43,"429":600,"502":4}\n`;
  assert.deepEqual(parseWrk(report).failures, { "429": 600, "502": 4, "socket read": 2, timeout: 1 });
});

test("a report without totals is an error, not zeros", () => {
  assert.throws(() => parseWrk("unable to connect to 127.0.0.1:1 Connection refused"), /unreadable wrk report/);
});

test("a round in which nothing was answered is a failure, so no ratio is printed from it", () => {
  const silent = REPORT.replace("104647 requests in", "0 requests in").replace("Requests/sec:  95194.13", "Requests/sec:      0.00");
  assert.deepEqual(parseWrk(silent).failures, { "non-2xx/3xx": 4, "socket read": 2, timeout: 1, "no answer in the round": 1 });
});
