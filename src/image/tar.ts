/**
 * A tar writer (POSIX ustar, with pax extended headers for long names, big
 * ids and big files): image layers are exported as tar streams (OCI), and
 * the CLI packs `addLocalFile`/`addLocalDir` sources into one. Reading tar is
 * left to the `tar` program in the build sandbox and on the CLI's machine.
 */
import { createReadStream, lstatSync, readdirSync, readlinkSync, type Stats } from "node:fs";
import { join } from "node:path";
import type { Writable } from "node:stream";

const BLOCK = 512;

export type TarEntryType = "file" | "hardlink" | "symlink" | "char" | "block" | "dir" | "fifo";

const TYPE_FLAGS: Record<TarEntryType, string> = { file: "0", hardlink: "1", symlink: "2", char: "3", block: "4", dir: "5", fifo: "6" };

export interface TarEntry {
  /** Path inside the archive, relative, `/`-separated (directories without a trailing slash). */
  path: string;
  type: TarEntryType;
  /** Permission bits (with setuid, setgid, sticky). */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** Files: where the content is read from (`size` bytes), or the content itself. */
  source?: string | Buffer;
  size?: number;
  /** Symlinks: the target; hardlinks: the archive path of the first name. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

export class TarWriter {
  constructor(private readonly out: Writable) {}

  async add(entry: TarEntry): Promise<void> {
    const size = entry.type === "file" ? (entry.size ?? (Buffer.isBuffer(entry.source) ? entry.source.length : 0)) : 0;
    const name = entry.type === "dir" ? `${entry.path}/` : entry.path;
    const pax: Record<string, string> = {};
    if (Buffer.byteLength(name) > 100) pax.path = name;
    if (entry.linkname !== undefined && Buffer.byteLength(entry.linkname) > 100) pax.linkpath = entry.linkname;
    if (entry.uid > 0o7777777) pax.uid = String(entry.uid);
    if (entry.gid > 0o7777777) pax.gid = String(entry.gid);
    if (size > 0o77777777777) pax.size = String(size);
    if (Object.keys(pax).length > 0) {
      const body = paxRecords(pax);
      await this.write(header({ name: "PaxHeader", type: "x", size: body.length, mode: 0o644, uid: 0, gid: 0, mtime: entry.mtime }));
      await this.write(body);
      await this.write(Buffer.alloc(padding(body.length)));
    }
    await this.write(
      header({
        name,
        type: TYPE_FLAGS[entry.type],
        size,
        mode: entry.mode,
        uid: entry.uid,
        gid: entry.gid,
        mtime: entry.mtime,
        linkname: entry.linkname,
        devmajor: entry.devmajor,
        devminor: entry.devminor,
      }),
    );
    if (entry.type !== "file" || size === 0) return;
    if (Buffer.isBuffer(entry.source)) await this.write(entry.source);
    else await this.copyFile(entry.source!, size);
    await this.write(Buffer.alloc(padding(size)));
  }

  /** Two zero blocks end an archive. */
  async finish(): Promise<void> {
    await this.write(Buffer.alloc(BLOCK * 2));
  }

  private write(chunk: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.out.write(chunk)) resolve();
      else {
        const onDrain = () => (this.out.off("error", onError), resolve());
        const onError = (error: Error) => (this.out.off("drain", onDrain), reject(error));
        this.out.once("drain", onDrain);
        this.out.once("error", onError);
      }
    });
  }

  private async copyFile(path: string, size: number): Promise<void> {
    let copied = 0;
    // Exactly `size` bytes: a file that changed size since it was listed must not corrupt the archive.
    for await (const chunk of createReadStream(path, { end: Math.max(0, size - 1) })) {
      copied += (chunk as Buffer).length;
      await this.write(chunk as Buffer);
    }
    if (copied < size) await this.write(Buffer.alloc(size - copied));
  }
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

interface Header {
  name: string;
  type: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

function header(h: Header): Buffer {
  const block = Buffer.alloc(BLOCK);
  const put = (offset: number, length: number, value: string) => block.write(value, offset, Math.min(length, Buffer.byteLength(value)), "utf8");
  const octal = (offset: number, length: number, value: number) => {
    const digits = Math.min(Math.max(0, Math.floor(value)), 8 ** (length - 1) - 1).toString(8);
    put(offset, length, `${digits.padStart(length - 1, "0")}\0`);
  };
  put(0, 100, truncateBytes(h.name, 100));
  octal(100, 8, h.mode & 0o7777);
  octal(108, 8, h.uid);
  octal(116, 8, h.gid);
  octal(124, 12, h.size);
  octal(136, 12, h.mtime);
  block.fill(0x20, 148, 156);
  put(156, 1, h.type);
  if (h.linkname !== undefined) put(157, 100, truncateBytes(h.linkname, 100));
  put(257, 6, "ustar\0");
  put(263, 2, "00");
  if (h.devmajor !== undefined) octal(329, 8, h.devmajor);
  if (h.devminor !== undefined) octal(337, 8, h.devminor);
  let sum = 0;
  for (const byte of block) sum += byte;
  put(148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  return block;
}

function truncateBytes(text: string, bytes: number): string {
  const buffer = Buffer.from(text);
  return buffer.length <= bytes ? text : buffer.subarray(0, bytes).toString("utf8");
}

/** `"%d key=value\n"`, where the length counts the whole record, its own digits included. */
function paxRecords(records: Record<string, string>): Buffer {
  let text = "";
  for (const [key, value] of Object.entries(records)) {
    const rest = ` ${key}=${value}\n`;
    let length = Buffer.byteLength(rest) + 1;
    while (String(length).length + Buffer.byteLength(rest) !== length) length = String(length).length + Buffer.byteLength(rest);
    text += `${length}${rest}`;
  }
  return Buffer.from(text);
}

/** What to write for one file system object; `undefined` for what tar cannot hold (sockets). */
export function entryFor(path: string, stat: Stats, archivePath: string, ids: (uid: number, gid: number) => [number, number]): TarEntry | undefined {
  const [uid, gid] = ids(stat.uid, stat.gid);
  const base = { path: archivePath, mode: stat.mode & 0o7777, uid, gid, mtime: Math.floor(stat.mtimeMs / 1000) };
  if (stat.isDirectory()) return { ...base, type: "dir" };
  if (stat.isFile()) return { ...base, type: "file", source: path, size: stat.size };
  if (stat.isSymbolicLink()) return { ...base, type: "symlink", linkname: readlinkSync(path) };
  if (stat.isCharacterDevice() || stat.isBlockDevice()) {
    return { ...base, type: stat.isCharacterDevice() ? "char" : "block", devmajor: Math.floor(stat.rdev / 256), devminor: stat.rdev % 256 };
  }
  if (stat.isFIFO()) return { ...base, type: "fifo" };
  return undefined;
}

/**
 * Writes the tree under `dir` (not `dir` itself), sorted by name, so the
 * same tree gives the same bytes. Hard links inside it stay hard links.
 */
export async function writeTree(
  writer: TarWriter,
  dir: string,
  options: { prefix?: string; ids?: (uid: number, gid: number) => [number, number]; mtime?: number } = {},
): Promise<void> {
  const ids = options.ids ?? ((uid, gid) => [uid, gid]);
  const seen = new Map<string, string>();
  const walk = async (relative: string): Promise<void> => {
    for (const name of readdirSync(join(dir, relative)).sort()) {
      const childRelative = relative ? `${relative}/${name}` : name;
      const path = join(dir, childRelative);
      const stat = lstatSync(path);
      const archivePath = options.prefix ? `${options.prefix}/${childRelative}` : childRelative;
      let entry = entryFor(path, stat, archivePath, ids);
      if (!entry) continue;
      if (options.mtime !== undefined) entry.mtime = options.mtime;
      if (entry.type === "file" && stat.nlink > 1) {
        const inode = `${stat.dev}:${stat.ino}`;
        const first = seen.get(inode);
        if (first !== undefined) entry = { ...entry, type: "hardlink", linkname: first, source: undefined, size: 0 };
        else seen.set(inode, archivePath);
      }
      await writer.add(entry);
      if (stat.isDirectory()) await walk(childRelative);
    }
  };
  await walk("");
}
