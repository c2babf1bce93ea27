// The hello functions of the benchmarks. `node` serves the very handler the
// bare baseline runs (hello-handler.ts); `hello` is the simple endpoint that
// gives the same answer through the SDK. Both take every input in one
// container (maxInputs 256). `cold` retires its container 50 ms after its
// last input, so that the cold-start benchmark can make every request a
// cold one.
import { App } from "berthjs";
import { hello as handler } from "./hello-handler.js";

const app = new App("bench");

export const hello = app.function({ concurrency: { maxInputs: 256 } }).webEndpoint(() => "Hello world!");

export const node = app.function({ concurrency: { maxInputs: 256 } }).nodeApp(() => handler);

export const cold = app.function({ scaledownWindow: 0.05 }).webEndpoint(() => "Hello world!");

// `slow` takes one input at a time and keeps its containers: n requests at once leave n idle containers (bench/sandbox.ts).
export const slow = app.function({ scaledownWindow: 600 }).webEndpoint(async () => {
  await new Promise((resolve) => setTimeout(resolve, 500));
  return "Hello world!";
});
