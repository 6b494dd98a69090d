// Plaintext reads: the file's bytes from the verified stored stream, decoding only the frames a range overlaps.
import type { ComputePool } from '../compute/pool.js';
import type { Manifest } from '../layout/manifest.js';
import type { FrameRef } from '../transform/frames.js';
import { maxStoredLength } from '../transform/frame-codec.js';
import type { Content } from './keyring.js';
import { heldWindows, windowJobs, type HeldWindow } from './read.js';
import type { ArchiveReader } from './reader.js';

/** What plaintext reads need of an open archive. */
export interface PlainSource {
  reader: ArchiveReader;
  manifest: Manifest;
  pool: ComputePool;
  content: Content;
}

/** Plaintext bytes decoded per batch of frames (whole frames; at least one). */
const BATCH_BYTES = 4 * 1024 * 1024;
/** Idle batch buffers kept for the next reads, in bytes. */
const KEPT_BYTES = 64 * 1024 * 1024;

/**
 * Batch buffers reused across reads. They go to the compute workers, and every SharedArrayBuffer a worker has seen
 * lives until that worker's own garbage collection: fresh ones for each read (a server answering many range
 * requests) would pile up by the hundreds of MiB.
 */
const kept = new Map<number, Uint8Array[]>();
let keptBytes = 0;

/** `count` buffers of `size` bytes for one read: acquire() waits while all are in use; dispose() when the read ends. */
class BatchBuffers {
  private readonly free: Uint8Array[] = [];
  private readonly waiters: ((b: Uint8Array) => void)[] = [];
  private disposed = false;
  constructor(count: number, size: number) {
    for (let i = 0; i < count; i++) {
      const b = kept.get(size)?.pop();
      if (b) keptBytes -= size;
      this.free.push(b ?? new Uint8Array(new SharedArrayBuffer(size)));
    }
  }
  acquire(): Promise<Uint8Array> {
    const b = this.free.pop();
    if (b) return Promise.resolve(b);
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  release(b: Uint8Array): void {
    if (this.disposed) return keep(b);
    const w = this.waiters.shift();
    if (w) w(b);
    else this.free.push(b);
  }
  /** The read is over: free buffers go back for reuse now, held ones when released. */
  dispose(): void {
    this.disposed = true;
    for (const b of this.free.splice(0)) keep(b);
  }
}

function keep(b: Uint8Array): void {
  if (keptBytes + b.length > KEPT_BYTES) return;
  const list = kept.get(b.length) ?? [];
  list.push(b);
  kept.set(b.length, list);
  keptBytes += b.length;
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

/**
 * Verified plaintext windows of [offset, offset + length) in file order (see heldWindows for `ahead` and `hold`).
 * Without transforms this is heldWindows itself; with them, batches of whole frames are read from the stored stream,
 * checked, decoded on the compute pool (decrypted, decompressed) and cut to the range. Memory is bounded by
 * (ahead + hold) batches of at most 4 MiB (or one frame) of plaintext and the same of stored bytes.
 */
export async function* plainWindows(src: PlainSource, offset: number, length: number, ahead = 3, hold = 1, batchBytes = BATCH_BYTES): AsyncGenerator<HeldWindow> {
  const table = src.content.table;
  if (!table) {
    yield* heldWindows(src.reader, offset, length, ahead, hold);
    return;
  }
  const span = table.span(offset, length);
  if (!span) return;
  const perBatch = Math.max(1, Math.floor(batchBytes / table.frameSize));
  const batches: FrameRef[][] = [];
  for (let j = span.first; j <= span.last; j += perBatch) {
    const b: FrameRef[] = [];
    for (let i = j; i <= Math.min(span.last, j + perBatch - 1); i++) b.push(table.frame(i));
    batches.push(b);
  }
  const framesMax = Math.min(perBatch, span.last - span.first + 1);
  const plainMax = framesMax * table.frameSize;
  const slabCount = Math.min(ahead + hold, batches.length);
  const plainSlabs = new BatchBuffers(slabCount, plainMax);
  // Every frame may carry its tag: the stored bytes of a batch are at most its plaintext plus one tag per frame.
  const storedSlabs = new BatchBuffers(Math.min(ahead, batches.length), framesMax * maxStoredLength(table.frameSize, src.content.params) + EDGES);
  const end = offset + length;
  const decode = async (b: FrameRef[]): Promise<{ slab: Uint8Array; view: Uint8Array }> => {
    const first = b[0]!;
    const last = b[b.length - 1]!;
    const plain = await plainSlabs.acquire();
    const stored = await storedSlabs.acquire();
    try {
      const sv = await readBatch(src.reader, first.storedOffset, last.storedOffset + last.storedLength - first.storedOffset, stored);
      const frames = b.map((f) => [f.storedLength, f.plainLength, f.compressed] as [number, number, boolean]);
      const plainLen = last.plainOffset + last.plainLength - first.plainOffset;
      await src.pool.decodeFrames(sv, first.index, frames, src.content.params, plain.subarray(0, plainLen), `archive ${src.reader.dir}`);
      const from = Math.max(offset, first.plainOffset) - first.plainOffset;
      const to = Math.min(end, last.plainOffset + last.plainLength) - first.plainOffset;
      return { slab: plain, view: plain.subarray(from, to) };
    } catch (err) {
      plainSlabs.release(plain);
      throw err;
    } finally {
      storedSlabs.release(stored);
    }
  };
  const queue: Promise<{ slab: Uint8Array; view: Uint8Array }>[] = [];
  let next = 0;
  const start = () => {
    const p = decode(batches[next++]!);
    p.catch(() => undefined);
    queue.push(p);
  };
  try {
    while (next < batches.length && queue.length < ahead) start();
    while (queue.length) {
      const w = await queue.shift()!;
      if (next < batches.length) start();
      let released = false;
      yield {
        view: w.view,
        release: () => {
          if (!released) plainSlabs.release(w.slab);
          released = true;
        },
      };
    }
  } finally {
    for (const r of await Promise.allSettled(queue)) if (r.status === 'fulfilled') plainSlabs.release(r.value.slab);
    plainSlabs.dispose();
    storedSlabs.dispose();
  }
}
