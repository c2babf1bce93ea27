/**
 * Reading the control API's streamed answers (deploy progress, logs): one
 * JSON value per line, parsed as the lines arrive, whatever the HTTP client.
 */

/** The lines of an NDJSON body as they arrive, each parsed as the route's wire type `T`. */
export async function* ndjsonLines<T>(body: AsyncIterable<Uint8Array> | null | undefined): AsyncGenerator<T> {
  if (!body) return;
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of body) {
    buffered += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      // The wire type is the route's contract: the server (or a peer node) writes each line as a T.
      if (line) yield JSON.parse(line) as T;
    }
  }
}
