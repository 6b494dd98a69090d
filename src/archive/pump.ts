// The byte pump: stream a byte range through bounded shared slabs into a sink and hash streams, pipelined.
import type { ComputePool, HashHandle, SlabPool } from '../compute/pool.js';
import { checkAborted, FirstError } from '../flow.js';

/** Positional reads from a file, a spool file or a shard on a store: fewer bytes only at the end. */
export type ReadAt = (buf: Uint8Array, length: number, position: number) => Promise<number>;

export interface PumpArgs {
  pool: ComputePool;
  slabs: SlabPool;
  src: ReadAt;
  /** Where the range starts in `src`. */
  offset: number;
  size: number;
  /** Receives each slice with its offset relative to the range start; may run concurrently with later reads. */
  sink?: (view: Uint8Array, at: number) => Promise<void>;
  /** Streams every slice is fed to, in order. */
  hashes: HashHandle[];
  /**
   * Also hash every chunkSize piece (relative to the range start) into `out` at 32 bytes per chunk; with `cv` the
   * range is a whole shard and the hashes are its chunks' chaining values (format v2).
   */
  chunks?: { chunkSize: number; out: Uint8Array; cv?: boolean };
  /** Error for a range that ends early (the source is shorter than expected). */
  short: () => Error;
  /** Error mapping for a failed read. */
  readError?: (err: unknown) => unknown;
  signal?: AbortSignal;
  onBytes?: (n: number) => void;
}

/**
 * Read [offset, offset+size) of `src` slab by slab. Reading the next slab overlaps sinking and hashing the previous
 * ones; the slab pool bounds memory. Resolves when every slice has been sunk and hashed.
 */
export async function pump(a: PumpArgs): Promise<void> {
  await (await pumpReads(a)).drained;
}

/**
 * Like pump(), but resolves as soon as every read has been issued, with `drained` settling once the last slice
 * has been sunk and hashed. The caller can start the next range meanwhile (hash updates stay in issue order).
 */
export async function pumpReads(a: PumpArgs): Promise<{ drained: Promise<void> }> {
  const errors = new FirstError();
  const inflight: Promise<unknown>[] = [];
  const drained = async (): Promise<void> => {
    await Promise.all(inflight);
    errors.throwIfAny();
  };
  try {
    for (let o = 0; o < a.size; o += a.slabs.slabSize) {
      checkAborted(a.signal);
      errors.throwIfAny();
      const len = Math.min(a.slabs.slabSize, a.size - o);
      const slab = await a.slabs.acquire();
      let n: number;
      try {
        n = await a.src(slab, len, a.offset + o);
      } catch (err) {
        a.slabs.release(slab);
        throw a.readError ? a.readError(err) : err;
      }
      if (n !== len) {
        a.slabs.release(slab);
        throw a.short();
      }
      const view = slab.subarray(0, len);
      const c = a.chunks;
      const chunkHashes = c ? a.pool.chunkHashes(view, c.chunkSize, c.out.subarray((o / c.chunkSize) * 32), c.cv ? { firstUnit: o / c.chunkSize, total: a.size } : undefined) : undefined;
      const step = Promise.all([a.sink?.(view, o), chunkHashes, ...a.hashes.map((h) => a.pool.update(h, view))]).finally(() => {
        a.slabs.release(slab);
        a.onBytes?.(len);
      });
      inflight.push(errors.track(step));
    }
  } catch (err) {
    await Promise.all(inflight);
    throw err;
  }
  const done = drained();
  done.catch(() => undefined);
  return { drained: done };
}
