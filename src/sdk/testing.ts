/**
 * `callFunction`: a function answering one request in this process, with no
 * platform, for unit tests. The same code a container runs (params
 * validated, `enter`, the endpoint's validation and encoding, `exit`), so a
 * test of an endpoint's 422 or of its JSON means what it says.
 */
import { isFunctionDefinition, type FunctionDefinition } from "./contract.js";

export interface CallFunctionOptions {
  /** A parametrized function's params, validated by its schema (as a container's would be). */
  params?: Record<string, unknown>;
}

/**
 * Runs `enter`, answers `request` (a URL or a `Request`) and runs `exit`.
 * Simple endpoints and `fetchApp` functions only: a `nodeApp` or `webServer`
 * needs a real server, `berth serve`.
 *
 * @example
 * const response = await callFunction(square, "http://test/?x=4");
 * assert.deepEqual(await response.json(), { square: 16 });
 */
export async function callFunction(fn: FunctionDefinition, request: Request | string, options: CallFunctionOptions = {}): Promise<Response> {
  if (!isFunctionDefinition(fn)) throw new TypeError("callFunction takes a function exported by your app, e.g. callFunction(square, url)");
  const started = await fn.start({ params: options.params ?? {} });
  try {
    const { handler } = started;
    if (handler.type !== "fetch") {
      throw new TypeError("callFunction answers with simple endpoints and fetchApp functions; run nodeApp and webServer functions with `berth serve`");
    }
    return await handler.fetch(typeof request === "string" ? new Request(request) : request);
  } finally {
    await started.stop();
  }
}
