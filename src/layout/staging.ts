// Format v3 S3 staging segments (docs/FORMAT.md §13.9), pure: the header line and its strict parser.
import { BlockFrameError } from '../errors.js';
import { PACK_THRESHOLD, type BlobEntry } from './pack.js';

/** A segment's header line is at most this long (a writer puts at most STAGING_MAX_BLOBS blobs in one). */
export const STAGING_HEADER_MAX = 64 * 1024;
/** Blobs in one segment at most (a writer groups up to 16; the limit keeps the header line bounded). */
export const STAGING_MAX_BLOBS = 256;

const HEX64 = /^[0-9a-f]{64}$/;

/** A parsed segment header: its blobs (offsets relative to `bodyStart`) and where the bodies begin. */
export interface StagingHeader {
  blobs: BlobEntry[];
  /** Bytes of the header line, its `\n` included: blob `i` is at `bodyStart + offset_i` of the segment. */
  bodyStart: number;
  /** The segment's whole length: `bodyStart` plus the sum of the sizes. */
  size: number;
}

/**
 * The header line of a segment holding blobs of `sizes` bytes with hashes `hashes` (same order), `\n` included:
 * `{"format_version":3,"kind":"staging","blobs":[{"hash","offset","size"}…]}`, offsets counted from the first
 * byte after the line, contiguous from 0 (§13.9).
 * @throws BlockFrameError BF_USAGE for no blob, more than STAGING_MAX_BLOBS, or a size outside 1 to 16 MiB - 1.
 */
export function encodeStagingHeader(blobs: readonly { hash: string; size: number }[]): { header: Uint8Array; entries: BlobEntry[] } {
  if (blobs.length < 1 || blobs.length > STAGING_MAX_BLOBS) throw new BlockFrameError('BF_USAGE', `a staging segment holds 1 to ${STAGING_MAX_BLOBS} blobs, not ${blobs.length}`, { field: 'blobs' });
  let at = 0;
  const entries = blobs.map((b) => {
    if (!Number.isSafeInteger(b.size) || b.size < 1 || b.size >= PACK_THRESHOLD) throw new BlockFrameError('BF_USAGE', `a staged blob has 1 to ${PACK_THRESHOLD - 1} bytes, not ${b.size}`, { field: 'size' });
    const e = { hash: b.hash, offset: at, size: b.size };
    at += b.size;
    return e;
  });
  const header = new TextEncoder().encode(`${JSON.stringify({ format_version: 3, kind: 'staging', blobs: entries })}\n`);
  return { header, entries };
}

function bad(where: string, problem: string): BlockFrameError {
  return new BlockFrameError('BF_STAGING_INVALID', `${where}: staging header ${problem}`, { path: where });
}

/**
 * Parse the start of a segment (at least its header line; at most STAGING_HEADER_MAX bytes are looked at) strictly
 * (§13.9): one JSON object with exactly `format_version` 3, `kind` "staging" and `blobs`, 1 to STAGING_MAX_BLOBS
 * entries of exactly `hash` (64 lowercase hex, distinct), `offset`, `size` (1 to 16 MiB - 1), contiguous from 0.
 * `where` names the segment in errors.
 * @throws BlockFrameError BF_STAGING_INVALID naming what is wrong.
 */
export function parseStagingHeader(bytes: Uint8Array, where: string): StagingHeader {
  const nl = bytes.subarray(0, STAGING_HEADER_MAX).indexOf(0x0a);
  if (nl < 0) throw bad(where, `has no end of line in its first ${STAGING_HEADER_MAX} bytes`);
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, nl)));
  } catch {
    throw bad(where, 'is not UTF-8 JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(where, 'is not a JSON object');
  const o = v as Record<string, unknown>;
  if (Object.keys(o).sort().join(',') !== 'blobs,format_version,kind') throw bad(where, 'must have exactly format_version, kind and blobs');
  if (o.format_version !== 3 || o.kind !== 'staging') throw bad(where, 'is not format_version 3, kind "staging"');
  if (!Array.isArray(o.blobs) || o.blobs.length < 1 || o.blobs.length > STAGING_MAX_BLOBS) throw bad(where, `must list 1 to ${STAGING_MAX_BLOBS} blobs`);
  const seen = new Set<string>();
  let next = 0;
  const blobs = o.blobs.map((b: unknown, i: number): BlobEntry => {
    const e = b as Record<string, unknown>;
    const ok = typeof b === 'object' && b !== null && !Array.isArray(b) && Object.keys(e).sort().join(',') === 'hash,offset,size';
    if (!ok || typeof e.hash !== 'string' || !HEX64.test(e.hash) || seen.has(e.hash)) throw bad(where, `blob ${i + 1} must be {hash, offset, size} with a distinct 64-hex hash`);
    if (e.offset !== next || typeof e.size !== 'number' || !Number.isSafeInteger(e.size) || e.size < 1 || e.size >= PACK_THRESHOLD) {
      throw bad(where, `blob ${i + 1} must start at ${next} and have 1 to ${PACK_THRESHOLD - 1} bytes`);
    }
    seen.add(e.hash);
    next += e.size;
    return { hash: e.hash, offset: e.offset as number, size: e.size };
  });
  return { blobs, bodyStart: nl + 1, size: nl + 1 + next };
}
