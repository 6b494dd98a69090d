// Writes one archive's shards into its staging spools in one pass over the input: each stripe is read row by row
// (the same slice of each of its segments), and each row's data views are written, hashed, encoded into parity and
// folded into Tier 4's level 2 while they are in memory; the whole-file hash is merged from the units' values.
import { BlockFrameError, fromSystemError } from '../../errors.js';
import { SlabPool, type ComputePool } from '../../compute/pool.js';
import { blake3Hex } from '../../integrity/blake3.js';
import { CHUNK_INDEX_FILE, chunkIndexLayout, HASH_LEN, type StripeChunks } from '../../layout/chunks.js';
import type { Geometry, StripeGeometry } from '../../layout/geometry.js';
import type { InputFile } from '../../io/input.js';
import type { SpoolFile } from '../../store/spool.js';
import type { Staging } from '../publish.js';
import { checkAborted, FirstError, settleAll } from '../../flow.js';
import { Level2Writer, type Level2Fold } from './level2-writer.js';
import { shardHashFromChunks } from '../../integrity/shard-hash.js';
import { unitCount } from '../../integrity/blake3-cv.js';
import { CvMerger } from './file-cvs.js';
import { shardChunks, stepBytes, SyncQueue, viewsPerSlice } from './stripe-parts.js';
import { pump } from '../pump.js';

/** Bytes per step of a sequential pass (level 2's hash pass, the whole-file hash of an unaligned geometry). */
export const SLAB = 4 * 1024 * 1024;
/** Bytes per segment per row at most (a multiple of any chunk size). */
const ROW_SLICE = 1024 * 1024;
/** Upper bound of one row buffer (k data + m parity views, and k scratch views in Tier 4): wide rows are thinner. */
const ROW_BUFFER_MAX = 16 * 1024 * 1024;
/** Rows in flight: one being read while the workers hash and encode the others; bounds memory (ROW_BUFFERS × ROW_BUFFER_MAX). */
const ROW_BUFFERS = 4;
/** Shard files whose fsync may be in flight at once (bounds open file descriptors). */
const MAX_PENDING_SYNCS = 64;

import type { ShardHashes } from '../../layout/plan.js';
export type { ShardHashes };

export interface WriteShardsArgs {
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
  /** Whole rows of the shard files skip the page cache (O_DIRECT where the filesystem takes it; default false). */
  direct?: boolean;
}

/**
 * Write every shard of `geometry` and chunks.idx into `staging`'s spools, fsynced, and return all hashes.
 * One read of the input (a second, sequential one only to hash it when segment offsets are not whole chunks);
 * no staged shard is read back, except Tier 4's level-2 parity files, hashed once their group is complete.
 * Memory: ROW_BUFFERS row buffers of at most ROW_BUFFER_MAX (64 MiB), sized down to the geometry.
 * Errors: BF_FILE_CHANGED (the input is shorter or longer than the geometry), BF_ABORTED, I/O errors.
 */
export async function writeShards(a: WriteShardsArgs): Promise<ShardHashes> {
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
  if (a.hashInput !== false && !w.fileCvs) w.out.original = await hashSequentially(a);
  return w.out;
}

/** The whole-file hash by a second, in-order read of the input: for segments that do not start on whole chunks. */
async function hashSequentially(a: WriteShardsArgs): Promise<string> {
  const h = a.pool.openHash(0);
  const slabs = new SlabPool(4, dataSlab(a.geometry.size, a.chunkSize));
  try {
    await pump({
      pool: a.pool,
      slabs,
      src: (buf, len, pos) => a.input.readAt(buf, len, pos),
      offset: 0,
      size: a.geometry.size,
      hashes: [h],
      short: () => changed(a.inputPath),
      readError: (err) => fromSystemError(err, a.inputPath, 'reading the input'),
      signal: a.signal,
    });
  } finally {
    slabs.dispose();
  }
  return a.pool.digest(h);
}

/**
 * Bytes per data-pass slab for an input of `size` bytes: SLAB, or the input rounded up to whole chunks when that is
 * less (a slab is always a multiple of the chunk size, as pumpReads' chunk hashing needs). A 4 KiB object then
 * takes 64 KiB slabs instead of 4 MiB ones, which commits allocate and zero-fill each time.
 */
export function dataSlab(size: number, chunkSize: number): number {
  return Math.min(SLAB, Math.max(1, Math.ceil(size / chunkSize)) * chunkSize);
}

/** Where the whole-file hash comes from: the data views' unit values at their file positions (see CvMerger). */
interface FileCvs {
  merger: CvMerger;
  unitSize: number;
}

class ShardWriter {
  readonly syncs = new SyncQueue(MAX_PENDING_SYNCS);
  readonly out: ShardHashes = { data: [], parity: [], chunks: [], level2Parity: [], level2Chunks: [], original: '' };
  /** Set when the whole-file hash is merged from unit values (every segment starts on a whole chunk of the file). */
  readonly fileCvs: FileCvs | undefined;
  /** Row buffers, as large as the widest stripe needs. */
  private readonly rows: SlabPool;
  /** Tier 4 only: slabs for level 2's hash pass. */
  private readonly level2Slabs: SlabPool;

  constructor(private readonly a: WriteShardsArgs) {
    const g = a.geometry;
    const aligned = g.stripes.every((st) => st.segments.every((seg) => seg.offset % a.chunkSize === 0));
    if (a.hashInput !== false && aligned) this.fileCvs = { merger: new CvMerger(unitCount(g.size, a.chunkSize)), unitSize: a.chunkSize };
    const widest = g.stripes.reduce((mx, st) => {
      const width = viewsPerSlice(st.dataShards, st.parityShards, g.tier === 4);
      return Math.max(mx, width * stepBytes(width, st.shardSize, a.chunkSize, ROW_SLICE, ROW_BUFFER_MAX));
    }, 1);
    this.rows = new SlabPool(ROW_BUFFERS, widest, true);
    this.level2Slabs = new SlabPool(g.level2.length ? 3 : 0, dataSlab(g.segmentSize, a.chunkSize));
  }

  /** Hand the slabs to later commits (compute/pool.ts); only once no pass of this writer runs any more. */
  dispose(): void {
    this.rows.dispose();
    this.level2Slabs.dispose();
  }

  async run(): Promise<void> {
    const a = this.a;
    const layout = chunkIndexLayout(a.geometry, a.chunkSize);
    const index = await a.staging.create(CHUNK_INDEX_FILE);
    const level2 = new Level2Writer({ ...a, slabs: this.level2Slabs, layout, index, finish: (f) => this.syncs.add(f.finish()) });
    try {
      // Blocks one after another: a Tier 4 block folds into level-2 files its group's earlier blocks wrote.
      for (const [i, stripe] of a.geometry.stripes.entries()) {
        checkAborted(a.signal);
        const chunks = layout[i]!;
        const section = new Uint8Array(new SharedArrayBuffer(chunks.length));
        const fold = (await level2.forBlock(i)) ?? undefined;
        const hashes = await this.writeBlock(stripe, section, chunks, fold);
        this.out.data[i] = hashes.data;
        this.out.parity[i] = hashes.parity;
        this.out.chunks[i] = blake3Hex(section);
        await index.write(section, chunks.offset);
        await level2.afterBlock(i);
      }
      this.out.level2Parity = level2.parity;
      this.out.level2Chunks = level2.chunks;
      // A file that grew after we stat'ed it would otherwise be archived truncated without notice.
      if ((await a.input.readAt(new Uint8Array(1), 1, a.geometry.size)) !== 0) throw changed(a.inputPath);
      if (this.fileCvs) this.out.original = a.geometry.size === 0 ? blake3Hex(new Uint8Array(0)) : this.fileCvs.merger.digestHex();
      await this.syncs.add(index.finish());
    } catch (err) {
      await level2.abort();
      await index.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * One stripe, row by row: read the same slice of each of its segments from the input, then (on the workers, side
   * by side) write the data views, hash their chunks (and their units for the whole-file hash), encode and write
   * the parity views and hash theirs, and fold the data into level 2. Each shard file is fsynced once, when the
   * stripe is done (in the background). Returns the shard hashes, data then parity.
   */
  private async writeBlock(stripe: StripeGeometry, section: Uint8Array, chunks: StripeChunks, fold: Level2Fold | undefined): Promise<{ data: string[]; parity: string[] }> {
    const a = this.a;
    const k = stripe.dataShards;
    const m = stripe.parityShards;
    const S = stripe.shardSize;
    const C = a.chunkSize;
    const segs = stripe.segments;
    const n = segs.length;
    // With k = 1 every parity coefficient is 1 (docs/codec.md): parity shards are copies of the segment, written
    // from the same view, and their file and chunk hashes are the segment's.
    const copies = k === 1;
    const width = viewsPerSlice(k, m, fold !== undefined);
    const step = stepBytes(width, S, C, ROW_SLICE, ROW_BUFFER_MAX);
    const dataChunks = segs.map((_, j) => shardChunks(section, chunks, j));
    const parityChunks = stripe.parity.map((_, j) => shardChunks(section, chunks, n + j));
    const blockStart = n ? segs[0]!.offset : 0;
    const blockBytes = n ? segs[n - 1]!.offset + segs[n - 1]!.size - blockStart : 0;
    const fc = this.fileCvs;
    const blockCvs = fc ? new Uint8Array(new SharedArrayBuffer(Math.ceil(blockBytes / fc.unitSize) * HASH_LEN)) : undefined;
    const files: SpoolFile[] = [];
    const errors = new FirstError();
    const inflight: Promise<unknown>[] = [];
    let done = false;
    /** Row buffers whose absent-segment views are zero for this stripe (the views only grow thinner on the last row). */
    const zeroed = new Set<Uint8Array>();
    try {
      // Shards are written once and never read back here: their whole rows may skip the page cache (Spool.create).
      for (const seg of segs) files.push(await a.staging.create(seg.path, { direct: a.direct }));
      for (const p of stripe.parity) files.push(await a.staging.create(p.path, { direct: a.direct }));
      for (let o = 0; o < S; o += step) {
        checkAborted(a.signal);
        errors.throwIfAny();
        const len = Math.min(step, S - o);
        const buf = await this.rows.acquire();
        const view = (i: number) => buf.subarray(i * step, i * step + len);
        const data = Array.from({ length: k }, (_, i) => view(i));
        const parity = Array.from({ length: m }, (_, j) => view(k + j));
        const scratch = Array.from({ length: width - k - m }, (_, i) => view(k + m + i));
        // Bytes of each segment in this row; segments shorter than the shard, and absent ones, encode as zeros.
        const have = data.map((_, i) => (i < n ? Math.max(0, Math.min(len, segs[i]!.size - o)) : 0));
        // Views of segments a short last block lacks are only ever read: zeroed once per buffer for the stripe, not
        // per row (on a 2 GiB file they are 26 of 30, and zeroing them every row cost the main thread a second).
        const fresh = !zeroed.has(buf);
        zeroed.add(buf);
        try {
          await Promise.all(
            data.map(async (v, i) => {
              if (i >= n) {
                if (fresh) v.fill(0);
                return;
              }
              if (have[i]! > 0) {
                const got = await a.input.readAt(v, have[i]!, segs[i]!.offset + o);
                if (got !== have[i]) throw changed(a.inputPath);
              }
              if (have[i]! < len) v.fill(0, have[i]);
            }),
          );
        } catch (err) {
          this.rows.release(buf);
          throw err;
        }
        const jobs: (Promise<unknown> | undefined)[] = [];
        for (let i = 0; i < n; i++) {
          const h = have[i]!;
          if (h === 0) continue;
          const d = data[i]!.subarray(0, h);
          jobs.push(files[i]!.write(d, o));
          jobs.push(a.pool.chunkHashes(d, C, dataChunks[i]!.subarray((o / C) * HASH_LEN), { firstUnit: o / C, total: segs[i]!.size }));
          if (fc && blockCvs) {
            const at = segs[i]!.offset + o;
            jobs.push(a.pool.chunkHashes(d, fc.unitSize, blockCvs.subarray(((at - blockStart) / fc.unitSize) * HASH_LEN), { firstUnit: at / fc.unitSize, total: a.geometry.size }));
          }
        }
        if (copies) {
          for (let j = 0; j < m; j++) jobs.push(files[n + j]!.write(data[0]!, o));
        } else if (m > 0) {
          jobs.push(
            a.pool.encode(k, m, data, parity).then(() =>
              Promise.all(
                parity.map((p, j) =>
                  Promise.all([files[n + j]!.write(p, o), a.pool.chunkHashes(p, C, parityChunks[j]!.subarray((o / C) * HASH_LEN), { firstUnit: o / C, total: S })]),
                ),
              ),
            ),
          );
        }
        // Level 2 only reads the data views. The buffer is released only once every job has settled, even when one fails.
        jobs.push(fold?.(o, len, data, scratch));
        const bytes = have.reduce((s, h) => s + h, 0) + len * m;
        const work = settleAll(jobs).finally(() => {
          this.rows.release(buf);
          a.onBytes?.(bytes);
        });
        inflight.push(errors.track(work));
      }
      await Promise.all(inflight);
      errors.throwIfAny();
      if (fc && blockCvs) fc.merger.push(blockCvs);
      const dataHashes = segs.map((seg, i) => shardHashFromChunks(dataChunks[i]!, C, seg.size));
      let parityHashes: string[];
      if (copies) {
        for (const pc of parityChunks) pc.set(dataChunks[0]!);
        parityHashes = parityChunks.map(() => dataHashes[0]!);
      } else {
        parityHashes = parityChunks.map((pc) => shardHashFromChunks(pc, C, S));
      }
      // One fsync per shard file, issued as the stripe ends and run in the background while the next one is written.
      for (const f of files) await this.syncs.add(f.finish());
      done = true;
      return { data: dataHashes, parity: parityHashes };
    } catch (err) {
      await Promise.all(inflight);
      throw err;
    } finally {
      if (!done) await Promise.all(files.map((f) => f.close()));
    }
  }
}

export function changed(path: string): BlockFrameError {
  return new BlockFrameError('BF_FILE_CHANGED', `input file changed while it was being committed: ${path}`, { path });
}
