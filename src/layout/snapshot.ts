// Format v3 snapshot bodies (FORMAT.md 13.3): body lines and the streaming body parser (path rules and order: src/tree-path.ts).
import { BlockFrameError } from '../errors.js';
import { MAX_PATH_BYTES, assertSafePath, comparePaths, describePath, isAncestor, utf8OrNull, type TreeEntry } from '../tree-path.js';

export { MAX_PATH_BYTES, assertSafePath, compareNames, comparePaths, describePath, isAncestor, joinPath, pathRuleBroken, unsafePathError, type PathRule } from '../tree-path.js';

/** Longest body line, in bytes, without its `\n` (FORMAT.md 13.3 "Validation"). */
export const MAX_LINE_BYTES = 64 * 1024;
/** Highest `mode` of an entry: permission bits plus set-user-ID, set-group-ID and sticky (0o7777). */
export const MAX_MODE = 0o7777;
/** BLAKE3 of the empty string: the `blob` of every empty file (FORMAT.md 13.1). */
export const EMPTY_BLOB = 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262';

const HEX64 = /^[0-9a-f]{64}$/;
/** A UTF-16 surrogate without its pair: JSON can spell one (`"\ud800"`), UTF-8 cannot hold it. */
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const NS_DECIMAL = /^-?(0|[1-9][0-9]{0,18})$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** One entry of a snapshot body: a tree entry (src/tree-path.ts). */
export type SnapshotEntry = TreeEntry;

function textOrB64(bytes: Uint8Array, key: string): [string, string] {
  const text = utf8OrNull(bytes);
  return text === null ? [`${key}_b64`, Buffer.from(bytes).toString('base64')] : [key, text];
}

/**
 * One body line of FORMAT.md 13.3 for `entry`, with its `\n`: fields in the table's order, `path_b64` /
 * `target_b64` for bytes that are not UTF-8, `mtime_ns` a decimal string. Does not validate (parse does);
 * throws BF_SNAPSHOT_INVALID only if the line would be longer than 64 KiB.
 */
export function encodeEntryLine(entry: SnapshotEntry): Buffer {
  const [pk, pv] = textOrB64(entry.path, 'path');
  const o: Record<string, unknown> = { [pk]: pv, type: entry.type };
  if (entry.type === 'symlink') {
    const [tk, tv] = textOrB64(entry.target, 'target');
    o[tk] = tv;
  } else {
    o.mode = entry.mode;
  }
  o.mtime_ns = entry.mtimeNs.toString();
  if (entry.type === 'file') {
    o.size = entry.size;
    o.blob = entry.blob;
  }
  const line = Buffer.from(`${JSON.stringify(o)}\n`, 'utf8');
  if (line.length - 1 > MAX_LINE_BYTES) throw bodyError(0, `the line of ${describePath(entry.path)} is longer than ${MAX_LINE_BYTES} bytes`);
  return line;
}

function bodyError(line: number, what: string): BlockFrameError {
  return new BlockFrameError('BF_SNAPSHOT_INVALID', line > 0 ? `snapshot body line ${line}: ${what}` : `snapshot body: ${what}`, { line });
}

const FIELDS: Record<SnapshotEntry['type'], readonly string[]> = {
  file: ['path', 'type', 'mode', 'mtime_ns', 'size', 'blob'],
  dir: ['path', 'type', 'mode', 'mtime_ns'],
  symlink: ['path', 'type', 'target', 'mtime_ns'],
};

/** Reads `key` or `key_b64` (exactly one; base64 canonical and only for bytes that are not UTF-8). */
function bytesField(o: Record<string, unknown>, key: string, lineNo: number): Buffer {
  const text = o[key];
  const b64 = o[`${key}_b64`];
  if ((text === undefined) === (b64 === undefined)) throw bodyError(lineNo, `exactly one of "${key}" and "${key}_b64" must be present`);
  if (text !== undefined) {
    if (typeof text !== 'string' || LONE_SURROGATE.test(text)) throw bodyError(lineNo, `"${key}" is not a string of Unicode text`);
    return Buffer.from(text, 'utf8');
  }
  if (typeof b64 !== 'string') throw bodyError(lineNo, `"${key}_b64" is not a string`);
  const bytes = Buffer.from(b64, 'base64');
  if (bytes.toString('base64') !== b64) throw bodyError(lineNo, `"${key}_b64" is not canonical base64`);
  if (utf8OrNull(bytes) !== null) throw bodyError(lineNo, `"${key}_b64" holds valid UTF-8: it must be "${key}"`);
  return bytes;
}

/**
 * Parses and checks one body line (without its `\n`) on its own: a JSON object with exactly the fields of its type
 * (FORMAT.md 13.3 "Body"). Order and parents are the job of BodyReader. Throws BF_SNAPSHOT_INVALID naming `lineNo`
 * and the field, or BF_PATH_UNSAFE (naming the path and rule) for a path that breaks the path rules.
 */
export function parseEntryLine(line: Uint8Array, lineNo = 0): SnapshotEntry {
  if (line.length > MAX_LINE_BYTES) throw bodyError(lineNo, `longer than ${MAX_LINE_BYTES} bytes`);
  const text = utf8OrNull(line);
  if (text === null) throw bodyError(lineNo, 'not UTF-8');
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw bodyError(lineNo, 'not JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw bodyError(lineNo, 'not a JSON object');
  const rec = o as Record<string, unknown>;
  const type = rec.type;
  if (type !== 'file' && type !== 'dir' && type !== 'symlink') throw bodyError(lineNo, `"type" must be "file", "dir" or "symlink"`);
  const allowed = FIELDS[type];
  const keys = Object.keys(rec).map((k) => (k === 'path_b64' || k === 'target_b64' ? k.slice(0, -4) : k));
  keys.forEach((base, i) => {
    if (!allowed.includes(base)) throw bodyError(lineNo, `field "${Object.keys(rec)[i]}" is not allowed in a ${type} entry`);
  });
  for (const k of allowed) if (!keys.includes(k)) throw bodyError(lineNo, `field "${k}" is missing`);
  const path = bytesField(rec, 'path', lineNo);
  assertSafePath(path);
  const mtime = rec.mtime_ns;
  if (typeof mtime !== 'string' || !NS_DECIMAL.test(mtime)) throw bodyError(lineNo, `"mtime_ns" must be a decimal string of nanoseconds`);
  const mtimeNs = BigInt(mtime);
  if (mtimeNs < INT64_MIN || mtimeNs > INT64_MAX || mtime === '-0') throw bodyError(lineNo, `"mtime_ns" is out of range`);
  if (type === 'symlink') {
    const target = bytesField(rec, 'target', lineNo);
    if (target.length === 0 || target.length > MAX_PATH_BYTES || target.includes(0)) {
      throw bodyError(lineNo, `"target" must be 1 to ${MAX_PATH_BYTES} bytes without NUL`);
    }
    return { type, path, target, mtimeNs };
  }
  const mode = rec.mode;
  if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > MAX_MODE) throw bodyError(lineNo, `"mode" must be an integer from 0 to ${MAX_MODE}`);
  if (type === 'dir') return { type, path, mode, mtimeNs };
  const size = rec.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw bodyError(lineNo, `"size" must be a safe integer >= 0`);
  const blob = rec.blob;
  if (typeof blob !== 'string' || !HEX64.test(blob)) throw bodyError(lineNo, `"blob" must be 64 lowercase hex digits`);
  if ((size === 0) !== (blob === EMPTY_BLOB)) throw bodyError(lineNo, `"blob" is the empty hash exactly when "size" is 0`);
  return { type, path, mode, mtimeNs, size, blob };
}

/** What a body holds, once read to its end: numbers for the header's `entries`, `bytes` and `root_size`. */
export interface BodyTotals {
  /** Number of entries (lines). */
  entries: number;
  /** Sum of the files' `size`, in bytes. */
  bytes: number;
  /** Bytes of the body itself (every line and its `\n`). */
  size: number;
}

/**
 * The streaming body checker (FORMAT.md 13.3 "Validation"): feed it each line in turn; it holds only the previous
 * path and the stack of open parent directories (memory bounded by the tree's depth). `line(bytes)` returns the
 * parsed entry or throws BF_SNAPSHOT_INVALID (bad JSON or fields, order not strictly increasing, a parent that is
 * not an earlier `dir`) or BF_PATH_UNSAFE (a path breaking the rules). `totals()` gives the counts so far.
 */
export class BodyReader {
  private prev: Buffer | null = null;
  private readonly dirs: Buffer[] = [];
  private n = 0;
  private fileBytes = 0;
  private bodyBytes = 0;

  /** Checks one line (without its `\n`) against the lines before it; returns its entry. */
  line(bytes: Uint8Array): SnapshotEntry {
    const lineNo = this.n + 1;
    const e = parseEntryLine(bytes, lineNo);
    if (this.prev !== null && comparePaths(this.prev, e.path) >= 0) {
      throw bodyError(lineNo, `${describePath(e.path)} is not after ${describePath(this.prev)} in path order`);
    }
    while (this.dirs.length > 0 && !isAncestor(this.dirs[this.dirs.length - 1]!, e.path)) this.dirs.pop();
    const slash = e.path.lastIndexOf(0x2f);
    if (slash >= 0) {
      const top = this.dirs[this.dirs.length - 1];
      if (top === undefined || top.length !== slash) throw bodyError(lineNo, `the parent of ${describePath(e.path)} is not an earlier dir entry`);
    }
    if (e.type === 'dir') this.dirs.push(e.path);
    if (e.type === 'file') {
      this.fileBytes += e.size;
      if (!Number.isSafeInteger(this.fileBytes)) throw bodyError(lineNo, 'the sum of file sizes is beyond 2^53');
    }
    this.prev = e.path;
    this.n = lineNo;
    this.bodyBytes += bytes.length + 1;
    return e;
  }

  totals(): BodyTotals {
    return { entries: this.n, bytes: this.fileBytes, size: this.bodyBytes };
  }
}

/**
 * Splits a byte stream into body lines and checks them with a BodyReader, yielding each entry as it is read;
 * memory: one line (at most 64 KiB) plus the reader's stack. Returns the totals when the stream ends.
 * Throws BF_SNAPSHOT_INVALID for an over-long line or a last line without `\n` (besides BodyReader's errors),
 * BF_ABORTED when `signal` fires. An empty stream is a valid empty body.
 */
export async function* readBody(source: AsyncIterable<Uint8Array>, opts: { signal?: AbortSignal } = {}): AsyncGenerator<SnapshotEntry, BodyTotals> {
  const reader = new BodyReader();
  let pending: Buffer[] = [];
  let pendingLen = 0;
  for await (const chunk of source) {
    if (opts.signal?.aborted) throw new BlockFrameError('BF_ABORTED', 'cancelled while reading a snapshot body');
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, from);
      if (nl < 0) break;
      const part = Buffer.from(chunk.buffer, chunk.byteOffset + from, nl - from);
      const line = pendingLen === 0 ? part : Buffer.concat([...pending, part]);
      pending = [];
      pendingLen = 0;
      yield reader.line(line);
      from = nl + 1;
    }
    if (from < chunk.length) {
      pendingLen += chunk.length - from;
      if (pendingLen > MAX_LINE_BYTES) throw bodyError(reader.totals().entries + 1, `longer than ${MAX_LINE_BYTES} bytes`);
      pending.push(Buffer.from(chunk.subarray(from)));
    }
  }
  if (pendingLen > 0) throw bodyError(reader.totals().entries + 1, 'the last line does not end with "\\n"');
  return reader.totals();
}
