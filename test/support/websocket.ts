/**
 * Test support for WebSockets: a `ws` client that reaches `*.localhost`
 * function hosts on loopback, and waits that always end (a message, a close,
 * a refused upgrade), so a broken relay fails a test instead of hanging it.
 */
import type { TestContext } from "node:test";
import type { IncomingMessage } from "node:http";
import { WebSocket, type ClientOptions, type RawData } from "ws";

const WAIT_MS = 15_000;

/** Opens a WebSocket to an `http(s)://...localhost:port/` function URL (path and query kept; `wss:` for `https:`); terminated after the test. */
export function connectWs(t: TestContext, url: string, options: ClientOptions = {}, protocols: string[] = []): Promise<WebSocket> {
  const target = new URL(url);
  target.protocol = target.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(target, protocols, {
    ...options,
    lookup: loopbackLookup as never,
  });
  t.after(() => ws.terminate());
  // Collected from the start: a message may arrive in the same read as the handshake, before a test listens.
  const inbox: Inbox = { messages: [], waiters: [] };
  inboxes.set(ws, inbox);
  ws.on("message", (data: RawData, isBinary: boolean) => {
    const message = { data: Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]), isBinary };
    const waiter = inbox.waiters.shift();
    if (waiter) waiter(message);
    else inbox.messages.push(message);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("WebSocket did not open in time")), WAIT_MS);
    ws.once("open", () => {
      clearTimeout(timer);
      resolve(ws);
    });
    ws.once("unexpected-response", (_req, res: IncomingMessage) => {
      clearTimeout(timer);
      let body = "";
      res.on("data", (chunk: Buffer) => (body += chunk.toString()));
      res.on("end", () => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode} ${body}`), { status: res.statusCode, body, headers: res.headers })));
    });
    ws.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

function loopbackLookup(_host: string, options: unknown, callback: unknown): void {
  const cb = (typeof options === "function" ? options : callback) as (...args: unknown[]) => void;
  if (typeof options === "object" && options !== null && (options as { all?: boolean }).all) cb(null, [{ address: "127.0.0.1", family: 4 }]);
  else cb(null, "127.0.0.1", 4);
}

/** The upgrade's refusal: status, body and headers, or a failure when the upgrade succeeded. */
export async function refusedUpgrade(t: TestContext, url: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  try {
    await connectWs(t, url);
  } catch (error) {
    const refused = error as { status?: number; body?: string; headers?: Record<string, unknown> };
    if (refused.status !== undefined) return { status: refused.status, body: refused.body ?? "", headers: refused.headers ?? {} };
    throw error;
  }
  throw new Error("the upgrade was accepted");
}

interface Message {
  data: Buffer;
  isBinary: boolean;
}

interface Inbox {
  messages: Message[];
  waiters: ((message: Message) => void)[];
}

const inboxes = new WeakMap<WebSocket, Inbox>();

/** The next message not yet taken, received or to come (sockets opened with `connectWs`). */
export function nextMessage(ws: WebSocket): Promise<Message> {
  const inbox = inboxes.get(ws);
  if (!inbox) throw new Error("nextMessage needs a socket opened with connectWs");
  const queued = inbox.messages.shift();
  if (queued) return Promise.resolve(queued);
  return new Promise((resolve, reject) => {
    const waiter = (message: Message) => {
      clearTimeout(timer);
      resolve(message);
    };
    const timer = setTimeout(() => {
      inbox.waiters.splice(inbox.waiters.indexOf(waiter), 1);
      reject(new Error("no message in time"));
    }, WAIT_MS);
    inbox.waiters.push(waiter);
  });
}

export async function roundTrip(ws: WebSocket, text: string): Promise<string> {
  const reply = nextMessage(ws);
  ws.send(text);
  return (await reply).data.toString();
}

/** Resolves with the close code and reason once the socket closes (whoever closed it). */
export function closed(ws: WebSocket, waitMs = WAIT_MS): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve({ code: -1, reason: "already closed" });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the socket did not close in time")), waitMs);
    ws.once("close", (code, reason) => {
      clearTimeout(timer);
      resolve({ code, reason: reason.toString() });
    });
    ws.on("error", () => {});
  });
}
