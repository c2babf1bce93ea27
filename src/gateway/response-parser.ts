/**
 * Reads what a container sends back on one connection: a strict,
 * incremental HTTP/1.1 response parser with no I/O. Bytes go in with
 * `push`, the end of the connection with `end`; the head, body pieces and
 * the end of each response come out through a `ResponseHandler`.
 *
 * A container is as untrusted as a client, so everything the gateway later
 * hands to Node's `ServerResponse` is checked here first, at least as
 * strictly as `writeHead` checks it (a value it would throw on must never
 * reach it), and every framing ambiguity that could desynchronise the
 * connection is refused rather than guessed (RFC 9112 §6.3, §11.2):
 *
 * - status line: `HTTP/1.1` or `HTTP/1.0`, a status of 100-599, a reason
 *   phrase without control characters; lines end in CRLF (no bare LF or CR);
 * - fields: a token name directly followed by `:` (no space, no empty
 *   name), a value of visible characters, spaces, tabs and obs-text only;
 *   no obs-fold;
 * - framing: one Content-Length of digits; Transfer-Encoding only `chunked`
 *   and never with Content-Length or in an HTTP/1.0 response; well-formed
 *   chunk sizes, CRLF after each chunk's data, a bounded trailer section;
 * - size: the head (status line and fields) at most 64 KiB.
 *
 * Any violation ends the parse with a `ResponseError` saying what was wrong
 * (for the container's log); the connection cannot be trusted afterwards.
 * Bytes that arrive while no request is outstanding (after the end of a
 * response, or before the next request) are a violation too: they could
 * only be taken for the next request's answer.
 */

/** A response head larger than this is a broken upstream, not a response (bytes, status line and fields). */
export const MAX_HEAD_BYTES = 64 * 1024;
/** A chunk-size line (size and extensions) longer than this is refused. */
const MAX_CHUNK_LINE_BYTES = 4 * 1024;
/** The trailer section after the last chunk is read and dropped, up to this many bytes. */
const MAX_TRAILER_BYTES = 64 * 1024;
/** Hex digits of a chunk size: 13 keep it below 2^52, an exact integer. */
const MAX_CHUNK_SIZE_DIGITS = 13;
/** Digits of a Content-Length: 15 keep it below 2^53. */
const MAX_LENGTH_DIGITS = 15;

export interface ResponseHead {
  status: number;
  /** Field names and values, alternating, in the order received; values trimmed; hop-by-hop fields removed. */
  headers: string[];
}

export interface ResponseHandler {
  /** The final (non-1xx) head; 1xx interim responses are read and dropped. */
  onHead(head: ResponseHead): void;
  /** A piece of the body: a view into the pushed buffer, valid only during the call. */
  onBody(chunk: Buffer): void;
  /** The response is complete. `keepAlive`: the connection may carry another request. */
  onComplete(keepAlive: boolean): void;
}

/** A container's response broke HTTP/1.1; `message` says how, for the container's log. */
export class ResponseError extends Error {
  override readonly name = "ResponseError";
}

const enum State {
  /** No request outstanding. */
  Idle,
  /** Reading a status line and fields. */
  Head,
  /** A body of `remaining` bytes. */
  Length,
  /** A body that ends when the connection does. */
  UntilClose,
  /** Chunked: reading a chunk-size line. */
  ChunkSize,
  /** Chunked: `remaining` bytes of chunk data. */
  ChunkData,
  /** Chunked: the CRLF after a chunk's data (`crlfSeen` bytes of it read). */
  ChunkEnd,
  /** Chunked: trailer fields, up to an empty line. */
  Trailers,
  /** Failed or abandoned: nothing more is read. */
  Dead,
}

/** What a byte may be: bit 1 a token character (field names), bit 2 a field-value character. */
const TOKEN = 1;
const VALUE = 2;
const CHAR_CLASS = new Uint8Array(256);
for (let code = 0x21; code <= 0x7e; code += 1) CHAR_CLASS[code] = VALUE;
for (let code = 0x80; code <= 0xff; code += 1) CHAR_CLASS[code] = VALUE;
CHAR_CLASS[0x20] = VALUE;
CHAR_CLASS[0x09] = VALUE;
for (const char of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") CHAR_CLASS[char.charCodeAt(0)]! |= TOKEN;

/** Whether `name` may be a field name (RFC 9110 §5.1: a token). */
export function isFieldName(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i += 1) {
    const code = name.charCodeAt(i);
    if (code > 0xff || (CHAR_CLASS[code]! & TOKEN) === 0) return false;
  }
  return true;
}

/** Whether `value` may be a field value or reason phrase: visible characters, spaces, tabs and obs-text only. */
export function isFieldValue(value: string): boolean {
  for (let i = 0; i < value.length; i += 1) {
    const code = value.charCodeAt(i);
    if (code > 0xff || (CHAR_CLASS[code]! & VALUE) === 0) return false;
  }
  return true;
}

const CR = 0x0d;
const LF = 0x0a;
/** The empty line that ends a head. */
const HEAD_END = Buffer.from("\r\n\r\n");

export class ResponseParser {
  private state = State.Idle;
  /** The request was HEAD: its response has no body whatever its fields say. */
  private noBody = false;
  /**
   * The start of a line (head, chunk size, trailer) that has not ended yet,
   * in pieces as they arrived; joined once its LF arrives, so a line
   * trickled in byte by byte costs linear, not quadratic, copying.
   */
  private partial: Buffer[] | null = null;
  private partialBytes = 0;
  /** Bytes of the current head or trailer section so far, against their limits. */
  private sectionBytes = 0;
  private remaining = 0;
  private crlfSeen = 0;
  private keepAlive = true;
  /** The violation that ended the parse, for the line readers' FAILED result. */
  private failure: ResponseError | null = null;
  // The head being read: its status and fields so far.
  private status = 0;
  private http10 = false;
  private headers: string[] = [];
  private contentLength = -1;
  private transferEncoding: string | null = null;
  /** Field names a `Connection` header lists, lowercased: hop-by-hop for this response only. */
  private connectionFields: string[] | null = null;

  constructor(private readonly handler: ResponseHandler) {}

  /** A request was sent: what arrives next is its response. `noBody`: it was a HEAD request. */
  start(noBody: boolean): void {
    this.state = State.Head;
    this.noBody = noBody;
    this.keepAlive = true;
    this.resetHead();
  }

  /** Stops reading for good (the connection is being closed). */
  abandon(): void {
    this.state = State.Dead;
    this.partial = null;
  }

  /**
   * Reads bytes from the container. Returns null, or the violation that
   * ended the parse (the handler then hears nothing more of this connection).
   * `chunk` need only be valid during the call: what is kept is copied.
   */
  push(chunk: Buffer): ResponseError | null {
    let offset = 0;
    if (this.partial) {
      const lf = chunk.indexOf(LF);
      if (lf < 0) {
        if (this.partialBytes + chunk.length > this.lineLimit()) return this.fail(this.tooLarge());
        this.partial.push(Buffer.from(chunk));
        this.partialBytes += chunk.length;
        return null;
      }
      const line = Buffer.concat([...this.partial, chunk.subarray(0, lf + 1)]);
      this.partial = null;
      if (this.readLine(line, 0) === FAILED) return this.failure;
      offset = lf + 1;
    }
    while (offset < chunk.length) {
      switch (this.state) {
        case State.Dead:
          return null;
        case State.Idle:
          return this.fail("it sent bytes with no request outstanding (after the end of the previous response, or before the next request)");
        case State.Head: {
          // The common case is a whole head in this chunk: one search and one string for all its lines. Else line by line.
          let next = this.status === 0 ? this.readWholeHead(chunk, offset) : NEED_MORE;
          if (next === NEED_MORE) next = this.readLine(chunk, offset);
          if (next === FAILED) return this.failure;
          if (next === NEED_MORE) return null;
          offset = next;
          break;
        }
        case State.ChunkSize:
        case State.Trailers: {
          const next = this.readLine(chunk, offset);
          if (next === FAILED) return this.failure;
          if (next === NEED_MORE) return null;
          offset = next;
          break;
        }
        case State.Length: {
          const take = Math.min(this.remaining, chunk.length - offset);
          this.remaining -= take;
          this.handler.onBody(offset === 0 && take === chunk.length ? chunk : chunk.subarray(offset, offset + take));
          offset += take;
          if (this.remaining === 0 && this.state === State.Length) this.complete();
          break;
        }
        case State.UntilClose:
          this.handler.onBody(offset === 0 ? chunk : chunk.subarray(offset));
          return null;
        case State.ChunkData: {
          const take = Math.min(this.remaining, chunk.length - offset);
          this.remaining -= take;
          this.handler.onBody(chunk.subarray(offset, offset + take));
          offset += take;
          if (this.remaining === 0 && this.state === State.ChunkData) {
            this.state = State.ChunkEnd;
            this.crlfSeen = 0;
          }
          break;
        }
        case State.ChunkEnd: {
          if (chunk[offset] !== (this.crlfSeen === 0 ? CR : LF)) return this.fail("a chunk's data is longer than its declared size (no CRLF after it)");
          offset += 1;
          this.crlfSeen += 1;
          if (this.crlfSeen === 2) this.state = State.ChunkSize;
          break;
        }
      }
    }
    return null;
  }

  /**
   * The container closed its end. Returns true when nothing was left
   * outstanding, or the close ended a body delimited by it (the handler
   * then hears `onComplete`); false when a response was cut short.
   */
  end(): boolean {
    const state = this.state;
    this.abandon();
    if (state === State.UntilClose) {
      this.handler.onComplete(false);
      return true;
    }
    return state === State.Idle || state === State.Dead;
  }

  private fail(message: string): ResponseError {
    this.abandon();
    this.failure = new ResponseError(message);
    return this.failure;
  }

  /** `fail` for the line parsers, which return whether the line was acceptable. */
  private refuse(message: string): false {
    this.fail(message);
    return false;
  }

  private complete(): void {
    this.state = State.Idle;
    this.handler.onComplete(this.keepAlive);
  }

  private resetHead(): void {
    this.sectionBytes = 0;
    this.status = 0;
    this.http10 = false;
    this.headers = [];
    this.contentLength = -1;
    this.transferEncoding = null;
    this.connectionFields = null;
  }

  private section(): string {
    return this.state === State.Head ? "the response head" : this.state === State.ChunkSize ? "a chunk-size line" : "the trailer section";
  }

  /** Bytes the line being read may still take. */
  private lineLimit(): number {
    if (this.state === State.ChunkSize) return MAX_CHUNK_LINE_BYTES;
    return (this.state === State.Head ? MAX_HEAD_BYTES : MAX_TRAILER_BYTES) - this.sectionBytes;
  }

  private tooLarge(): string {
    const limit = this.state === State.ChunkSize ? MAX_CHUNK_LINE_BYTES : this.state === State.Head ? MAX_HEAD_BYTES : MAX_TRAILER_BYTES;
    return `${this.section()} is larger than ${limit} bytes`;
  }

  /**
   * Reads one line at `offset` in the current state (Head, ChunkSize or
   * Trailers). Returns the offset after it, NEED_MORE (the start of the
   * line is kept for the next push) or FAILED.
   */
  private readLine(chunk: Buffer, offset: number): number {
    const lf = chunk.indexOf(LF, offset);
    if (lf < 0) {
      const rest = chunk.length - offset;
      if (rest > this.lineLimit()) return this.failed(this.tooLarge());
      this.partial = [Buffer.from(offset === 0 ? chunk : chunk.subarray(offset))];
      this.partialBytes = rest;
      return NEED_MORE;
    }
    if (lf + 1 - offset > this.lineLimit()) return this.failed(this.tooLarge());
    if (lf === offset || chunk[lf - 1] !== CR) return this.failed(`${this.section()} has a line ending in a bare LF (lines must end in CRLF)`);
    if (this.state !== State.ChunkSize) this.sectionBytes += lf + 1 - offset;
    const line = chunk.toString("latin1", offset, lf - 1);
    let ok: boolean;
    if (this.state === State.ChunkSize) ok = this.parseChunkSize(line);
    else if (this.state === State.Trailers) ok = line.length === 0 ? this.endTrailers() : this.parseField(line, 0, line.length, true);
    else if (this.status === 0) ok = this.parseStatusLine(line, 0, line.length);
    else if (line.length === 0) ok = this.endHead();
    else ok = this.parseField(line, 0, line.length, false);
    return ok ? lf + 1 : FAILED;
  }

  /**
   * Reads a head that lies whole in `chunk` from `offset` (it ends within the
   * size limit): the same checks as line by line, on one string. Returns
   * the offset after it, FAILED, or NEED_MORE when it is not all there.
   */
  private readWholeHead(chunk: Buffer, offset: number): number {
    const end = chunk.indexOf(HEAD_END, offset);
    if (end < 0 || end + 4 - offset > MAX_HEAD_BYTES) return NEED_MORE;
    // Up to the CRLF of the last field: every line ends in CRLF; the empty line that ends the head is not included.
    const text = chunk.toString("latin1", offset, end + 2);
    for (let start = 0; start < text.length; ) {
      const lf = text.indexOf("\n", start);
      if (lf === start || text.charCodeAt(lf - 1) !== 0x0d) return this.failed(`${this.section()} has a line ending in a bare LF (lines must end in CRLF)`);
      const ok = this.status === 0 ? this.parseStatusLine(text, start, lf - 1) : this.parseField(text, start, lf - 1, false);
      if (!ok) return FAILED;
      start = lf + 1;
    }
    this.sectionBytes = end + 4 - offset;
    return this.endHead() ? end + 4 : FAILED;
  }

  private failed(message: string): number {
    this.fail(message);
    return FAILED;
  }

  private parseStatusLine(text: string, start: number, end: number): boolean {
    // "HTTP/1.x SSS" then optionally " reason"
    const minor = text.charCodeAt(start + 7);
    const valid =
      end - start >= 12 &&
      text.startsWith("HTTP/1.", start) &&
      (minor === 0x31 || minor === 0x30) &&
      text.charCodeAt(start + 8) === 0x20 &&
      isDigit(text.charCodeAt(start + 9)) &&
      isDigit(text.charCodeAt(start + 10)) &&
      isDigit(text.charCodeAt(start + 11)) &&
      (end - start === 12 || text.charCodeAt(start + 12) === 0x20);
    if (!valid) return this.refuse(`it sent an invalid status line ${quote(text, start, end)}`);
    const status = (text.charCodeAt(start + 9) - 48) * 100 + (text.charCodeAt(start + 10) - 48) * 10 + (text.charCodeAt(start + 11) - 48);
    if (status < 100 || status > 599) return this.refuse(`it sent status ${status}, outside 100-599`);
    if (!allText(text, start + 13, end)) return this.refuse(`its status line has a control character: ${quote(text, start, end)}`);
    this.status = status;
    this.http10 = minor === 0x30;
    return true;
  }

  /** Checks one field line (`text` from `start` to `end`, without CRLF); in a head (not `trailer`) records it and the framing it declares. */
  private parseField(text: string, start: number, end: number, trailer: boolean): boolean {
    const first = text.charCodeAt(start);
    if (first === 0x20 || first === 0x09) return this.refuse("it sent a folded header line (obs-fold, RFC 9112 §5.2)");
    let colon = start;
    while (colon < end && (CHAR_CLASS[text.charCodeAt(colon)]! & TOKEN) !== 0) colon += 1;
    if (colon === end || text.charCodeAt(colon) !== 0x3a) {
      return this.refuse(`it sent a header line that is not "name: value" (invalid character in a name, or no colon): ${quote(text, start, end)}`);
    }
    if (colon === start) return this.refuse(`it sent a header with an empty name: ${quote(text, start, end)}`);
    let valueStart = colon + 1;
    let valueEnd = end;
    while (valueStart < valueEnd && isSpace(text.charCodeAt(valueStart))) valueStart += 1;
    while (valueEnd > valueStart && isSpace(text.charCodeAt(valueEnd - 1))) valueEnd -= 1;
    if (!allText(text, valueStart, valueEnd)) {
      return this.refuse(`the value of its ${text.slice(start, colon)} header has a control character: ${quote(text, start, end)}`);
    }
    if (trailer) return true;
    // Names are compared where they lie in the head, in any case: no string is made for a field that is not kept.
    switch (colon - start) {
      case 14:
        if (isNamed(text, start, "content-length")) return this.setContentLength(text.slice(valueStart, valueEnd));
        break;
      case 17:
        if (isNamed(text, start, "transfer-encoding")) {
          const value = text.slice(valueStart, valueEnd);
          this.transferEncoding = this.transferEncoding === null ? value : `${this.transferEncoding}, ${value}`;
          return true;
        }
        break;
      case 10:
        if (isNamed(text, start, "connection")) {
          this.readConnection(text.slice(valueStart, valueEnd));
          return true;
        }
        if (isNamed(text, start, "keep-alive")) return true;
        break;
      case 16:
        if (isNamed(text, start, "proxy-connection")) return true;
        break;
      case 7:
        if (isNamed(text, start, "upgrade") || isNamed(text, start, "trailer")) return true;
        break;
      case 2:
        if (isNamed(text, start, "te")) return true;
        break;
    }
    this.headers.push(text.slice(start, colon), text.slice(valueStart, valueEnd));
    return true;
  }

  private setContentLength(value: string): boolean {
    if (this.contentLength >= 0) return this.refuse("it sent more than one Content-Length");
    if (value.length === 0 || value.length > MAX_LENGTH_DIGITS || !/^\d+$/.test(value)) {
      return this.refuse(`it sent an invalid Content-Length ${JSON.stringify(value.slice(0, 40))}`);
    }
    this.contentLength = Number(value);
    this.headers.push("content-length", value);
    return true;
  }

  private readConnection(value: string): void {
    // What node:http and most servers send: nothing to split.
    if (value.length === 10 && isNamed(value, 0, "keep-alive")) return;
    for (const item of value.split(",")) {
      const option = item.trim().toLowerCase();
      if (option === "close") this.keepAlive = false;
      else if (option !== "keep-alive" && option !== "") (this.connectionFields ??= []).push(option);
    }
  }

  /** The empty line ended a head: settles its framing, then hands a final head to the handler. */
  private endHead(): boolean {
    const status = this.status;
    if (status < 200) {
      // 1xx interim responses (100 Continue, 103 Early Hints) precede the real one and are not passed on: the
      // gateway answers `Expect` itself. 101 would switch protocols on a request that never asked to.
      if (status === 101) return this.refuse("it answered 101 Switching Protocols to a request that did not ask to upgrade");
      this.resetHead();
      return true;
    }
    let framing: State;
    if (this.transferEncoding !== null) {
      if (this.contentLength >= 0) return this.refuse("it sent both Content-Length and Transfer-Encoding (RFC 9112 §6.3)");
      if (this.http10) return this.refuse("it sent Transfer-Encoding in an HTTP/1.0 response");
      if (this.transferEncoding.trim().toLowerCase() !== "chunked") {
        return this.refuse(`it sent Transfer-Encoding ${JSON.stringify(this.transferEncoding.slice(0, 60))}; only "chunked" is supported`);
      }
      framing = State.ChunkSize;
    } else if (this.contentLength > 0) {
      framing = State.Length;
    } else {
      framing = this.contentLength === 0 ? State.Idle : State.UntilClose;
    }
    if (this.http10) this.keepAlive = false;
    // RFC 9110 §8.6: no Content-Length in a 204.
    if (status === 204 && this.contentLength >= 0) removeField(this.headers, "content-length");
    if (this.connectionFields) for (const field of this.connectionFields) removeField(this.headers, field);
    const headers = this.headers;
    this.headers = [];
    this.handler.onHead({ status, headers });
    // The handler may have abandoned the connection from inside onHead.
    if (this.state === State.Dead) return true;
    if (this.noBody || status === 204 || status === 304 || framing === State.Idle) {
      this.complete();
      return true;
    }
    if (framing === State.UntilClose) this.keepAlive = false;
    this.state = framing;
    this.remaining = this.contentLength;
    return true;
  }

  /** The empty line after the last chunk's trailers (dropped: the gateway forwards no trailers). */
  private endTrailers(): true {
    this.complete();
    return true;
  }

  private parseChunkSize(line: string): boolean {
    let size = 0;
    let i = 0;
    for (; i < line.length; i += 1) {
      const digit = hexValue(line.charCodeAt(i));
      if (digit < 0) break;
      size = size * 16 + digit;
    }
    const digits = i;
    // After the size: optional whitespace, then nothing or `;` extensions (ignored, but they must be text).
    while (i < line.length && isSpace(line.charCodeAt(i))) i += 1;
    const valid = digits > 0 && digits <= MAX_CHUNK_SIZE_DIGITS && (i === line.length || line.charCodeAt(i) === 0x3b) && allText(line, i, line.length);
    if (!valid) return this.refuse(`it sent an invalid chunk-size line ${quote(line, 0, line.length)}`);
    if (size === 0) {
      this.state = State.Trailers;
      this.sectionBytes = 0;
    } else {
      this.state = State.ChunkData;
      this.remaining = size;
    }
    return true;
  }
}

/** `readLine`'s results besides an offset. */
const NEED_MORE = -1;
const FAILED = -2;

function isSpace(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/** Whether `text` from `start` to `end` holds only field-value characters (visible, space, tab, obs-text). */
function allText(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i += 1) if ((CHAR_CLASS[text.charCodeAt(i)]! & VALUE) === 0) return false;
  return true;
}

/**
 * Whether `text` holds `lower` at `start`, in any case (the caller checked
 * the length). `lower` is lowercase letters and `-` only: setting bit 0x20
 * then maps no other character of a token or field value onto one of them.
 */
function isNamed(text: string, start: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i += 1) if ((text.charCodeAt(start + i) | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  return -1;
}

/** Removes every field named `lower` (lowercase) from a flat name/value list. */
function removeField(headers: string[], lower: string): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    if (headers[i]!.length === lower.length && headers[i]!.toLowerCase() === lower) headers.splice(i, 2);
  }
}

/** A line of the container's bytes for a log message: escaped, at most 80 bytes. */
function quote(text: string, start: number, end: number): string {
  const quoted = JSON.stringify(text.slice(start, Math.min(end, start + 80)));
  return end - start > 80 ? `${quoted}...` : quoted;
}

