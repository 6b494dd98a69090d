// Format v3 packs and index files (docs/FORMAT.md §13.1, §13.2, §13.5), pure: the size rules, the blob table and index file text, and their strict parsers.
import { BlockFrameError } from '../errors.js';
import { blake3Hex } from '../integrity/blake3.js';
import { MiB } from './tiers.js';

/** Blobs of this many bytes and more get an archive of their own under blobs/ (§13.1); smaller ones go into packs. */
export const PACK_THRESHOLD = 16 * MiB;
/** A writer seals a pack before its stored stream (blobs and table) would pass this many bytes (§13.2). */
export const PACK_TARGET = 64 * MiB;
/** At most this many blobs (lines of the blob table) in one pack (§13.2). */
export const PACK_MAX_BLOBS = 65_536;
/** The `name` in a pack's manifest, and the name part of its directory (`pack_{p}`). */
export const PACK_NAME = 'pack';
/** The `name` in a large blob's manifest, and the name part of its directory (`blob_{h}`). */
export const BLOB_NAME = 'blob';
/** BLAKE3 of zero bytes: the empty blob, never stored (§13.1). */
export const EMPTY_BLOB = 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262';
/** Segment sizes are multiples of this, and at least this (§13.1, §13.2). */
export const SEGMENT_ALIGN = 4096;
/** A large blob's blocks hold about this many bytes per data shard (§13.1). */
const LARGE_SEGMENT_TARGET = 32 * MiB;

/** One blob's place in a pack's stored stream: bytes [offset, offset + size). */
export interface BlobEntry {
  /** BLAKE3 of the blob's bytes, 64 lowercase hex digits. */
  hash: string;
  offset: number;
  size: number;
}

/** The manifest's `pack` field (§13.2). */
export interface PackFacts {
  blobs: number;
  table_offset: number;
  table_size: number;
  table_hash: string;
}

const HEX64 = /^[0-9a-f]{64}$/;

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/**
 * The segment size of a pack whose stored stream has `streamBytes` bytes, coded with `k` data shards (§13.2):
 * `ceil(streamBytes / k)` rounded up to a multiple of 4 KiB, at least 4 KiB, so that the pack is one stripe.
 */
export function packSegmentSize(streamBytes: number, k: number): number {
  return Math.max(SEGMENT_ALIGN, roundUp(Math.ceil(streamBytes / k), SEGMENT_ALIGN));
}

/**
 * The segment size of a large blob's archive (§13.1): with `k` data shards, `B = ceil(size / (k × 32 MiB))`
 * blocks and `S = ceil(size / (k × B))` rounded up to a multiple of 4 KiB, so that its blocks are full.
 */
export function largeBlobSegmentSize(size: number, k: number): number {
  const blocks = Math.max(1, Math.ceil(size / (k * LARGE_SEGMENT_TARGET)));
  return Math.max(SEGMENT_ALIGN, roundUp(Math.ceil(size / (k * blocks)), SEGMENT_ALIGN));
}

/** Is a blob of `size` bytes stored in a pack (1 byte to PACK_THRESHOLD - 1)? Empty blobs are stored nowhere. */
export function isPackedSize(size: number): boolean {
  return size >= 1 && size < PACK_THRESHOLD;
}

/** One line of a blob table, with its `\n` (§13.2). */
export function tableLine(e: BlobEntry): string {
  return `${JSON.stringify({ hash: e.hash, offset: e.offset, size: e.size })}\n`;
}

/** The blob table's bytes for `entries` (in offset order, as the writer appended them). */
export function encodeBlobTable(entries: readonly BlobEntry[]): Uint8Array {
  return new TextEncoder().encode(entries.map(tableLine).join(''));
}

/** The manifest's `pack` field for a table `table` that starts at `tableOffset` and lists `blobs` blobs. */
export function packFacts(table: Uint8Array, tableOffset: number, blobs: number): PackFacts {
  return { blobs, table_offset: tableOffset, table_size: table.length, table_hash: blake3Hex(table) };
}

function tableError(where: string, line: number | null, problem: string): BlockFrameError {
  const at = line === null ? 'blob table' : `blob table line ${line}`;
  return new BlockFrameError('BF_MANIFEST_INVALID', `${where}: ${at} ${problem}`, { path: where, field: 'pack', ...(line !== null && { line }) });
}

function safeCount(v: unknown, min: number): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
}

/**
 * Parse and validate a pack's blob table (§13.2 "Validation"): exactly `facts.blobs` lines, each a JSON object
 * with exactly `hash` (64 lowercase hex), `offset` and `size` (a safe integer ≥ 1), contiguous from 0 to
 * `facts.table_offset`, hashes distinct, `table.length` = `facts.table_size`, and BLAKE3 of the bytes =
 * `facts.table_hash`. Read the table only through a verified read. `where` names the pack in errors.
 * @returns the entries in offset order.
 * @throws BlockFrameError BF_MANIFEST_INVALID naming the first bad line (1-based) and what is wrong with it.
 */
export function parseBlobTable(table: Uint8Array, facts: PackFacts, where: string): BlobEntry[] {
  if (table.length !== facts.table_size) throw tableError(where, null, `is ${table.length} bytes, the manifest says ${facts.table_size}`);
  if (blake3Hex(table) !== facts.table_hash) throw tableError(where, null, 'does not match pack.table_hash');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(table);
  } catch {
    throw tableError(where, null, 'is not UTF-8');
  }
  if (text.length > 0 && !text.endsWith('\n')) throw tableError(where, text.split('\n').length, 'does not end with a newline');
  const lines = text.length === 0 ? [] : text.slice(0, -1).split('\n');
  if (lines.length !== facts.blobs) throw tableError(where, null, `has ${lines.length} lines, pack.blobs says ${facts.blobs}`);
  const out: BlobEntry[] = [];
  const seen = new Set<string>();
  let next = 0;
  lines.forEach((line, i) => {
    const n = i + 1;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw tableError(where, n, 'is not valid JSON');
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw tableError(where, n, 'is not a JSON object');
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o).sort().join(',');
    if (keys !== 'hash,offset,size') throw tableError(where, n, `has fields ${keys || '(none)'}, expected exactly hash, offset, size`);
    if (typeof o.hash !== 'string' || !HEX64.test(o.hash)) throw tableError(where, n, 'field "hash" must be 64 lowercase hex digits');
    if (!safeCount(o.offset, 0)) throw tableError(where, n, 'field "offset" must be a safe integer ≥ 0');
    if (!safeCount(o.size, 1)) throw tableError(where, n, 'field "size" must be a safe integer ≥ 1');
    if (o.offset !== next) throw tableError(where, n, `field "offset" is ${o.offset}, expected ${next} (blobs are contiguous from 0)`);
    if (seen.has(o.hash)) throw tableError(where, n, `lists blob ${o.hash} a second time`);
    seen.add(o.hash);
    next = o.offset + o.size;
    if (!Number.isSafeInteger(next)) throw tableError(where, n, 'ends beyond a safe integer');
    out.push({ hash: o.hash, offset: o.offset, size: o.size });
  });
  if (next !== facts.table_offset) throw tableError(where, null, `blobs end at ${next}, pack.table_offset says ${facts.table_offset}`);
  return out;
}

/** One pack of an index file: its id and the blobs it holds (a copy of its blob table). */
export interface IndexPack {
  pack: string;
  blobs: BlobEntry[];
}

/** One large blob of an index file: its hash (its archive is `blobs/{h[0:2]}/blob_{h}`) and size. */
export interface IndexArchive {
  archive: string;
  size: number;
}

/** An index file's content (§13.5). `createdAt` is ISO 8601 (the caller passes the time: this module has no clock). */
export interface IndexFile {
  createdAt: string;
  packs: IndexPack[];
  archives: IndexArchive[];
}

/** The bytes of an index file (§13.5): a header line, then a line per pack and per large blob. Its key is `index/{blake3 of these bytes}.jsonl`. */
export function encodeIndexFile(f: IndexFile): Uint8Array {
  const lines = [JSON.stringify({ format_version: 3, kind: 'index', created_at: f.createdAt })];
  for (const p of f.packs) lines.push(JSON.stringify({ pack: p.pack, blobs: p.blobs.map((b) => [b.hash, b.offset, b.size]) }));
  for (const a of f.archives) lines.push(JSON.stringify({ archive: a.archive, size: a.size }));
  return new TextEncoder().encode(lines.map((l) => `${l}\n`).join(''));
}

function indexError(where: string, line: number, problem: string): BlockFrameError {
  return new BlockFrameError('BF_INDEX_INVALID', `${where}: line ${line} ${problem}`, { path: where, line });
}

function exactKeys(o: Record<string, unknown>, want: string): boolean {
  return Object.keys(o).sort().join(',') === want;
}

/**
 * Parse an index file strictly (§13.5): the header line (format_version 3, kind "index", created_at), then lines of
 * exactly `{pack, blobs: [[hash, offset, size]…]}` (1 to PACK_MAX_BLOBS contiguous blobs, sizes ≥ 1, below
 * PACK_THRESHOLD) or `{archive, size}` (size ≥ PACK_THRESHOLD). `where` names the file in errors.
 * @throws BlockFrameError BF_INDEX_INVALID naming the first bad line (1-based).
 */
export function parseIndexFile(bytes: Uint8Array, where: string): IndexFile {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw indexError(where, 1, 'is not UTF-8');
  }
  if (!text.endsWith('\n')) throw indexError(where, Math.max(1, text.split('\n').length), 'does not end with a newline');
  const lines = text.slice(0, -1).split('\n');
  const obj = (line: string, n: number): Record<string, unknown> => {
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw indexError(where, n, 'is not valid JSON');
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw indexError(where, n, 'is not a JSON object');
    return v as Record<string, unknown>;
  };
  const h = obj(lines[0]!, 1);
  if (!exactKeys(h, 'created_at,format_version,kind') || h.format_version !== 3 || h.kind !== 'index' || typeof h.created_at !== 'string' || Number.isNaN(Date.parse(h.created_at))) {
    throw indexError(where, 1, 'is not an index header {"format_version":3,"kind":"index","created_at":…}');
  }
  const out: IndexFile = { createdAt: h.created_at, packs: [], archives: [] };
  lines.slice(1).forEach((line, i) => {
    const n = i + 2;
    const o = obj(line, n);
    if (exactKeys(o, 'blobs,pack')) {
      if (typeof o.pack !== 'string' || !HEX64.test(o.pack)) throw indexError(where, n, 'field "pack" must be 64 lowercase hex digits');
      if (!Array.isArray(o.blobs) || o.blobs.length < 1 || o.blobs.length > PACK_MAX_BLOBS) throw indexError(where, n, `field "blobs" must list 1 to ${PACK_MAX_BLOBS} blobs`);
      let next = 0;
      const blobs = o.blobs.map((b: unknown, j: number): BlobEntry => {
        const ok = Array.isArray(b) && b.length === 3 && typeof b[0] === 'string' && HEX64.test(b[0]) && b[1] === next && safeCount(b[2], 1) && b[2] < PACK_THRESHOLD;
        if (!ok) throw indexError(where, n, `blob ${j} must be ["64 hex", ${next}, size 1 to ${PACK_THRESHOLD - 1}]`);
        next += b[2] as number;
        return { hash: b[0] as string, offset: b[1] as number, size: b[2] as number };
      });
      out.packs.push({ pack: o.pack, blobs });
    } else if (exactKeys(o, 'archive,size')) {
      if (typeof o.archive !== 'string' || !HEX64.test(o.archive)) throw indexError(where, n, 'field "archive" must be 64 lowercase hex digits');
      if (!safeCount(o.size, PACK_THRESHOLD)) throw indexError(where, n, `field "size" must be a safe integer ≥ ${PACK_THRESHOLD}`);
      out.archives.push({ archive: o.archive, size: o.size });
    } else throw indexError(where, n, 'must have exactly pack and blobs, or archive and size');
  });
  return out;
}
