// Proxy auth: the gateway lets a request through only with a proxy-auth token's two headers; without them
// it answers 401 and no container starts. `Berth-Key`/`Berth-Secret` never reach the function.
//   npx berth serve examples/proxy-auth.ts
//   npx berth token create --proxy          → Berth-Key: wk-...  Berth-Secret: ws-...
//   curl -H "Berth-Key: wk-..." -H "Berth-Secret: ws-..." http://local--proxy-auth-report-dev.localhost:8600/
import { App } from "berthjs";

const app = new App("proxy-auth");

export const report = app.function().webEndpoint({ requiresProxyAuth: true }, ({ request }) => ({
  secretReport: "for authorised callers only",
  sawCredentials: request.headers.has("berth-key") || request.headers.has("berth-secret"),
}));

// A whole app can demand it too.
export const api = app.function().fetchApp({ requiresProxyAuth: true }, () => ({
  fetch: (request: Request) => new Response(`${request.method} ${new URL(request.url).pathname}: authorised\n`),
}));
