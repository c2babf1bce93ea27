// Calling a function with plain fetch from Node. Node's resolver does not know *.localhost (curl and browsers
// do), and fetch drops a Host header you set, so "connect to 127.0.0.1 and say Host: ..." is not possible with
// it. undici's fetch (npm install undici) takes a dispatcher whose connections resolve every host to 127.0.0.1.
//   npx berth serve examples/square.ts
//   npx tsx examples/call-with-fetch.ts 'http://local--square-square-dev.localhost:8600/?x=42'   → 200 {"square":1764}
import { Agent, fetch } from "undici";

const local = new Agent({
  connect: {
    lookup: (_hostname, options, callback) => {
      if (options.all) callback(null, [{ address: "127.0.0.1", family: 4 }]);
      else callback(null, "127.0.0.1", 4);
    },
  },
});

const url = process.argv[2];
if (!url) throw new Error("usage: tsx examples/call-with-fetch.ts <function URL>");
const response = await fetch(url, { dispatcher: local });
console.log(response.status, await response.text());
