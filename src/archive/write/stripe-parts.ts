// What both shard writers share: the layout of a stripe's work buffer, a shard's slice of its chunk-index section,
// and the queue of background fsyncs.
import { HASH_LEN, type StripeChunks } from '../../layout/chunks.js';

/** Views in one work buffer: data, parity and, when level 2 is folded in, as many scratch views as data. */
export function viewsPerSlice(k: number, m: number, level2: boolean): number {
  return k + m + (level2 ? k : 0);
}

/**
 * Bytes per view in one step of `width` views: a multiple of `chunkSize` (or the whole shard when smaller), at most
 * `slice`, and thinner for wide buffers so that width × step stays within `bufferMax` (Tier 4).
 */
export function stepBytes(width: number, shardSize: number, chunkSize: number, slice: number, bufferMax: number): number {
  const thin = Math.max(chunkSize, Math.floor(bufferMax / width / chunkSize) * chunkSize);
  return Math.min(slice, thin, Math.max(1, shardSize));
}

/** The slice of a stripe's chunk-index section that belongs to its n-th shard (data first, then parity). */
export function shardChunks(section: Uint8Array, chunks: StripeChunks, n: number): Uint8Array {
  const s = chunks.shards[n]!;
  const start = s.offset - chunks.offset;
  return section.subarray(start, start + s.count * HASH_LEN);
}

/**
 * fsyncs run in the background while later shards are written, so the pipeline never stalls on one file's
 * flush; at most `max` are outstanding, and drain() waits for all (and surfaces the first failure).
 */
export class SyncQueue {
  private readonly q: Promise<void>[] = [];
  constructor(private readonly max: number) {}
  async add(p: Promise<void>): Promise<void> {
    p.catch(() => undefined);
    this.q.push(p);
    while (this.q.length > this.max) await this.q.shift();
  }
  async drain(): Promise<void> {
    const results = await Promise.allSettled(this.q.splice(0));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }
}
