/**
 * Serves a fetch handler (`(Request) => Response`) on node:http through
 * @hono/node-server, except for the responses a simple endpoint makes from
 * plain values (sdk/plain-response.ts): those carry their body as a string,
 * which is written here directly instead of being streamed out of a web
 * `ReadableStream`.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { getRequestListener } from "@hono/node-server";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";
import { PLAIN_BODY, RAW_HEADERS } from "../sdk/contract.js";

export function fetchListener(fetch: (request: Request) => Response | Promise<Response>): RequestListener {
  return getRequestListener(
    // Synchronous when `fetch` is (a simple endpoint's usual answer): no promise of ours on the request's way.
    (request, env) => {
      (request as { [RAW_HEADERS]?: string[] })[RAW_HEADERS] = (env.incoming as IncomingMessage).rawHeaders;
      const outgoing = env.outgoing as ServerResponse;
      const response = fetch(request);
      return response instanceof Promise ? response.then((answer) => writePlain(answer, outgoing)) : writePlain(response, outgoing);
    },
    // As on @hono/node-server's own `serve`: the container's global Request and Response become the adapter's
    // light ones (subclasses in all but name), so a `new Response("text")` is written out as text instead of
    // through a web ReadableStream (~40% of a Hono app's CPU per request in the agent, measured with --cpu-prof).
    { overrideGlobalObjects: true },
  );
}

/** Writes a simple endpoint's plain answer itself; any other response goes back to the adapter. */
function writePlain(response: Response, outgoing: ServerResponse): Response {
  const text = (response as { [PLAIN_BODY]?: string })[PLAIN_BODY];
  if (text === undefined) return response;
  const headers: string[] = [];
  for (const [name, value] of response.headers) headers.push(name, value);
  headers.push("content-length", String(Buffer.byteLength(text)));
  outgoing.writeHead(response.status, headers);
  outgoing.end(text);
  // Tells the adapter the answer is already written.
  return RESPONSE_ALREADY_SENT;
}
