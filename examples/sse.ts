// Server-sent events: a response streamed event by event, as the handler writes them; the gateway passes
// each chunk on at once (nothing is buffered), and a client that goes away cancels the stream.
//   npx berth serve examples/sse.ts
//   curl -N 'http://local--sse-ticks-dev.localhost:8600/?count=5&every=500'
//   (in a browser: new EventSource(url).onmessage = (e) => console.log(e.data))
import { App } from "berthjs";
import { z } from "zod";

const app = new App("sse");

export const ticks = app.function({ concurrency: { maxInputs: 100 } }).webEndpoint(
  { query: z.object({ count: z.coerce.number().int().min(1).max(1000).default(10), every: z.coerce.number().int().min(1).max(60_000).default(1000) }) },
  ({ query, request }) => {
    const encoder = new TextEncoder();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        let sent = 0;
        const tick = () => {
          sent += 1;
          controller.enqueue(encoder.encode(`id: ${sent}\nevent: tick\ndata: ${JSON.stringify({ n: sent, at: new Date().toISOString() })}\n\n`));
          if (sent === query.count) return controller.close();
          timer = setTimeout(tick, query.every);
        };
        tick();
        request.signal.addEventListener("abort", () => clearTimeout(timer));
      },
      cancel: () => clearTimeout(timer),
    });
    return new Response(stream, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
  },
);
