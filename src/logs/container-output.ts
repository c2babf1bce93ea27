/**
 * One container's output on its way to the app's log: its stdout and stderr
 * bytes are cut into bounded lines (lines.ts), secrets are masked, and each
 * line becomes an entry stamped with the time, app, function, container,
 * stream and, for lines written while a request was served, its id.
 */
import type { LogEntry } from "../wire/control-api.js";
import { LineSplitter, type LinePiece } from "./lines.js";

export type OutputStream = "stdout" | "stderr";

/** Masks secrets (control/redact.ts builds one per function from the values it is given). */
export interface Redaction {
  (line: string): string;
  /** How much of the start of an unfinished line can be masked and let go now (the rest waits for the next piece). */
  safeCut(text: string): number;
}

export interface ContainerOutputOptions {
  app: string;
  function: string;
  container: string;
  redact: Redaction;
  /** Wall-clock milliseconds since the epoch. */
  now: () => number;
  write: (entry: LogEntry) => void;
}

export class ContainerOutput {
  private readonly splitters: Record<OutputStream, LineSplitter>;
  /** The held-back end of an unfinished long line, per stream (see `Redaction.safeCut`). */
  private readonly carry: Record<OutputStream, string> = { stdout: "", stderr: "" };

  constructor(private readonly options: ContainerOutputOptions) {
    this.splitters = {
      stdout: new LineSplitter((piece) => this.onPiece("stdout", piece)),
      stderr: new LineSplitter((piece) => this.onPiece("stderr", piece)),
    };
  }

  write(chunk: Uint8Array, stream: OutputStream): void {
    this.splitters[stream].write(chunk);
  }

  /** The stream ended: its last line is let go even without a newline. */
  end(stream: OutputStream): void {
    this.splitters[stream].end();
  }

  private onPiece(stream: OutputStream, piece: LinePiece): void {
    let text = this.carry[stream] + piece.text;
    this.carry[stream] = "";
    if (piece.continued) {
      let cut = this.options.redact.safeCut(text);
      // Never between the halves of a surrogate pair.
      if (cut > 0 && cut < text.length && isHighSurrogate(text.charCodeAt(cut - 1))) cut -= 1;
      this.carry[stream] = text.slice(cut);
      text = text.slice(0, cut);
      if (text.length === 0) return;
    }
    // `time` first: the stores read it from the start of the JSON without parsing the line.
    const entry: LogEntry = {
      time: this.options.now(),
      app: this.options.app,
      function: this.options.function,
      container: this.options.container,
      stream,
      line: this.options.redact(text),
    };
    if (piece.requestId !== undefined) entry.requestId = piece.requestId;
    if (piece.continued) entry.continued = true;
    this.options.write(entry);
  }
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
