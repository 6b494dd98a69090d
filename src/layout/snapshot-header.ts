// Format v3 snapshot headers (FORMAT.md 13.3 "Header"): deterministic bytes, parsing, validation and the snapshot id.
import { BlockFrameError } from '../errors.js';
import { blake3Hex } from '../integrity/blake3.js';
import { EMPTY_BLOB, LONE_SURROGATE, type BodyTotals } from './snapshot.js';

/** The format version of snapshot headers. */
export const SNAPSHOT_FORMAT_VERSION = 3;
/** Longest snapshot name, in characters (Unicode code points). */
export const MAX_SNAPSHOT_NAME = 4096;

/** A snapshot header's fields, as FORMAT.md 13.3 names them (and in that order on disk). */
export interface SnapshotHeader {
  format_version: 3;
  kind: 'snapshot';
  /** 1 to 4096 characters. */
  name: string;
  /** ISO 8601 UTC with milliseconds (`Date.prototype.toISOString()`), when the walk began. */
  created_at: string;
  /** The snapshot compared against (64 hex), or null. */
  parent: string | null;
  /** BLAKE3 of the body blob (64 hex); the empty hash for an empty body. */
  root_hash: string;
  /** Bytes of the body blob. */
  root_size: number;
  /** Number of body entries. */
  entries: number;
  /** Sum of the files' sizes, in bytes. */
  bytes: number;
  /** What wrote it, e.g. "blockframe 0.3.0". */
  generator: string;
}

const ORDER = ['format_version', 'kind', 'name', 'created_at', 'parent', 'root_hash', 'root_size', 'entries', 'bytes', 'generator'] as const;
const HEX64 = /^[0-9a-f]{64}$/;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function headerError(field: string, what: string): BlockFrameError {
  return new BlockFrameError('BF_SNAPSHOT_INVALID', `snapshot header: field "${field}" ${what}`, { field });
}

/** Throws BF_SNAPSHOT_INVALID naming the first field of `h` that breaks FORMAT.md 13.3 (types, ranges, the body's consistency). */
export function validateSnapshotHeader(h: SnapshotHeader): void {
  if (h.format_version !== SNAPSHOT_FORMAT_VERSION) throw headerError('format_version', `must be ${SNAPSHOT_FORMAT_VERSION}`);
  if (h.kind !== 'snapshot') throw headerError('kind', 'must be "snapshot"');
  if (typeof h.name !== 'string' || LONE_SURROGATE.test(h.name)) throw headerError('name', 'must be a string of Unicode text');
  const chars = [...h.name].length;
  if (chars < 1 || chars > MAX_SNAPSHOT_NAME) throw headerError('name', `must be 1 to ${MAX_SNAPSHOT_NAME} characters`);
  if (typeof h.created_at !== 'string' || !ISO_UTC.test(h.created_at) || Number.isNaN(Date.parse(h.created_at)) || new Date(h.created_at).toISOString() !== h.created_at) {
    throw headerError('created_at', 'must be an ISO 8601 UTC time like 2026-12-03T15:20:00.000Z');
  }
  if (h.parent !== null && (typeof h.parent !== 'string' || !HEX64.test(h.parent))) throw headerError('parent', 'must be 64 lowercase hex digits or null');
  if (typeof h.root_hash !== 'string' || !HEX64.test(h.root_hash)) throw headerError('root_hash', 'must be 64 lowercase hex digits');
  for (const f of ['root_size', 'entries', 'bytes'] as const) {
    const v = h[f];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw headerError(f, 'must be a safe integer >= 0');
  }
  if ((h.root_size === 0) !== (h.root_hash === EMPTY_BLOB)) throw headerError('root_hash', 'is the empty hash exactly when "root_size" is 0');
  if ((h.root_size === 0) !== (h.entries === 0)) throw headerError('entries', 'is 0 exactly when "root_size" is 0');
  if (typeof h.generator !== 'string' || h.generator.length === 0 || h.generator.length > 256 || LONE_SURROGATE.test(h.generator)) {
    throw headerError('generator', 'must be 1 to 256 characters of text');
  }
}

/**
 * The header's bytes: UTF-8 JSON, two-space indented, fields in FORMAT.md 13.3's order, one `\n` at the end
 * (like manifest.json). Deterministic: equal headers give equal bytes, hence equal ids. Validates first
 * (BF_SNAPSHOT_INVALID).
 */
export function buildSnapshotHeader(h: SnapshotHeader): Buffer {
  validateSnapshotHeader(h);
  const ordered: Record<string, unknown> = {};
  for (const k of ORDER) ordered[k] = h[k];
  return Buffer.from(`${JSON.stringify(ordered, null, 2)}\n`, 'utf8');
}

/** The snapshot id: BLAKE3 of the header's bytes, 64 lowercase hex (the header's directory name). */
export function snapshotId(headerBytes: Uint8Array): string {
  return blake3Hex(headerBytes);
}

/**
 * Parses header bytes and checks them: JSON with exactly the fields of FORMAT.md 13.3, valid values, and the bytes
 * exactly those buildSnapshotHeader writes (so one header has one id). With `id`, also checks that the bytes hash
 * to it (a damaged copy). Throws BF_SNAPSHOT_INVALID naming the field (or `id`).
 */
export function parseSnapshotHeader(bytes: Uint8Array, id?: string): SnapshotHeader {
  if (id !== undefined && snapshotId(bytes) !== id) throw headerError('id', `does not match: the header's BLAKE3 is not ${id}`);
  let o: unknown;
  try {
    o = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw headerError('(all)', 'is not UTF-8 JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw headerError('(all)', 'is not a JSON object');
  const rec = o as Record<string, unknown>;
  for (const k of Object.keys(rec)) if (!(ORDER as readonly string[]).includes(k)) throw headerError(k, 'is not allowed');
  for (const k of ORDER) if (!(k in rec)) throw headerError(k, 'is missing');
  const h = rec as unknown as SnapshotHeader;
  const canonical = buildSnapshotHeader(h);
  if (!canonical.equals(bytes)) throw headerError('(all)', 'is not in the canonical form (two-space JSON, fields in order, one final newline)');
  return h;
}

/**
 * Checks a body's totals (from readBody or BodyReader) and BLAKE3 against its header: `root_size`, `entries`,
 * `bytes`, `root_hash`. Throws BF_SNAPSHOT_INVALID naming the first field that disagrees.
 */
export function checkBodyAgainstHeader(h: SnapshotHeader, totals: BodyTotals, bodyHash: string): void {
  if (totals.size !== h.root_size) throw headerError('root_size', `is ${h.root_size} but the body has ${totals.size} bytes`);
  if (totals.entries !== h.entries) throw headerError('entries', `is ${h.entries} but the body has ${totals.entries} entries`);
  if (totals.bytes !== h.bytes) throw headerError('bytes', `is ${h.bytes} but the body's files add up to ${totals.bytes} bytes`);
  if (bodyHash !== h.root_hash) throw headerError('root_hash', 'does not match the body');
}
