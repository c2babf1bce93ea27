// The multiplexed wire (src/mux) over a real Unix socket: both ends are real sessions, or one is a raw
// socket writing the bytes a hostile container could. Streams stay apart and in order, flow control bounds
// what a paused reader holds, a stream closed by the agent refuses late requests unprocessed, and a peer
// that breaks the protocol ends its session (every stream lost) without an exception escaping. The last test puts the
// gateway's own client (Upstream) in front of a raw agent.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { Upstream } from "../src/gateway/upstream.js";
import { silentLogger } from "../src/logging/logger.js";
import { MAX_PAYLOAD, MuxProtocolError, MuxSession, WINDOW, type MuxStream, type StreamEnd } from "../src/mux/session.js";

interface Pair {
  gateway: MuxSession;
  /** The agent's streams, in the order they were opened. */
  accepted: MuxStream[];
  agent: Promise<MuxSession>;
}

async function listen(t: TestContext, onSocket: (socket: Socket) => void): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "berth-mux-"));
  const path = join(dir, "mux.sock");
  const server: Server = createServer(onSocket);
  await new Promise<void>((resolve) => server.listen(path, resolve));
  t.after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return path;
}

async function pair(t: TestContext, onStream: (stream: MuxStream) => void = () => {}): Promise<Pair> {
  const accepted: MuxStream[] = [];
  let resolveAgent!: (session: MuxSession) => void;
  const agent = new Promise<MuxSession>((resolve) => (resolveAgent = resolve));
  const path = await listen(t, (socket) => {
    const session = new MuxSession(socket, true);
    session.onStream = (stream) => {
      accepted.push(stream);
      onStream(stream);
    };
    t.after(() => session.destroy());
    resolveAgent(session);
  });
  return { gateway: gatewayTo(t, path), accepted, agent };
}

/** The gateway's side of a session to `path`, destroyed when the test ends. */
function gatewayTo(t: TestContext, path: string): MuxSession {
  const gateway = new MuxSession(connect(path), false);
  t.after(() => gateway.destroy());
  return gateway;
}

/** Writes `bytes` one at a time, each after the last was flushed, so the reader gets every split. */
function drip(socket: Socket, bytes: Buffer): void {
  let i = 0;
  const next = () => {
    if (i >= bytes.length || socket.destroyed) return;
    socket.write(bytes.subarray(i, i + 1), next);
    i += 1;
  };
  next();
}

function until(condition: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (condition()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(check, 5);
    };
    check();
  });
}

function collect(stream: MuxStream): { bytes: Buffer[]; end: StreamEnd | undefined; error: Error | undefined } {
  const seen = { bytes: [] as Buffer[], end: undefined as StreamEnd | undefined, error: undefined as Error | undefined };
  stream.onData = (chunk) => seen.bytes.push(Buffer.from(chunk));
  stream.onEnd = (how, error) => {
    seen.end = how;
    seen.error = error;
  };
  return seen;
}

const text = (chunks: Buffer[]) => Buffer.concat(chunks).toString();

test("many streams share one socket, each in order, both ways", async (t) => {
  const echoed = new Map<number, Buffer[]>();
  const { gateway } = await pair(t, (stream) => {
    echoed.set(stream.id, []);
    stream.onData = (chunk) => {
      echoed.get(stream.id)!.push(Buffer.from(chunk));
      stream.write(`echo:${chunk.toString()}`);
    };
  });
  const streams = Array.from({ length: 20 }, () => gateway.open());
  const seen = streams.map(collect);
  for (let round = 0; round < 5; round += 1) streams.forEach((stream, i) => stream.write(`s${i}r${round};`));
  await until(() => seen.every((s) => text(s.bytes).split(";").length === 6), "every echo");
  streams.forEach((stream, i) => {
    assert.equal(text(echoed.get(stream.id)!), [0, 1, 2, 3, 4].map((r) => `s${i}r${r};`).join(""), `stream ${i} arrived in order`);
    assert.equal(text(seen[i]!.bytes), [0, 1, 2, 3, 4].map((r) => `echo:s${i}r${r};`).join(""), `stream ${i}'s answers came back in order`);
  });
  assert.equal(new Set(streams.map((s) => s.id)).size, 20, "each stream has its own id");
});

test("a write larger than a frame and than the window arrives whole, in frames of at most MAX_PAYLOAD", async (t) => {
  let received = 0;
  let largest = 0;
  const { gateway } = await pair(t, (stream) => {
    stream.onData = (chunk) => {
      received += chunk.length;
      largest = Math.max(largest, chunk.length);
    };
  });
  const stream = gateway.open();
  const size = 3 * WINDOW + 12345;
  let drained = false;
  stream.onDrain = () => (drained = true);
  assert.equal(stream.write(Buffer.alloc(size, 7)), false, "more than the window: the writer is told to wait");
  await until(() => received === size && drained, "the whole write and a drain");
  assert.ok(largest <= MAX_PAYLOAD);
});

test("a paused reader holds at most its window; resuming lets the rest through", async (t) => {
  let agentStream!: MuxStream;
  let held = 0;
  const { gateway } = await pair(t, (stream) => {
    agentStream ??= stream;
    stream.onData = (chunk) => {
      held += chunk.length;
      stream.pause();
    };
  });
  const stream = gateway.open();
  let drains = 0;
  stream.onDrain = () => (drains += 1);
  const total = 4 * WINDOW;
  for (let sent = 0; sent < total; sent += 16 * 1024) stream.write(Buffer.alloc(16 * 1024));
  await until(() => held >= WINDOW, "the first window");
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(held, WINDOW, "nothing beyond the window was sent to a paused reader");
  assert.equal(drains, 0);
  // Another stream on the same socket is not held up by the paused one.
  const other = gateway.open();
  other.write("hello");
  await until(() => held === WINDOW + 5, "the other stream's bytes");
  agentStream.onData = (chunk) => (held += chunk.length);
  agentStream.resume();
  await until(() => held === total + 5 && drains === 1, "everything, and one drain");
});

test("the agent's close ends the gateway's stream; DATA that raced it is refused, unprocessed", async (t) => {
  const { gateway, accepted } = await pair(t, (stream) => {
    stream.onData = () => stream.destroy();
  });
  const stream = gateway.open();
  const seen = collect(stream);
  stream.write("request 1");
  await until(() => seen.end !== undefined, "the close");
  assert.equal(seen.end, "closed");
  assert.equal(accepted.length, 1);

  // The race itself, from a raw gateway: a second request written on stream 1 after the agent closed it.
  const processed: string[] = [];
  const path = await listen(t, (socket) => {
    const agent = new MuxSession(socket, true);
    agent.onStream = (accepted) => {
      accepted.onData = (chunk) => {
        processed.push(chunk.toString());
        accepted.destroy();
      };
    };
  });
  const raw = connect(path);
  t.after(() => raw.destroy());
  const replies: Buffer[] = [];
  raw.on("data", (chunk: Buffer) => replies.push(chunk));
  raw.write(Buffer.concat([frame(9, 1, 0), Buffer.from("request 1")]));
  await until(() => Buffer.concat(replies).length >= 9, "the agent's CLOSE");
  raw.write(Buffer.concat([frame(9, 1, 0), Buffer.from("request 2")]));
  await until(() => Buffer.concat(replies).length >= 18, "the refusal");
  const answer = Buffer.concat(replies);
  assert.deepEqual([answer.readUInt32BE(4), answer[8]], [1, 1], "first a CLOSE of stream 1");
  assert.deepEqual([answer.readUInt32BE(13), answer[17]], [1, 3], "then a REFUSED of stream 1");
  assert.deepEqual(processed, ["request 1"], "the late request never reached a handler");
});

test("the gateway's close reaches the agent's stream; both ends forget it", async (t) => {
  const { gateway, accepted, agent } = await pair(t);
  const stream = gateway.open();
  stream.write("x");
  await until(() => accepted.length === 1, "the stream");
  const agentSeen = collect(accepted[0]!);
  stream.destroy();
  await until(() => agentSeen.end !== undefined, "the close");
  assert.equal(agentSeen.end, "closed");
  assert.equal(gateway.openStreams, 0);
  assert.equal((await agent).openStreams, 0);
});

test("a session that ends loses every stream; a stream opened after is lost at once", async (t) => {
  const { gateway, accepted, agent } = await pair(t);
  const streams = [gateway.open(), gateway.open()];
  const seen = streams.map(collect);
  streams.forEach((s) => s.write("x"));
  await until(() => accepted.length === 2, "both streams");
  (await agent).destroy();
  await until(() => seen.every((s) => s.end !== undefined), "both ends");
  assert.deepEqual(
    seen.map((s) => s.end),
    ["lost", "lost"],
  );
  const late = gateway.open();
  assert.equal(late.destroyed, true);
  assert.equal(late.write("x"), false);
});

/** Frames a hostile agent could write; each must end the gateway's session with an error, and nothing may throw. */
const HOSTILE: Record<string, (id: number) => Buffer> = {
  "a frame longer than MAX_PAYLOAD": (id) => frame(MAX_PAYLOAD + 1, id, 0),
  "an unknown frame type": (id) => frame(0, id, 9),
  "a CLOSE with a payload": (id) => Buffer.concat([frame(1, id, 1), Buffer.from("x")]),
  "a CREDIT of the wrong size": (id) => Buffer.concat([frame(2, id, 2), Buffer.from("xx")]),
  "a CREDIT beyond what was sent": (id) => Buffer.concat([frame(4, id, 2), u32(WINDOW)]),
};

function u32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value);
  return bytes;
}

function frame(length: number, id: number, type: number): Buffer {
  return Buffer.concat([u32(length), u32(id), Buffer.from([type])]);
}

for (const [name, bytes] of Object.entries(HOSTILE)) {
  test(`a hostile agent's ${name} ends the session, never the process`, async (t) => {
    const path = await listen(t, (socket) => {
      // Wait for the gateway's first frame, to learn its stream id, then answer with the hostile bytes, written one byte at a time.
      socket.once("data", (chunk: Buffer) => {
        drip(socket, bytes(chunk.readUInt32BE(4)));
      });
      socket.on("error", () => {});
    });
    const gateway = gatewayTo(t, path);
    let sessionError: Error | undefined;
    gateway.onEnd = (error) => (sessionError = error);
    const stream = gateway.open();
    const seen = collect(stream);
    stream.write("GET / HTTP/1.1\r\n\r\n");
    await until(() => seen.end !== undefined, "the session's end", 10_000);
    assert.equal(seen.end, "lost");
    assert.ok(sessionError instanceof MuxProtocolError, `the session ended on the peer's protocol error, not ${String(sessionError)}`);
    assert.equal(gateway.ended, true);
  });
}

test("a hostile agent's DATA beyond the window of a paused stream ends the session", async (t) => {
  const path = await listen(t, (socket) => {
    socket.once("data", (chunk: Buffer) => {
      const id = chunk.readUInt32BE(4);
      for (let sent = 0; sent <= WINDOW; sent += MAX_PAYLOAD) socket.write(Buffer.concat([frame(MAX_PAYLOAD, id, 0), Buffer.alloc(MAX_PAYLOAD)]));
    });
    socket.on("error", () => {});
  });
  const gateway = gatewayTo(t, path);
  let sessionError: Error | undefined;
  gateway.onEnd = (error) => (sessionError = error);
  const stream = gateway.open();
  let received = 0;
  let end: StreamEnd | undefined;
  // A client that reads nothing: the gateway pauses the stream at its first chunk.
  stream.onData = (chunk) => {
    received += chunk.length;
    stream.pause();
  };
  stream.onEnd = (how) => (end = how);
  stream.write("GET / HTTP/1.1\r\n\r\n");
  await until(() => end !== undefined, "the session's end");
  assert.equal(end, "lost");
  assert.match(String(sessionError), /more than its window/);
  assert.ok(received <= WINDOW, "no byte beyond the window was handed on");
});

test("frames split at every byte reassemble", async (t) => {
  const path = await listen(t, (socket) => {
    socket.once("data", (chunk: Buffer) => {
      const id = chunk.readUInt32BE(4);
      const reply = Buffer.concat([frame(5, id, 0), Buffer.from("hello"), frame(6, id, 0), Buffer.from(" world"), frame(0, id, 1)]);
      drip(socket, reply);
    });
  });
  const gateway = gatewayTo(t, path);
  const stream = gateway.open();
  const seen = collect(stream);
  stream.write("hi");
  await until(() => seen.end !== undefined, "the close");
  assert.equal(text(seen.bytes), "hello world");
  assert.equal(seen.end, "closed");
});

test("the gateway sends a request the agent refused (its stream had closed) again on a new stream, once", async (t) => {
  // A raw agent: answers stream 1's first request, refuses the next one on stream 1 (as an agent that had just
  // closed it would), answers anything on another stream.
  const seen: string[] = [];
  const path = await listen(t, (socket) => {
    let pending = Buffer.alloc(0);
    const answered = new Set<number>();
    socket.on("data", (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 9 && pending.length >= 9 + pending.readUInt32BE(0)) {
        const [length, id, type] = [pending.readUInt32BE(0), pending.readUInt32BE(4), pending[8]!];
        pending = pending.subarray(9 + length);
        if (type !== 0) continue;
        if (id === 1 && answered.has(1)) {
          seen.push("1 refused");
          socket.write(frame(0, 1, 3));
          continue;
        }
        answered.add(id);
        seen.push(`${id} served`);
        const answer = Buffer.from(`HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\nanswer${id}`);
        socket.write(Buffer.concat([frame(answer.length, id, 0), answer]));
      }
    });
    socket.on("error", () => {});
  });
  const upstream = new Upstream({ socketPath: join(path, "..", "unused.sock"), muxSocketPath: path }, silentLogger());
  t.after(() => upstream.close());
  const front = createHttpServer((req, res) => {
    upstream.forward(req, res, [...req.rawHeaders], [], new AbortController().signal, (error) => {
      if (error === undefined) return;
      res.writeHead(502);
      res.end(String(error));
    });
  });
  await new Promise<void>((resolve) => front.listen(0, "127.0.0.1", resolve));
  t.after(() => front.close());
  const url = `http://127.0.0.1:${(front.address() as AddressInfo).port}/`;

  assert.equal(await (await fetch(url)).text(), "answer1");
  const second = await fetch(url);
  assert.equal(second.status, 200);
  assert.equal(await second.text(), "answer3");
  assert.deepEqual(seen, ["1 served", "1 refused", "3 served"]);
});
