// Commit's transform pass (format v2): the input file → frames (zstd, AES-256-GCM) → the stored stream in a spool file.
import { randomBytes } from 'node:crypto';
import { SlabPool, type ComputePool } from '../../compute/pool.js';
import type { Spool } from '../../store/spool.js';
import type { InputFile } from '../../io/input.js';
import { frameCount, FrameTableBuilder, type FrameTable } from '../../transform/frames.js';
import { maxStoredLength, type FrameParams } from '../../transform/frame-codec.js';
import { checkAborted, FirstError } from '../../flow.js';
import { changed } from './shard-writer.js';

/** Plaintext per worker job: whole frames, about 4 MiB. */
const BATCH_BYTES = 4 * 1024 * 1024;
/** Jobs in flight: both workers busy, one waiting on each, plus the one being written. */
const IN_FLIGHT = 5;

export interface EncodedInput {
  /** Spool-relative name of the stored stream. */
  rel: string;
  storedSize: number;
  table: FrameTable;
  /** BLAKE3 of the plaintext (hex). */
  plainHash: string;
}

/**
 * Read `size` bytes of `input` once, in order: hash the plaintext and encode its frames on the compute pool (in
 * parallel), and append the stored frames, in order, to spool file `rel`. Memory: IN_FLIGHT batches of plaintext and
 * of stored bytes (about 40 MiB). Errors: BF_FILE_CHANGED (the input shrank), BF_ABORTED, BF_TRANSFORM_UNAVAILABLE, I/O.
 */
export async function encodeInput(a: {
  input: InputFile;
  inputPath: string;
  size: number;
  frameSize: number;
  params: FrameParams;
  pool: ComputePool;
  spool: Spool;
  signal?: AbortSignal;
  onBytes?: (n: number) => void;
}): Promise<EncodedInput> {
  const rel = `stored-${randomBytes(6).toString('hex')}`;
  const out = await a.spool.create(rel);
  const perBatch = Math.max(1, Math.floor(BATCH_BYTES / a.frameSize));
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
          await out.write(stored.subarray(0, o), written);
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
    // Scratch, not data: the shards written from it are fsynced, so this file needs no fsync of its own (it is
    // deleted before writeback usually starts).
    await out.close();
  } catch (err) {
    await Promise.allSettled(jobs);
    await out.close().catch(() => undefined);
    throw err;
  }
  return { rel, storedSize: written, table: frames.build(), plainHash: await a.pool.digest(hash) };
}
