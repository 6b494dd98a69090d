// Commit's transform pass (format v2): the input file → frames (zstd, AES-256-GCM) → the stored stream, in order, to a sink.
import { SlabPool, type ComputePool } from '../../compute/pool.js';
import type { InputFile } from '../../io/input.js';
import { frameCount, FrameTableBuilder, type FrameTable } from '../../transform/frames.js';
import { maxStoredLength, type FrameParams } from '../../transform/frame-codec.js';
import { checkAborted, FirstError } from '../../flow.js';
import { changed } from './shard-writer.js';

/** Plaintext per worker job: whole frames, about 2 MiB (two 1 MiB frames: both workers compress two at once, which fills libuv's four threads). */
const BATCH_BYTES = 2 * 1024 * 1024;
/** Jobs in flight: both workers busy, and the one being handed to the sink. */
const IN_FLIGHT = 3;

export interface EncodedInput {
  storedSize: number;
  table: FrameTable;
  /** BLAKE3 of the plaintext (hex). */
  plainHash: string;
}

/** The most stored bytes one call of encodeInput's sink carries (one batch of frames), for `frameSize` and `params`. */
export function maxBatchStored(frameSize: number, params: FrameParams): number {
  return framesPerBatch(frameSize) * maxStoredLength(frameSize, params);
}

function framesPerBatch(frameSize: number): number {
  return Math.max(1, Math.floor(BATCH_BYTES / frameSize));
}

/**
 * Read `size` bytes of `input` once, in order: hash the plaintext and encode its frames on the compute pool (in
 * parallel), and hand the stored frames to `sink` in stream order (`at` = their offset in the stored stream; one
 * call at a time, each at most maxBatchStored bytes, in a buffer that is reused once the call resolves: a slow sink
 * holds the encoder back). Memory: IN_FLIGHT batches of plaintext and of stored bytes (about 12 MiB).
 * Errors: BF_FILE_CHANGED (the input shrank), BF_ABORTED, BF_TRANSFORM_UNAVAILABLE, the sink's, I/O.
 */
export async function encodeInput(a: {
  input: InputFile;
  inputPath: string;
  size: number;
  frameSize: number;
  params: FrameParams;
  pool: ComputePool;
  sink: (stored: Uint8Array, at: number) => Promise<void>;
  signal?: AbortSignal;
  onBytes?: (n: number) => void;
}): Promise<EncodedInput> {
  const perBatch = framesPerBatch(a.frameSize);
  const batchPlain = perBatch * a.frameSize;
  const plainSlabs = new SlabPool(IN_FLIGHT, Math.max(1, Math.min(batchPlain, a.size)));
  const storedSlabs = new SlabPool(IN_FLIGHT, perBatch * maxStoredLength(a.frameSize, a.params));
  const frames = new FrameTableBuilder(a.size, a.frameSize);
  const hash = a.pool.openHash();
  const errors = new FirstError();
  let written = 0;
  // Each job: read, then encode and hash; writes are chained so the stored stream is appended in frame order.
  let tail: Promise<unknown> = Promise.resolve();
  const jobs = new Set<Promise<unknown>>();
  try {
    const n = frameCount(a.size, a.frameSize);
    for (let first = 0; first < n; first += perBatch) {
      errors.throwIfAny();
      checkAborted(a.signal);
      const plain = await plainSlabs.acquire();
      const stored = await storedSlabs.acquire();
      const at = first * a.frameSize;
      const len = Math.min(batchPlain, a.size - at);
      const view = plain.subarray(0, len);
      const got = await a.input.readAt(view, len, at);
      if (got !== len) throw changed(a.inputPath);
      // Hash updates must stay in file order: they are queued on the hash's worker in the order issued here.
      const hashed = a.pool.update(hash, view);
      hashed.catch(() => undefined);
      const encoded = a.pool.encodeFrames(view, first, a.frameSize, a.params, stored);
      const prev = tail;
      const job = errors.track(
        (async () => {
          const lens = await encoded;
          await prev;
          let o = 0;
          lens.forEach((l, i) => {
            frames.set(first + i, l.length, l.compressed);
            o += l.length;
          });
          await a.sink(stored.subarray(0, o), written);
          written += o;
          await hashed;
          a.onBytes?.(len);
        })().finally(() => {
          plainSlabs.release(plain);
          storedSlabs.release(stored);
        }),
      );
      tail = job;
      jobs.add(job);
      void job.then(() => jobs.delete(job));
    }
    await Promise.all(jobs);
    errors.throwIfAny();
  } catch (err) {
    await Promise.allSettled(jobs);
    throw err;
  }
  return { storedSize: written, table: frames.build(), plainHash: await a.pool.digest(hash) };
}
