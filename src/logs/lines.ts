/**
 * Cuts one stream of a container's output (its stdout or its stderr) into
 * lines, with bounded memory whatever the container writes: a line longer
 * than `maxBytes` is let go in pieces of `maxBytes`, each but the last
 * marked `continued`, so a 150 MB line without a newline costs 16 KiB here,
 * not 150 MB. Bytes are decoded as UTF-8 across chunk and piece boundaries
 * (a character cut in two is completed from the next piece; invalid bytes
 * become U+FFFD). A line that starts with the agent's request label
 * (agent/protocol.ts) gives up the label and keeps the request id, for
 * every piece of it.
 */
import { StringDecoder } from "node:string_decoder";
import { REQUEST_ID_PATTERN, REQUEST_LABEL_END, REQUEST_LABEL_START } from "../agent/protocol.js";

/** The line cap: longer lines are split into pieces of this many bytes. */
export const MAX_LINE_BYTES = 16 * 1024;

/** Longest label the splitter looks for: the marks and a 64-character id. */
const MAX_LABEL_LENGTH = 66;

/** Small buffers a line is built from before they are joined, so a byte-at-a-time writer costs no more than a bulk one. */
const MAX_PENDING_BUFFERS = 64;

export interface LinePiece {
  text: string;
  /** The request the line was written in, from the agent's label. */
  requestId: string | undefined;
  /** More of the same line follows in the next piece. */
  continued: boolean;
}

export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly decoder = new StringDecoder("utf8");
  /** Set between the pieces of one long line. */
  private midLine = false;
  private lineRequestId: string | undefined;

  constructor(
    private readonly emit: (piece: LinePiece) => void,
    /** Bytes of the longest piece. Default MAX_LINE_BYTES. */
    private readonly maxBytes = MAX_LINE_BYTES,
  ) {}

  write(chunk: Uint8Array): void {
    for (let start = 0; start < chunk.length; ) {
      const newline = chunk.indexOf(0x0a, start);
      this.append(chunk.subarray(start, newline === -1 ? chunk.length : newline));
      if (newline === -1) return;
      this.emitPiece(false);
      start = newline + 1;
    }
  }

  /** The stream ended: a last line without a newline is let go. */
  end(): void {
    if (this.pendingBytes > 0 || this.midLine) this.emitPiece(false);
  }

  private append(bytes: Uint8Array): void {
    while (this.pendingBytes + bytes.length > this.maxBytes) {
      const take = this.maxBytes - this.pendingBytes;
      // Joined and decoded at once by emitPiece, so the chunk is not pinned.
      this.pending.push(Buffer.from(bytes.buffer, bytes.byteOffset, take));
      this.pendingBytes += take;
      bytes = bytes.subarray(take);
      this.emitPiece(true);
    }
    if (bytes.length === 0) return;
    // A copy: a subarray would pin the whole chunk (maybe 64 KiB) for a few bytes of an unfinished line.
    this.pending.push(Buffer.from(bytes));
    this.pendingBytes += bytes.length;
    if (this.pending.length > MAX_PENDING_BUFFERS) this.pending = [Buffer.concat(this.pending, this.pendingBytes)];
  }

  private emitPiece(continued: boolean): void {
    const bytes = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    let text = this.decoder.write(bytes);
    if (!this.midLine) {
      const label = readLabel(text);
      this.lineRequestId = label?.requestId;
      if (label) text = text.slice(label.length);
    }
    if (!continued) {
      text += this.decoder.end();
      if (text.endsWith("\r")) text = text.slice(0, -1);
    }
    this.emit({ text, requestId: this.lineRequestId, continued });
    this.midLine = continued;
    if (!continued) this.lineRequestId = undefined;
  }
}

/** The agent's request label at the start of `text`, if there is a well-formed one. */
export function readLabel(text: string): { requestId: string; length: number } | undefined {
  if (!text.startsWith(REQUEST_LABEL_START)) return undefined;
  const end = text.indexOf(REQUEST_LABEL_END, 1);
  if (end === -1 || end > MAX_LABEL_LENGTH) return undefined;
  const requestId = text.slice(1, end);
  return REQUEST_ID_PATTERN.test(requestId) ? { requestId, length: end + 1 } : undefined;
}
