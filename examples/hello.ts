// The source document's first example: a function that says hello.
//   npx berth serve examples/hello.ts
//   curl http://local--hello-f-dev.localhost:8600/    → "Hello world!"
import { App, Image } from "berthjs";

const app = new App("hello", { image: Image.debianSlim() });

export const f = app.function().webEndpoint(() => "Hello world!");
