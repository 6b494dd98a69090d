// Writes one archive's shards into a staging directory: data segments from the input, then parity per stripe.
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BlockFrameError, fromSystemError } from '../errors.js';
import { SlabPool, type ComputePool, type HashHandle } from '../compute/pool.js';
import type { Geometry, StripeGeometry } from '../layout/geometry.js';
import { readFully, writeFully } from '../store/fsutil.js';
import { checkAborted, FirstError } from './context.js';
import { pump } from './pump.js';

/** Bytes moved per data-pass step, and per shard per parity-pass step. */
export const SLAB = 4 * 1024 * 1024;
const SLABS = 8;
const PARITY_SLICE = 256 * 1024;
/** Shard files whose fsync may be in flight at once (bounds open file descriptors). */
const MAX_PENDING_SYNCS = 64;
const PARITY_BUFFERS = 3;

export interface ShardHashes {
  /** Per stripe: data shard hashes then parity shard hashes, hex. */
  data: string[][];
  parity: string[][];
  original: string;
}

/**
 * fsyncs run in the background while later shards are written, so the pipeline never stalls on one file's
 * flush; at most `max` are outstanding, and drain() waits for all (and surfaces the first failure).
 */
class SyncQueue {
  private readonly q: Promise<void>[] = [];
  constructor(private readonly max: number) {}
  async add(p: Promise<void>): Promise<void> {
    p.catch(() => undefined);
    this.q.push(p);
    while (this.q.length > this.max) await this.q.shift();
  }
  async drain(): Promise<void> {
    const all = this.q.splice(0);
    const results = await Promise.allSettled(all);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }
}

export interface WriteShardsArgs {
  input: FileHandle;
  inputPath: string;
  geometry: Geometry;
  staging: string;
  pool: ComputePool;
  signal?: AbortSignal;
  onBytes?: (n: number) => void;
}

/** Write every shard of `geometry` into `staging`, fsynced, and return all hashes. */
export async function writeShards(a: WriteShardsArgs): Promise<ShardHashes> {
  const slabs = new SlabPool(SLABS, SLAB);
  const parityBufs = new Map<number, SlabPool>();
  // Pin the whole-file hash to worker 0 and shard hashes to worker 1, so both cores hash at once.
  const fileHash = a.pool.openHash(0);
  const out: ShardHashes = { data: [], parity: [], original: '' };
  const syncs = new SyncQueue(MAX_PENDING_SYNCS);
  try {
    await writeAll(a, slabs, parityBufs, fileHash, syncs, out);
  } catch (err) {
    await syncs.drain().catch(() => undefined);
    throw err;
  }
  await syncs.drain();
  out.original = await a.pool.digest(fileHash);
  return out;
}

async function writeAll(a: WriteShardsArgs, slabs: SlabPool, parityBufs: Map<number, SlabPool>, fileHash: HashHandle, syncs: SyncQueue, out: ShardHashes): Promise<void> {
  for (const stripe of a.geometry.stripes) {
    const dataHashes: string[] = [];
    for (const seg of stripe.segments) {
      dataHashes.push(await writeSegment(a, slabs, fileHash, syncs, seg.path, seg.offset, seg.size));
    }
    out.data.push(dataHashes);
    const bytes = stripe.dataShards * Math.min(PARITY_SLICE, Math.max(1, stripe.shardSize)) + stripe.parityShards * Math.min(PARITY_SLICE, Math.max(1, stripe.shardSize));
    let pool = parityBufs.get(bytes);
    if (!pool) parityBufs.set(bytes, (pool = new SlabPool(PARITY_BUFFERS, bytes)));
    out.parity.push(await writeParity(a, pool, syncs, stripe));
  }
  // A file that grew after we stat'ed it would otherwise be archived truncated without notice.
  const probe = new Uint8Array(1);
  if ((await readFully(a.input, probe, 1, a.geometry.size)) !== 0) throw changed(a.inputPath);
}

async function createShard(staging: string, rel: string): Promise<FileHandle> {
  const p = join(staging, rel);
  try {
    await mkdir(dirname(p), { recursive: true });
    return await open(p, 'wx', 0o444);
  } catch (err) {
    throw fromSystemError(err, p, 'creating a shard');
  }
}

async function finishShard(fh: FileHandle, path: string): Promise<void> {
  try {
    await fh.sync();
  } catch (err) {
    throw fromSystemError(err, path, 'syncing a shard');
  } finally {
    await fh.close();
  }
}

async function writeSegment(a: WriteShardsArgs, slabs: SlabPool, fileHash: HashHandle, syncs: SyncQueue, rel: string, offset: number, size: number): Promise<string> {
  const path = join(a.staging, rel);
  const fh = await createShard(a.staging, rel);
  const segHash = a.pool.openHash(1);
  try {
    await pump({
      pool: a.pool,
      slabs,
      src: a.input,
      offset,
      size,
      sink: (view, at) => writeFully(fh, view, at).catch((err) => Promise.reject(fromSystemError(err, path, 'writing a shard'))),
      hashes: [segHash, fileHash],
      short: () => changed(a.inputPath),
      readError: (err) => fromSystemError(err, a.inputPath, 'reading the input'),
      signal: a.signal,
      onBytes: a.onBytes,
    });
    const hash = await a.pool.digest(segHash);
    await syncs.add(finishShard(fh, path));
    return hash;
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }
}

/** Encode one stripe's parity slice by slice, reading the segments back from staging (not the input, which could change). */
async function writeParity(a: WriteShardsArgs, bufs: SlabPool, syncs: SyncQueue, stripe: StripeGeometry): Promise<string[]> {
  const k = stripe.dataShards;
  const m = stripe.parityShards;
  if (m === 0) return [];
  const step = Math.min(PARITY_SLICE, Math.max(1, stripe.shardSize));
  const inputs = await Promise.all(stripe.segments.map((s) => open(join(a.staging, s.path), 'r')));
  const outputs: FileHandle[] = [];
  const hashes = stripe.parity.map(() => a.pool.openHash(1));
  const errors = new FirstError();
  const inflight: Promise<unknown>[] = [];
  try {
    for (const p of stripe.parity) outputs.push(await createShard(a.staging, p.path));
    for (let o = 0; o < stripe.shardSize; o += step) {
      checkAborted(a.signal);
      errors.throwIfAny();
      const len = Math.min(step, stripe.shardSize - o);
      const buf = await bufs.acquire();
      const data: Uint8Array[] = [];
      for (let i = 0; i < k; i++) data.push(buf.subarray(i * step, i * step + len));
      const parity: Uint8Array[] = [];
      for (let j = 0; j < m; j++) parity.push(buf.subarray((k + j) * step, (k + j) * step + len));
      // Segments shorter than the shard, and segments absent from a short last block, encode as zeros.
      await Promise.all(
        data.map(async (view, i) => {
          const seg = stripe.segments[i];
          const have = seg ? Math.max(0, Math.min(len, seg.size - o)) : 0;
          if (have > 0 && (await readFully(inputs[i]!, view, have, o)) !== have) throw new BlockFrameError('BF_INTERNAL', `staged segment ${seg!.path} is short`);
          view.fill(0, have);
        }),
      );
      const work = a.pool
        .encode(k, m, data, parity)
        .then(() =>
          Promise.all(
            parity.map((view, j) =>
              Promise.all([
                writeFully(outputs[j]!, view, o).catch((err) => Promise.reject(fromSystemError(err, join(a.staging, stripe.parity[j]!.path), 'writing parity'))),
                a.pool.update(hashes[j]!, view),
              ]),
            ),
          ),
        )
        .finally(() => {
          bufs.release(buf);
          a.onBytes?.(len * m);
        });
      inflight.push(errors.track(work));
    }
    await Promise.all(inflight);
    errors.throwIfAny();
    const out: string[] = [];
    for (const h of hashes) out.push(await a.pool.digest(h));
    for (let j = 0; j < m; j++) await syncs.add(finishShard(outputs[j]!, join(a.staging, stripe.parity[j]!.path)));
    outputs.length = 0;
    return out;
  } catch (err) {
    await Promise.all(inflight);
    throw err;
  } finally {
    await Promise.all([...inputs, ...outputs].map((fh) => fh.close().catch(() => undefined)));
  }
}

export function changed(path: string): BlockFrameError {
  return new BlockFrameError('BF_FILE_CHANGED', `input file changed while it was being committed: ${path}`, { path });
}
