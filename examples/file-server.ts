// The document's `web_server` example: any process that serves HTTP on a
// port. The platform waits until port 8000 accepts connections, then proxies
// to it. Here Python's file server shares the container's root directory;
// python3 comes from the image (Debian's package, installed once and cached).
//   npx berth serve examples/file-server.ts
//   curl http://local--file-server-my-file-server-dev.localhost:8600/       → a directory listing of /
import { spawn } from "node:child_process";
import { App, Image } from "berthjs";

const app = new App("file-server", { image: Image.debianSlim().aptInstall("python3") });

export const myFileServer = app
  .function({ concurrency: { maxInputs: 1000 } })
  .webServer({ port: 8000, startupTimeout: 10 }, () => {
    spawn("python3", ["-m", "http.server", "--bind", "0.0.0.0", "-d", "/", "8000"], { stdio: "inherit" });
  });
