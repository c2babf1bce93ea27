/**
 * A graceful SIGTERM (issue 10, item 3), through the real `berth server`
 * and `berth serve`: the server stops accepting connections, lets requests
 * and streams in flight finish within `--grace`, then drains its containers
 * and exits. Under load that means zero resets: every request the server
 * took is answered whole, and clients that come later find the port closed
 * (connection refused), never a connection cut under them.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Agent, fetch } from "undici";
import { berth, tempHome } from "./support/cli.js";
import { request, tempApp } from "./support/platform.js";
import { waitFor } from "./support/wait.js";

const APP = `
import { App } from "berthjs";
const app = new App("graceful");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export const slow = app.function({ concurrency: { maxInputs: 200 } }).webEndpoint(async ({ query }) => {
  if (query.tag) console.log("slow started " + query.tag);
  await sleep(Number(query.ms ?? 0));
  return { tag: query.tag ?? null };
});

// Ten chunks, 500 ms apart: a 5 s stream.
export const stream = app.function({ concurrency: { maxInputs: 10 } }).fetchApp(() => ({
  fetch: (request: Request) => {
    console.log("stream started " + new URL(request.url).searchParams.get("tag"));
    let n = 0;
    const body = new ReadableStream({
      async pull(controller) {
        if (n === 10) return controller.close();
        if (n > 0) await sleep(500);
        controller.enqueue(new TextEncoder().encode("chunk " + n + "\\n"));
        n += 1;
      },
    });
    return new Response(body, { headers: { "content-type": "text/plain" } });
  },
}));
`;

const WHOLE_STREAM = Array.from({ length: 10 }, (_, i) => `chunk ${i}\n`).join("");

/** How a client's request ended: its status, or the error code of a connection that failed. */
async function outcome(promise: Promise<{ status: number; text(): Promise<string> }>): Promise<string> {
  try {
    const response = await promise;
    await response.text();
    return String(response.status);
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause;
    return cause?.code ?? (error as Error).message;
  }
}

/** A client of its own (its own connections, kept alive for a minute) that resolves every host to 127.0.0.1. */
function loopbackAgent(): Agent {
  return new Agent({ keepAliveTimeout: 60_000, connect: { lookup: (_h, _o, cb) => cb(null, [{ address: "127.0.0.1", family: 4 }]) } });
}

/** A response's status and whole body, or the error that cut it (as status 0). */
function answer(promise: Promise<{ status: number; text(): Promise<string> }>): Promise<readonly [number, string]> {
  return promise.then(
    async (response) => [response.status, await response.text()] as const,
    (error: Error) => [0, String(error.cause ?? error)] as const,
  ).catch((error: Error) => [0, String(error.cause ?? error)] as const);
}

/**
 * Clients that send requests back to back on kept-alive connections until
 * the server refuses them: what a busy server sees when it is told to stop.
 */
function load(url: string, workers: number): { stop(): void; served(): number; done: Promise<Record<string, number>> } {
  const agent = loopbackAgent();
  const counts: Record<string, number> = {};
  let stopped = false;
  const worker = async () => {
    while (!stopped) {
      const result = await outcome(fetch(`${url}?ms=20`, { dispatcher: agent }));
      counts[result] = (counts[result] ?? 0) + 1;
      if (result === "ECONNREFUSED") return;
    }
  };
  const done = Promise.all(Array.from({ length: workers }, worker)).then(async () => {
    await agent.close();
    return counts;
  });
  return { stop: () => (stopped = true), served: () => counts["200"] ?? 0, done };
}

test("SIGTERM under load: 20 requests and four 5 s streams in flight all finish whole, no client is reset, then the server exits", async (t) => {
  const home = tempHome(t);
  const server = berth(t, ["server", "--port", "0"], { BERTH_HOME: home });
  const [, port] = await server.waitFor(/listening on http:\/\/localhost:(\d+)/);
  const deploy = berth(t, ["deploy", tempApp(t, "graceful.ts", APP), "--server", `http://127.0.0.1:${port}`, "--no-typecheck"], { BERTH_HOME: home });
  assert.equal(await deploy.exited, 0, deploy.output());
  const url = (fn: string) => deploy.output().match(new RegExp(`${fn}\\s+(http://\\S+)`))![1]!;
  assert.equal(await outcome(request(`${url("slow")}?ms=0`)), "200");

  const background = load(url("slow"), 6);
  t.after(() => background.stop());
  await waitFor("the background load to be under way", () => background.served() >= 100, 30_000, 20);
  const slow = Array.from({ length: 20 }, (_, i) => answer(request(`${url("slow")}?ms=3000&tag=s${i}`)));
  const streams = Array.from({ length: 4 }, (_, i) => answer(request(`${url("stream")}?tag=t${i}`)));
  for (let i = 0; i < 20; i += 1) await server.waitFor(new RegExp(`slow started s${i}\\b`));
  for (let i = 0; i < 4; i += 1) await server.waitFor(new RegExp(`stream started t${i}\\b`));

  const signalled = Date.now();
  server.child.kill("SIGTERM");
  await server.waitFor(/Shutting down/);
  // A connection opened after the signal is refused at once: the port is closed.
  const fresh = loopbackAgent();
  assert.equal(await outcome(fetch(`${url("slow")}?ms=0`, { dispatcher: fresh })), "ECONNREFUSED");
  await fresh.close();

  for (const [status, body] of await Promise.all(slow)) {
    assert.equal(status, 200);
    assert.match(body, /"tag":"s\d+"/);
  }
  for (const [status, body] of await Promise.all(streams)) {
    assert.equal(status, 200);
    assert.equal(body, WHOLE_STREAM, "the stream arrived whole");
  }
  assert.equal(await server.exited, 0, server.output());
  const took = Date.now() - signalled;
  assert.ok(took >= 4000 && took < 20_000, `exited ${took} ms after SIGTERM, once the 5 s streams had finished`);

  const counts = await background.done;
  t.diagnostic(`background load: ${JSON.stringify(counts)}; exited ${took} ms after SIGTERM`);
  const failed = Object.entries(counts).filter(([result]) => result !== "200" && result !== "ECONNREFUSED");
  assert.deepEqual(failed, [], `no request the server took was reset or refused: ${JSON.stringify(counts)}`);
  assert.ok((counts["200"] ?? 0) > 0);
});

test("SIGTERM with a request longer than --grace: it is cut when the grace ends, and the server exits then", async (t) => {
  const home = tempHome(t);
  const server = berth(t, ["server", "--port", "0", "--grace", "1"], { BERTH_HOME: home });
  const [, port] = await server.waitFor(/listening on http:\/\/localhost:(\d+)/);
  const deploy = berth(t, ["deploy", tempApp(t, "graceful.ts", APP), "--server", `http://127.0.0.1:${port}`, "--no-typecheck"], { BERTH_HOME: home });
  assert.equal(await deploy.exited, 0, deploy.output());
  const slowUrl = deploy.output().match(/slow\s+(http:\/\/\S+)/)![1]!;
  const long = outcome(request(`${slowUrl}?ms=60000&tag=long`));
  await server.waitFor(/slow started long/);
  const signalled = Date.now();
  server.child.kill("SIGTERM");
  assert.equal(await server.exited, 0, server.output());
  const took = Date.now() - signalled;
  assert.ok(took >= 900 && took < 10_000, `exited ${took} ms after SIGTERM`);
  assert.notEqual(await long, "200");
});

test("Ctrl-C of berth serve lets the request in flight finish before the app goes", async (t) => {
  const home = tempHome(t);
  const serve = berth(t, ["serve", tempApp(t, "graceful.ts", APP), "--port", "0", "--no-typecheck"], { BERTH_HOME: home });
  const [, slowUrl] = await serve.waitFor(/slow\s+(http:\/\/\S+)/, 60_000);
  const inFlight = answer(request(`${slowUrl}?ms=2000&tag=last`));
  await serve.waitFor(/slow started last/);
  serve.child.kill("SIGINT");
  const [status, body] = await inFlight;
  assert.equal(status, 200);
  assert.equal(body, '{"tag":"last"}');
  assert.equal(await serve.exited, 0, serve.output());
});
