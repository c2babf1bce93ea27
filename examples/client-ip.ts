// The source document's client IP example: the address of the client making
// the request, as the gateway saw it (or as a trusted proxy reported it, with
// `berth server --trust-proxy`).
//   npx berth serve examples/client-ip.ts
//   curl http://local--client-ip-get-ip-address-dev.localhost:8600/   → "Your IP address is 127.0.0.1"
import { App } from "berthjs";

const app = new App("client-ip");

export const getIpAddress = app.function().webEndpoint(({ clientIp }) => `Your IP address is ${clientIp}`);

// Whole apps read the standard header: its first entry is the client.
export const headers = app.function().fetchApp(() => ({
  fetch: (request: Request) => Response.json({ forwardedFor: request.headers.get("x-forwarded-for") }),
}));
