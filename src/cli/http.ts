/**
 * The CLI's HTTP requests, on `node:http`. Node's global `fetch` loads its
 * whole HTTP stack (undici, plus web streams) on first use: about 100 ms
 * of a `berth app list` that should take well under 300 ms in all. Only
 * what the control API client needs: a status, headers, a body read
 * whole, as JSON or as a stream of chunks.
 */
import type { IncomingMessage, RequestOptions } from "node:http";

export interface HttpInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Aborts the request, or the reading of its answer. */
  signal?: AbortSignal | undefined;
}

export interface HttpAnswer {
  status: number;
  /** 2xx. */
  ok: boolean;
  headers: { get(name: string): string | null };
  /** The body, chunk by chunk, for streamed answers (NDJSON). */
  body: AsyncIterable<Uint8Array>;
  text(): Promise<string>;
  json(): Promise<unknown>;
  /** Drops the rest of the body. */
  cancel(): void;
}

/** Sends one request; rejects only when no answer arrives (refused, reset, aborted), like `fetch`. */
export async function httpRequest(url: string, init: HttpInit = {}): Promise<HttpAnswer> {
  const target = new URL(url);
  const { request } = target.protocol === "https:" ? await import("node:https") : await import("node:http");
  const headers: Record<string, string | number> = { ...init.headers };
  if (init.body !== undefined) headers["content-length"] = Buffer.byteLength(init.body);
  // No connection is kept for later: a kept-alive socket would hold a finished command open until the server closes it.
  const options: RequestOptions = { method: init.method ?? "GET", headers, agent: false };
  if (init.signal) options.signal = init.signal;
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const outgoing = request(target, options, resolve);
    outgoing.on("error", reject);
    outgoing.end(init.body);
  });
  const text = async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of response) chunks.push(Buffer.from(chunk));
    return Buffer.concat(chunks).toString("utf8");
  };
  const status = response.statusCode ?? 0;
  return {
    status,
    ok: status >= 200 && status < 300,
    headers: {
      get(name) {
        const value = response.headers[name.toLowerCase()];
        return value === undefined ? null : Array.isArray(value) ? value.join(", ") : value;
      },
    },
    body: response,
    text,
    json: async () => JSON.parse(await text()),
    cancel: () => response.destroy(),
  };
}
