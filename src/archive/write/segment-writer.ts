// Writes one archive's shards segment after segment, reading its input strictly in order (then parity per stripe from
// the staged segments read back): for the stored stream of a transformed commit, which only reads in order.
import { BlockFrameError, fromSystemError } from '../../errors.js';
import { SlabPool, type ComputePool, type HashHandle } from '../../compute/pool.js';
import { blake3Hex } from '../../integrity/blake3.js';
import { CHUNK_INDEX_FILE, chunkIndexLayout, HASH_LEN } from '../../layout/chunks.js';
import type { Geometry } from '../../layout/geometry.js';
import type { InputFile } from '../../io/input.js';
import type { SpoolFile } from '../../store/spool.js';
import type { Staging } from '../publish.js';
import { checkAborted, FirstError, settleAll } from '../../flow.js';
import { Level2Writer, type Level2Fold } from './level2-writer.js';
import { shardChunks, stepBytes, SyncQueue, viewsPerSlice } from './stripe-parts.js';
import { pumpReads } from '../pump.js';
import { shardHashFromChunks } from '../../integrity/shard-hash.js';
import { changed, dataSlab } from './shard-writer.js';

/** Data-pass slabs in flight; parity-pass slices and buffers (both multiples of any chunk size). */
const SLABS = 6;
const PARITY_SLICE = 256 * 1024;
/** Upper bound of one parity buffer (k + m slices, and k more in Tier 4): wide buffers use thinner slices. */
const PARITY_BUFFER_MAX = 8 * 1024 * 1024;
const PARITY_BUFFERS = 3;
/** Shard files whose fsync may be in flight at once (bounds open file descriptors). */
const MAX_PENDING_SYNCS = 64;

import type { ShardHashes } from '../../layout/plan.js';

/** One parity computation: k data shards (null = zeros) in, m parity shards and their chunk hashes out. */
interface ParityJob {
  k: number;
  m: number;
  shardSize: number;
  members: ({ path: string; size: number } | null)[];
  parity: { path: string }[];
  /** Where each parity shard's chunk hashes go. */
  chunksOut: Uint8Array[];
  /** With k = 1 the parity shards are copies of the one data shard, whose hash and chunk hashes these are. */
  copyOf?: { hash: string; chunks: Uint8Array };
  /** Tier 4: also fold each slice's data into the group's level-2 parity. */
  fold?: Level2Fold;
}

export interface InOrderArgs {
  input: InputFile;
  inputPath: string;
  geometry: Geometry;
  chunkSize: number;
  staging: Staging;
  pool: ComputePool;
  signal?: AbortSignal;
  onBytes?: (n: number) => void;
  /** Hash the whole input for `original` (default true; a transformed archive hashed its plaintext already). */
  hashInput?: boolean;
  /**
   * An input whose length shows only as it is read (the stored stream of a transformed commit, streamed from the
   * encoder): `geometry` is then planned for an upper bound of that length (Tiers 1 to 3), and before each segment
   * the writer calls `settle(end)` with the segment's end in that plan. It resolves null while the input is longer
   * (the plan holds that far), else with the geometry of the input's real length, which has the same tier and
   * segment size: every stripe and segment before this one is the same in both (they were full).
   */
  settle?: (end: number) => Promise<Geometry | null>;
}

/** Write every shard of `geometry` and chunks.idx into `staging`'s spools, fsynced, and return all hashes. */
export async function writeShardsInOrder(a: InOrderArgs): Promise<ShardHashes> {
  const w = new ShardWriter(a);
  try {
    await w.run();
  } catch (err) {
    await w.syncs.drain().catch(() => undefined);
    throw err;
  } finally {
    // Every pass has ended (run settles its in-flight work even when it fails): the slabs can serve the next commit.
    w.dispose();
  }
  await w.syncs.drain();
  if (w.fileHash) w.out.original = await a.pool.digest(w.fileHash);
  return w.out;
}

class ShardWriter {
  readonly syncs = new SyncQueue(MAX_PENDING_SYNCS);
  readonly out: ShardHashes = { data: [], parity: [], chunks: [], level2Parity: [], level2Chunks: [], original: '' };
  /** The whole-file hash is pinned to worker 0 and shard hashes to worker 1, so both cores hash at once. */
  readonly fileHash: HashHandle | undefined;
  /** Data-pass slabs (see dataSlab): 24 MiB for a large input, a few chunks for a small one. */
  private readonly slabs: SlabPool;
  /** One pool for every stripe's parity pass, its slabs as large as the widest stripe needs. */
  private readonly parityBufs: SlabPool;

  constructor(private readonly a: InOrderArgs) {
    this.fileHash = a.hashInput === false ? undefined : a.pool.openHash(0);
    this.slabs = new SlabPool(SLABS, dataSlab(a.geometry.size, a.chunkSize));
    const widest = a.geometry.stripes.reduce((mx, st) => {
      const width = viewsPerSlice(st.dataShards, st.parityShards, a.geometry.tier === 4);
      return Math.max(mx, width * stepBytes(width, st.shardSize, a.chunkSize, PARITY_SLICE, PARITY_BUFFER_MAX));
    }, 1);
    this.parityBufs = new SlabPool(PARITY_BUFFERS, widest);
  }

  /** Hand the slabs to later commits (compute/pool.ts); only once no pass of this writer runs any more. */
  dispose(): void {
    this.slabs.dispose();
    this.parityBufs.dispose();
  }

  async run(): Promise<void> {
    const a = this.a;
    if (a.settle && a.geometry.tier === 4) throw new BlockFrameError('BF_INTERNAL', 'a streamed input cannot be written as tier 4 (its level-2 groups depend on the final length)');
    const layout = chunkIndexLayout(a.geometry, a.chunkSize);
    const index = await a.staging.create(CHUNK_INDEX_FILE);
    const level2 = new Level2Writer({ ...a, slabs: this.slabs, layout, index, finish: (f) => this.syncs.add(f.finish()) });
    // Block i's data pass overlaps block i-1's parity pass (one at a time), and segments follow one another
    // without draining the pipeline in between; the slab pools bound memory throughout.
    let previous: Promise<void> = Promise.resolve();
    let tails: Promise<string>[] = [];
    // A streamed input settles its geometry on the way (see InOrderArgs.settle); until then `g` is the plan's.
    let g = a.geometry;
    let unsettled = a.settle;
    try {
      for (let i = 0; i < g.stripes.length; i++) {
        let stripe = g.stripes[i]!;
        let chunks = layout[i]!;
        // Sized for the plan; the settled stripe's section is a prefix of it (only its parity entries move).
        const section = new Uint8Array(new SharedArrayBuffer(chunks.length));
        tails = [];
        for (let j = 0; j < stripe.segments.length; j++) {
          const planned = stripe.segments[j]!;
          const settled = unsettled && (await unsettled(planned.offset + planned.size));
          if (settled) {
            unsettled = undefined;
            g = settled;
            layout.splice(0, layout.length, ...chunkIndexLayout(g, a.chunkSize));
            if (!g.stripes[i] || j >= g.stripes[i]!.segments.length) break;
            stripe = g.stripes[i]!;
            chunks = layout[i]!;
          }
          const seg = stripe.segments[j]!;
          tails.push((await this.startSegment(seg.path, seg.offset, seg.size, shardChunks(section, chunks, j))).tail);
        }
        // The input ended exactly where the previous stripe did.
        if (!g.stripes[i]) break;
        const prev = previous;
        const blockTails = tails;
        const current = (async () => {
          const dataHashes = await Promise.all(blockTails);
          await prev;
          this.out.data[i] = dataHashes;
          const fold = (await level2.forBlock(i)) ?? undefined;
          const n = stripe.segments.length;
          this.out.parity[i] = await this.writeParity({
            k: stripe.dataShards,
            m: stripe.parityShards,
            shardSize: stripe.shardSize,
            members: stripe.segments,
            parity: stripe.parity,
            chunksOut: stripe.parity.map((_, j) => shardChunks(section, chunks, n + j)),
            copyOf: stripe.dataShards === 1 ? { hash: dataHashes[0]!, chunks: shardChunks(section, chunks, 0) } : undefined,
            fold,
          });
          const own = section.subarray(0, chunks.length);
          this.out.chunks[i] = blake3Hex(own);
          await index.write(own, chunks.offset);
          await level2.afterBlock(i);
        })();
        current.catch(() => undefined);
        await prev;
        previous = current;
      }
      await previous;
      this.out.level2Parity = level2.parity;
      this.out.level2Chunks = level2.chunks;
      // A file that grew after we stat'ed it would otherwise be archived truncated without notice.
      if (unsettled || (await a.input.readAt(new Uint8Array(1), 1, g.size)) !== 0) throw changed(a.inputPath);
      await this.syncs.add(index.finish());
    } catch (err) {
      // Let in-flight writes settle before the caller removes the staging directory.
      await Promise.allSettled([previous, ...tails]);
      await level2.abort();
      await index.close().catch(() => undefined);
      throw err;
    }
  }

  /** Issue every read of one segment; `tail` settles with its hash once it is written, hashed and queued for fsync. */
  private async startSegment(rel: string, offset: number, size: number, chunkOut: Uint8Array): Promise<{ tail: Promise<string> }> {
    const a = this.a;
    const fh = await a.staging.create(rel);
    let drained: Promise<void>;
    try {
      ({ drained } = await pumpReads({
        pool: a.pool,
        slabs: this.slabs,
        src: (buf, len, pos) => a.input.readAt(buf, len, pos),
        offset,
        size,
        sink: (view, at) => fh.write(view, at),
        hashes: this.fileHash ? [this.fileHash] : [],
        chunks: { chunkSize: a.chunkSize, out: chunkOut, cv: true },
        short: () => changed(a.inputPath),
        readError: (err) => fromSystemError(err, a.inputPath, 'reading the input'),
        signal: a.signal,
        onBytes: a.onBytes,
      }));
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
    const tail = (async () => {
      try {
        await drained;
      } catch (err) {
        await fh.close().catch(() => undefined);
        throw err;
      }
      // One pass: the shard hash is the merge of its chunks' chaining values (docs/FORMAT.md §12.1).
      const hash = shardHashFromChunks(chunkOut, a.chunkSize, size);
      await this.syncs.add(fh.finish());
      return hash;
    })();
    tail.catch(() => undefined);
    return { tail };
  }

  /** Encode one stripe's parity slice by slice, reading segments back from staging (not the input, which could change). */
  private async writeParity(job: ParityJob): Promise<string[]> {
    const a = this.a;
    const { k, m } = job;
    if (m === 0) return [];
    // With k = 1 every parity coefficient is 1 (docs/codec.md): parity shards are copies of the segment, so
    // their file and chunk hashes are the segment's and need not be computed again.
    const copies = job.copyOf !== undefined;
    const C = a.chunkSize;
    const width = viewsPerSlice(k, m, job.fold !== undefined);
    const step = stepBytes(width, job.shardSize, C, PARITY_SLICE, PARITY_BUFFER_MAX);
    const bufs = this.parityBufs;
    const inputs: (SpoolFile | null)[] = [];
    const outputs: SpoolFile[] = [];
    const parityChunks = job.chunksOut;
    const errors = new FirstError();
    const inflight: Promise<unknown>[] = [];
    /** Buffers whose views of absent segments are zero for this stripe (nothing writes them, so once per buffer). */
    const zeroed = new Set<Uint8Array>();
    try {
      for (const seg of job.members) inputs.push(seg ? await a.staging.open(seg.path) : null);
      for (const p of job.parity) outputs.push(await a.staging.create(p.path));
      for (let o = 0; o < job.shardSize; o += step) {
        checkAborted(a.signal);
        errors.throwIfAny();
        const len = Math.min(step, job.shardSize - o);
        const buf = await bufs.acquire();
        const data: Uint8Array[] = [];
        for (let i = 0; i < k; i++) data.push(buf.subarray(i * step, i * step + len));
        const parity: Uint8Array[] = [];
        for (let j = 0; j < m; j++) parity.push(buf.subarray((k + j) * step, (k + j) * step + len));
        const scratch: Uint8Array[] = [];
        for (let i = k + m; i < width; i++) scratch.push(buf.subarray(i * step, i * step + len));
        // Segments shorter than the shard, and segments absent from a short last block, encode as zeros. Absent
        // ones are zeroed once per buffer for the stripe, not per slice (the last block of a 1 GiB file lacks 27
        // of 30 segments: zeroing them every slice cost half a CPU-second).
        const fresh = !zeroed.has(buf);
        zeroed.add(buf);
        await Promise.all(
          data.map(async (view, i) => {
            const seg = job.members[i];
            if (!seg && !fresh) return;
            const have = seg ? Math.max(0, Math.min(len, seg.size - o)) : 0;
            if (have > 0 && (await inputs[i]!.read(view, have, o)) !== have) throw new BlockFrameError('BF_INTERNAL', `staged segment ${seg!.path} is short`);
            view.fill(0, have);
          }),
        );
        // Slices encode on whichever worker is free and may finish out of order, but a hash stream must see
        // them in order: each slice's hash updates are issued only after the previous slice's were.
        // Chaining-value chunk hashes depend only on their position, so slices may finish in any order.
        const encoded = a.pool.encode(k, m, data, parity);
        const written = encoded.then(() =>
          Promise.all(
            parity.map((view, j) => {
              const write = outputs[j]!.write(view, o);
              if (copies) return write;
              return Promise.all([write, a.pool.chunkHashes(view, C, parityChunks[j]!.subarray((o / C) * HASH_LEN), { firstUnit: o / C, total: job.shardSize })]);
            }),
          ),
        );
        // Level 2 only reads the data views, so it runs beside the encoding. The buffer is released only once
        // both sides have settled, even when one fails.
        const work = settleAll([written, job.fold?.(o, len, data, scratch)]).finally(() => {
          bufs.release(buf);
          a.onBytes?.(len * m);
        });
        inflight.push(errors.track(work));
      }
      await Promise.all(inflight);
      errors.throwIfAny();
      const out: string[] = [];
      if (job.copyOf) {
        for (const pc of parityChunks) pc.set(job.copyOf.chunks);
        for (let j = 0; j < m; j++) out.push(job.copyOf.hash);
      } else {
        for (const pc of parityChunks) out.push(shardHashFromChunks(pc, C, job.shardSize));
      }
      for (let j = 0; j < m; j++) await this.syncs.add(outputs[j]!.finish());
      outputs.length = 0;
      return out;
    } catch (err) {
      await Promise.all(inflight);
      throw err;
    } finally {
      await Promise.all([...inputs, ...outputs].map((fh) => fh?.close()));
    }
  }
}

