// Plaintext reads, planned: which frames a range overlaps, in batches, and how one batch is read and decoded (the
// scheduling, memory and read-ahead are ReadAhead's).
import type { ComputePool } from '../../compute/pool.js';
import type { Manifest } from '../../layout/manifest.js';
import type { FrameRef } from '../../transform/frames.js';
import { maxStoredLength } from '../../transform/frame-codec.js';
import type { Content } from '../keyring.js';
import { windowJobs } from './windows.js';
import type { ArchiveReader } from './reader.js';

/** What plaintext reads need of an open archive. */
export interface PlainSource {
  reader: ArchiveReader;
  manifest: Manifest;
  pool: ComputePool;
  content: Content;
}

/** Room in a stored-bytes buffer for the rest of the first and last chunks (chunks are at most 256 KiB). */
const EDGES = 2 * 256 * 1024;

/**
 * Verified stored bytes [offset, offset + length) in `buf` (which has EDGES bytes to spare): read in place with
 * their edge chunks when they lie in one read window (no scratch copy), else window by window. Returns their view.
 */
async function readBatch(reader: ArchiveReader, offset: number, length: number, buf: Uint8Array): Promise<Uint8Array> {
  const jobs = windowJobs(reader.geometry, offset, length);
  const j = jobs.next();
  if (!j.done && jobs.next().done) {
    const { start, end } = reader.spanBounds(j.value.seg, j.value.from, j.value.to);
    if (end - start <= buf.length) return reader.readSpan(j.value.seg, j.value.from, j.value.to, buf);
  }
  const out = buf.subarray(0, length);
  await readStored(reader, offset, out);
  return out;
}

/** Read verified stored bytes [offset, offset + out.length) into `out`, windows in parallel. */
export async function readStored(reader: ArchiveReader, offset: number, out: Uint8Array): Promise<void> {
  const jobs: Promise<void>[] = [];
  let at = 0;
  for (const j of windowJobs(reader.geometry, offset, out.length)) {
    const n = j.to - j.from;
    jobs.push(reader.readInto(j.seg, j.from, j.to, out.subarray(at, at + n)));
    at += n;
  }
  const r = await Promise.allSettled(jobs);
  const failed = r.find((x) => x.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

/** How a framed range splits into batches of whole frames, and the most memory one batch needs. */
export interface FramePlan {
  batchCount: number;
  /** Lazy: planning costs nothing in proportion to the range. */
  batches(): Generator<FrameRef[]>;
  /** Bytes of plaintext a batch decodes to, at most. */
  plainMax: number;
  /** Bytes of stored stream a batch reads, at most, with room for the edge chunks (so readBatch reads in place). */
  storedMax: number;
}

/** The batches of at most `batchBytes` of plaintext (whole frames, at least one) over [offset, offset + length); null when empty. */
export function framePlan(src: PlainSource, offset: number, length: number, batchBytes: number): FramePlan | null {
  const table = src.content.table!;
  const span = table.span(offset, length);
  if (!span) return null;
  const perBatch = Math.max(1, Math.floor(batchBytes / table.frameSize));
  const framesMax = Math.min(perBatch, span.last - span.first + 1);
  return {
    batchCount: Math.ceil((span.last - span.first + 1) / perBatch),
    *batches() {
      for (let j = span.first; j <= span.last; j += perBatch) {
        const b: FrameRef[] = [];
        for (let i = j; i <= Math.min(span.last, j + perBatch - 1); i++) b.push(table.frame(i));
        yield b;
      }
    },
    plainMax: framesMax * table.frameSize,
    // Every frame may carry its tag: at most its plaintext plus one tag per frame.
    storedMax: framesMax * maxStoredLength(table.frameSize, src.content.params) + EDGES,
  };
}

/**
 * Decode one batch of frames: read and verify its stored bytes into `stored` (FramePlan.storedMax bytes), decode
 * them on the compute pool (decrypt, decompress) into `plain` (FramePlan.plainMax bytes), and return the view of
 * the plaintext that falls in [offset, offset + length).
 */
export async function decodeBatch(src: PlainSource, b: FrameRef[], offset: number, length: number, plain: Uint8Array, stored: Uint8Array): Promise<Uint8Array> {
  const first = b[0]!;
  const last = b[b.length - 1]!;
  const sv = await readBatch(src.reader, first.storedOffset, last.storedOffset + last.storedLength - first.storedOffset, stored);
  const frames = b.map((f) => [f.storedLength, f.plainLength, f.compressed] as [number, number, boolean]);
  const plainLen = last.plainOffset + last.plainLength - first.plainOffset;
  await src.pool.decodeFrames(sv, first.index, frames, src.content.params, plain.subarray(0, plainLen), `archive ${src.reader.dir}`);
  const from = Math.max(offset, first.plainOffset) - first.plainOffset;
  const to = Math.min(offset + length, last.plainOffset + last.plainLength) - first.plainOffset;
  return plain.subarray(from, to);
}
