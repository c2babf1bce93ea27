// The document's parametrized `Server.files`: each distinct ?root=... gets
// its own autoscaled pool of containers, each running a file server rooted
// there. Values arrive as query parameters, validated by the schema. No
// fixed port: each container gets a free one in `port` (and $PORT), so pools
// for several roots run side by side even under the process runtime, whose
// containers share the host's network.
//   npx berth serve examples/server-files.ts
//   curl http://local--server-files-dev.localhost:8600/               # root "." (the default)
//   curl 'http://local--server-files-dev.localhost:8600/?root=.cache' # another pool
//   curl 'http://local--server-files-dev.localhost:8600/?root=%2F'    # don't forget to URL-encode!
import { spawn } from "node:child_process";
import { App, Image } from "berthjs";
import { z } from "zod";

const app = new App("server", { image: Image.debianSlim().aptInstall("python3") });

export const files = app
  .function({ concurrency: { maxInputs: 1000 }, params: z.object({ root: z.string().default(".") }) })
  .webServer({ startupTimeout: 10 }, ({ params, port }) => {
    spawn("python3", ["-m", "http.server", "--bind", "0.0.0.0", "-d", params.root, String(port)], { stdio: "inherit" });
  });
