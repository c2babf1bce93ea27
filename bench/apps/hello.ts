// The hello endpoints used by the benchmarks. `hello` takes every input in
// one container (maxInputs 256); `cold` retires its container 50 ms after
// its last input, so that the cold-start benchmark can make every request a
// cold one.
import { App } from "berthjs";

const app = new App("bench");

export const hello = app.function({ concurrency: { maxInputs: 256 } }).webEndpoint(() => "Hello world!");

export const cold = app.function({ scaledownWindow: 0.05 }).webEndpoint(() => "Hello world!");
