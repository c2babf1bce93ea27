/**
 * Output of an untrusted process (a container, a build step), line by line.
 * It can write anything, including a gigabyte without a newline: a line is
 * cut at `maxLength` characters and the rest continues as the next line, so
 * the server never buffers more than that per stream.
 */
import type { Readable } from "node:stream";

/** 16 KiB: longer than any useful log line, small enough to keep per container. */
export const MAX_LOG_LINE = 16 * 1024;

export function readLines(stream: Readable, onLine: (line: string) => void, maxLength = MAX_LOG_LINE): void {
  let buffer = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    buffer += chunk;
    let start = 0;
    for (let newline = buffer.indexOf("\n", start); newline >= 0; newline = buffer.indexOf("\n", start)) {
      emit(buffer.slice(start, newline));
      start = newline + 1;
    }
    buffer = buffer.slice(start);
    while (buffer.length > maxLength) {
      emit(buffer.slice(0, maxLength));
      buffer = buffer.slice(maxLength);
    }
  });
  stream.on("end", () => {
    if (buffer) emit(buffer);
    buffer = "";
  });
  stream.on("error", () => {});
  function emit(line: string): void {
    // A line longer than the limit before its newline arrives in several pieces, each at most maxLength.
    for (let i = 0; i < line.length || i === 0; i += maxLength) onLine(stripCr(line.slice(i, i + maxLength)));
  }
}

function stripCr(line: string): string {
  return line.endsWith("\r") ? line.slice(0, -1) : line;
}
