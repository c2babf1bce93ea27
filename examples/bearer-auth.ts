// The source document's token-based authentication: a bearer token kept in a
// named secret, checked by the function itself.
//   npx berth secret create my-web-auth-token AUTH_TOKEN=secret-random-token
//   npx berth serve examples/bearer-auth.ts
//   curl -i http://local--auth-example-f-dev.localhost:8600/                 → 401, WWW-Authenticate: Bearer
//   curl -H "Authorization: Bearer secret-random-token" \
//     http://local--auth-example-f-dev.localhost:8600/                       → "success!"
import { timingSafeEqual } from "node:crypto";
import { App, Secret } from "berthjs";

const app = new App("auth-example");

export const f = app
  .function({ secrets: [Secret.fromName("my-web-auth-token", { requiredKeys: ["AUTH_TOKEN"] })] })
  .webEndpoint(({ request }) => {
    const header = request.headers.get("authorization") ?? "";
    const presented = Buffer.from(header.startsWith("Bearer ") ? header.slice(7) : "");
    const expected = Buffer.from(process.env.AUTH_TOKEN ?? "");
    if (expected.length === 0 || presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
      return Response.json(
        { detail: "Incorrect bearer token" },
        { status: 401, headers: { "www-authenticate": "Bearer" } },
      );
    }
    return "success!";
  });
