/**
 * The Response a simple endpoint builds from a plain value (JSON, its own
 * errors). A web `Response` with a body makes a `ReadableStream` as it is
 * constructed, and the agent then has to read that stream back: on Node 20
 * that was most of the agent's JavaScript time on the hello benchmark
 * (makeTransferable, webstreams and undici's body code in a CPU profile).
 * This one is made without a body and keeps its text under `PLAIN_BODY`,
 * where the agent (agent/fetch-listener.ts) takes it; anyone else who reads
 * the body gets an ordinary Response's body, built on first use. The agent's
 * CPU per hello request went from 33 to 18 µs (then `bench/cpu.ts`, now the CPU columns of `npm run bench -- throughput`).
 */
import { PLAIN_BODY } from "./contract.js";

export class PlainResponse extends Response {
  readonly [PLAIN_BODY]: string;
  #full: Response | undefined;

  constructor(text: string, init: { status?: number; headers: Record<string, string> }) {
    super(null, init);
    this[PLAIN_BODY] = text;
  }

  /** The same response with its body, made once, on the first read of the body. */
  private full(): Response {
    return (this.#full ??= new Response(this[PLAIN_BODY], { status: this.status, statusText: this.statusText, headers: this.headers }));
  }

  override get body(): Response["body"] {
    return this.full().body;
  }

  override get bodyUsed(): boolean {
    return this.#full?.bodyUsed ?? false;
  }

  override arrayBuffer(): Promise<ArrayBuffer> {
    return this.full().arrayBuffer();
  }

  override bytes(): Promise<Uint8Array<ArrayBuffer>> {
    return this.full().bytes();
  }

  override blob(): Promise<Blob> {
    return this.full().blob();
  }

  override formData(): Promise<FormData> {
    return this.full().formData();
  }

  override json(): Promise<unknown> {
    return this.full().json();
  }

  override text(): Promise<string> {
    return this.full().text();
  }

  override clone(): Response {
    return this.full().clone();
  }
}
