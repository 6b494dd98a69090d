// Tier 4 level-2 parity at commit: each row of a block's segments is XORed into its group's level2/ files from the
// row's own slabs (no second read of the data), then each file is hashed once when the group is done.
import { shardHashFromChunks } from '../../integrity/shard-hash.js';
import { BlockFrameError } from '../../errors.js';
import type { ComputePool, SlabPool } from '../../compute/pool.js';
import { blake3Hex } from '../../integrity/blake3.js';
import type { StripeChunks } from '../../layout/chunks.js';
import type { Geometry, GroupGeometry, Level2StripeGeometry } from '../../layout/geometry.js';
import type { SpoolFile } from '../../store/spool.js';
import type { Staging } from '../publish.js';
import { settleAll } from '../../flow.js';
import { pump } from '../pump.js';

/** Folds one slice of a block's data views (positions 0..k-1) into the group's level-2 files; `scratch` is free space of the same shape. */
export type Level2Fold = (offset: number, len: number, data: Uint8Array[], scratch: Uint8Array[]) => Promise<void>;

interface Level2File {
  stripe: Level2StripeGeometry;
  fh: SpoolFile;
}

export interface Level2Args {
  geometry: Geometry;
  staging: Staging;
  pool: ComputePool;
  chunkSize: number;
  /** Read slabs for the final hash pass. */
  slabs: SlabPool;
  /** chunks.idx layout and file: level-2 sections follow the blocks' sections. */
  layout: StripeChunks[];
  index: SpoolFile;
  /** Hands a finished file over to be fsynced and closed. */
  finish: (f: SpoolFile) => Promise<void>;
  signal?: AbortSignal;
  onBytes?: (n: number) => void;
}

export class Level2Writer {
  readonly parity: string[][] = [];
  readonly chunks: string[] = [];
  /** The current group's files by segment position. */
  private files = new Map<number, Level2File>();

  constructor(private readonly a: Level2Args) {
    // XOR accumulation is the parity of the all-ones row, which is the whole code only with one parity shard.
    if (a.geometry.level2.some((st) => st.parityShards !== 1)) throw new BlockFrameError('BF_INTERNAL', 'level-2 writer supports one parity shard per stripe');
  }

  /** The fold for block `b`'s rows (creating the group's files at its first block), or null below Tier 4. */
  async forBlock(b: number): Promise<Level2Fold | null> {
    const group = this.groupOf(b);
    if (!group) return null;
    const first = b === group.firstBlock;
    if (first) await this.openGroup(group);
    const count = this.a.geometry.stripes[b]!.segments.length;
    return async (offset, len, data, scratch) => {
      // Positions past a short last block contribute zeros: nothing to fold.
      const work = [...this.files].map(([pos, f]) => ({ pos, f, n: pos < count ? Math.min(len, f.stripe.shardSize - offset) : 0 })).filter((w) => w.n > 0);
      if (first) {
        await settleAll(work.map(({ pos, f, n }) => f.fh.write(data[pos]!.subarray(0, n), offset)));
        return;
      }
      const acc = work.map(({ pos, n }) => scratch[pos]!.subarray(0, n));
      await settleAll(
        work.map(async ({ f, n }, i) => {
          if ((await f.fh.read(acc[i]!, n, offset)) !== n) throw new BlockFrameError('BF_INTERNAL', `staged ${f.stripe.parity[0]!.path} is short`);
        }),
      );
      // One message folds the whole slice.
      await this.a.pool.xor(acc, work.map(({ pos, n }) => data[pos]!.subarray(0, n)));
      await settleAll(work.map(({ f }, i) => f.fh.write(acc[i]!, offset)));
    };
  }

  /** After block `b`'s rows: when it closes its group, hash each level-2 file, record it and hand it over. */
  async afterBlock(b: number): Promise<void> {
    const group = this.groupOf(b);
    if (!group || b !== group.firstBlock + group.blocks - 1) return;
    const a = this.a;
    for (const f of this.files.values()) {
      const st = f.stripe;
      const sec = a.layout[a.geometry.stripes.length + st.index]!;
      const section = new Uint8Array(new SharedArrayBuffer(sec.length));
      await pump({
        pool: a.pool,
        slabs: a.slabs,
        src: (buf, len, pos) => f.fh.read(buf, len, pos),
        offset: 0,
        size: st.shardSize,
        hashes: [],
        chunks: { chunkSize: a.chunkSize, out: section, cv: true },
        short: () => new BlockFrameError('BF_INTERNAL', `staged ${st.parity[0]!.path} is short`),
        signal: a.signal,
        onBytes: a.onBytes,
      });
      this.parity[st.index] = [shardHashFromChunks(section, a.chunkSize, st.shardSize)];
      this.chunks[st.index] = blake3Hex(section);
      await a.index.write(section, sec.offset);
    }
    const files = [...this.files.values()];
    this.files = new Map();
    for (const f of files) await a.finish(f.fh);
  }

  /** Close whatever is still open (after a failure). */
  async abort(): Promise<void> {
    await Promise.all([...this.files.values()].map((f) => f.fh.close()));
    this.files.clear();
  }

  private groupOf(b: number): GroupGeometry | undefined {
    return this.a.geometry.groups.find((g) => b >= g.firstBlock && b < g.firstBlock + g.blocks);
  }

  private async openGroup(group: GroupGeometry): Promise<void> {
    for (const st of this.a.geometry.level2) {
      if (st.group !== group.index) continue;
      // Read and write: later blocks of the group read each slice back to fold into it.
      this.files.set(st.position, { stripe: st, fh: await this.a.staging.create(st.parity[0]!.path) });
    }
  }
}
