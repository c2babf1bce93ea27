/**
 * The dashboard's client of the control API, in-process: each call is a
 * `Request` handed to the API's own fetch handler with the signed-in
 * credential as its bearer token, exactly what the CLI sends over HTTP. So
 * an action in the dashboard is checked, validated and answered by the same
 * code as `berth token revoke` or `berth app rollback`, and an error comes
 * back as the error table's `BerthError`.
 */
import { BerthError } from "../errors/codes.js";
import type { DeployResult, ProgressLine } from "../wire/control-api.js";
import type { ControlApi } from "./sources.js";

export class ControlClient {
  constructor(
    private readonly api: ControlApi,
    private readonly credential: string,
    /** The browser's request (node:http), so the API's per-address limits see the browser's address. */
    private readonly incoming?: unknown,
  ) {}

  /** A JSON route: its answer, or the `BerthError` it answered. */
  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.send(method, path, body);
    const parsed: unknown = await response.json().catch(() => undefined);
    if (!response.ok) throw BerthError.fromResponse(response.status, parsed);
    return parsed as T;
  }

  /** A deploy-like route (rollback): reads its NDJSON progress to the result line, or throws the error line. */
  async progress(path: string, body: unknown): Promise<DeployResult> {
    const response = await this.send("POST", path, body);
    const text = await response.text();
    if (!response.ok) throw BerthError.fromResponse(response.status, safeJson(text));
    for (const line of text.split("\n")) {
      const parsed = safeJson(line) as ProgressLine | undefined;
      if (parsed?.type === "result") return parsed;
      if (parsed?.type === "error") throw BerthError.fromResponse(500, parsed);
    }
    throw new BerthError("internal_error", "the control API ended without a result");
  }

  /** A streaming GET (a log follow): the answer as it comes; cancelling its body ends the request inside the API. */
  stream(path: string): Promise<Response> {
    return this.send("GET", path, undefined);
  }

  private async send(method: string, path: string, body: unknown): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.credential}` };
    const json = body === undefined ? undefined : JSON.stringify(body);
    if (json !== undefined) {
      headers["content-type"] = "application/json";
      // The API reads a body only when its length is declared (or it is chunked), as it would arrive over HTTP.
      headers["content-length"] = String(Buffer.byteLength(json));
    }
    const request = new Request(`http://localhost${path}`, { method, headers, body: json });
    return this.api(request, { incoming: this.incoming });
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
