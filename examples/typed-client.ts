// Calling functions from TypeScript with the typed client: the types come from the app file itself (the
// query and body schemas, the method, what the handler returns), so a wrong call is a type error.
//   npx berth server &                                 (or two `berth serve` sessions)
//   npx berth deploy examples/square.ts && npx berth deploy examples/web-demo.ts
//   npx tsx examples/typed-client.ts http://local--square-square.localhost:8600/ http://local--web-demo-f.localhost:8600/
//
// Node's resolver does not know *.localhost (curl and browsers do), so this gives the client undici's fetch
// with a dispatcher that connects every host to 127.0.0.1. Against a server with a real domain
// (`berth server --public-url https://fns.example.com`) the global fetch is all it needs: endpoint(url).
import { BerthError, endpoint, issuesOf } from "berthjs/client";
import { Agent, fetch } from "undici";

const local = new Agent({
  connect: {
    lookup: (_hostname, options, callback) => {
      if (options.all) callback(null, [{ address: "127.0.0.1", family: 4 }]);
      else callback(null, "127.0.0.1", 4);
    },
  },
});
const localFetch = (url: string, init: RequestInit) => fetch(url, { ...init, dispatcher: local } as never) as unknown as Promise<Response>;

const [squareUrl, greetUrl] = process.argv.slice(2);
if (!squareUrl || !greetUrl) throw new Error("usage: tsx examples/typed-client.ts <square's URL> <web-demo's URL>");

const square = endpoint<typeof import("./square.js").square>(squareUrl, { fetch: localFetch });
const greet = endpoint<typeof import("./web-demo.js").f>(greetUrl, { fetch: localFetch });

const { square: n } = await square.get({ x: 42 }); // n: number
console.log(`square(42) = ${n}`);

const page = await greet.post({ name: "Erik", qty: 10 }); // greet returns its own Response: handed back as it is
console.log(`greet: ${page.status} ${await page.text()}`);

try {
  await square.get({ x: 1.5 }); // the endpoint validates (the client does not): 422
} catch (error) {
  if (!(error instanceof BerthError)) throw error;
  console.log(`square(1.5): ${error.code}: ${issuesOf(error).map((issue) => `${issue.loc.join(".")} ${issue.message}`).join("; ")}`);
}
