// Stripe-level work for verify, repair and the reader: check each shard once, rebuild lost shards from the rest.
import { BlockFrameError, isBlockFrameError } from '../../errors.js';
import { SlabPool } from '../../compute/pool.js';
import { blake3Hex } from '../../integrity/blake3.js';
import { HASH_LEN } from '../../layout/chunks.js';
import { knownShard } from '../../layout/code.js';
import type { Spool, SpoolFile } from '../../store/spool.js';
import { readFailure, readShard, shardKey, spoolFor, statShard, type ArchiveCtx } from '../shards.js';
import { checkAborted } from '../../flow.js';
import { pump } from '../pump.js';
import { shardHashFromChunks } from '../../integrity/shard-hash.js';
import { chunkCv } from '../../layout/manifest.js';

export { archiveCtx, type ArchiveCtx } from '../shards.js';

export type ShardState = 'ok' | 'missing' | 'truncated' | 'corrupt';

export interface ShardCheck {
  /** Shard id (CodeLayout.shards). */
  n: number;
  path: string;
  state: ShardState;
  /** Missing because its store did not answer, or refused access (not because the store said it is gone). */
  unavailable?: boolean;
  denied?: boolean;
  /** Per-chunk hashes computed while checking (only when asked for and the shard is ok). */
  chunks?: Uint8Array;
  /** BLAKE3 of the stored bytes, when the size was right. */
  digest?: string;
}

const SLAB = 4 * 1024 * 1024;
const REBUILD_SLICE = 256 * 1024;

/** What a failed read or lookup makes of a shard. */
function failedState(n: number, path: string, err: unknown): ShardCheck {
  const f = readFailure(err);
  if (f === 'not-a-file' || f === 'io') return { n, path, state: 'corrupt' };
  return { n, path, state: 'missing', unavailable: f === 'unavailable', denied: f === 'denied' };
}

/** Hash one shard (one read) and compare it with the manifest: size first, then BLAKE3. */
export async function checkShard(ctx: ArchiveCtx, n: number, slabs: SlabPool, withChunks = false): Promise<ShardCheck> {
  const sh = ctx.code.shards[n]!;
  let info;
  try {
    info = await statShard(ctx, n);
  } catch (err) {
    // A directory or symlink where a shard belongs is damage like any other (and a link is never followed).
    return failedState(n, sh.path, err);
  }
  if (!info) return { n, path: sh.path, state: 'missing' };
  if (info.size !== sh.size) return { n, path: sh.path, state: info.size < sh.size ? 'truncated' : 'corrupt' };
  // Format v2: one pass gives the chunks' chaining values, and the shard hash is their merge (docs/FORMAT.md §12.1).
  const cv = ctx.manifest.format_version >= 2;
  const C = ctx.manifest.chunk_index.chunk_size;
  const h = cv ? undefined : ctx.pool.openHash();
  const chunks = withChunks || cv ? new Uint8Array(new SharedArrayBuffer(sh.chunkCount * HASH_LEN)) : undefined;
  let short = false;
  let failed: ShardCheck | undefined;
  await pump({
    pool: ctx.pool,
    slabs,
    src: async (buf, len, pos) => {
      const got = await readShard(ctx, n, buf.subarray(0, len), pos);
      await ctx.throttle?.(got);
      return got;
    },
    offset: 0,
    size: sh.size,
    hashes: h ? [h] : [],
    chunks: chunks && { chunkSize: C, out: chunks, cv },
    short: () => ((short = true), new BlockFrameError('BF_SHARD_CORRUPT', `shard ${sh.path} shrank while being read`)),
    readError: (err) => ((failed = failedState(n, sh.path, err)), err),
    signal: ctx.signal,
    onBytes: ctx.onBytes,
  }).catch((err) => {
    if (!short && !failed) throw err;
  });
  const digest = h ? await ctx.pool.digest(h) : failed || short ? '' : shardHashFromChunks(chunks!, C, sh.size);
  if (failed) return failed;
  if (short) return { n, path: sh.path, state: 'truncated' };
  const ok = digest === sh.hash;
  return { n, path: sh.path, state: ok ? 'ok' : 'corrupt', chunks: ok ? chunks : undefined, digest };
}

export interface RebuildResult {
  /** Chunk hashes of every rebuilt shard, by shard id. */
  chunks: Map<number, Uint8Array>;
  bytesRead: number;
  bytesWritten: number;
}

/**
 * Rebuild the shards `lost` (shard ids) of stripe `si` from its other shards, which must be intact, slice by
 * slice in bounded memory. Each rebuilt shard is checked against its manifest hash; with `write` it is spooled,
 * then put on its own store (atomically: readers see the old file or the new one), so a good file is never touched.
 * `keep(n)` says which rebuilt shards are written (default all); the others (on a store that is absent) are rebuilt
 * and checked only, as they are needed alongside.
 */
export async function rebuildShards(ctx: ArchiveCtx, si: number, lost: number[], write: boolean, keep: (n: number) => boolean = () => true): Promise<RebuildResult> {
  const st = ctx.code.stripes[si]!;
  const { k, m } = st;
  const C = ctx.code.chunkSize;
  const shard = (n: number) => ctx.code.shards[n]!;
  // Empty shards need no sources: the manifest determines them (docs/FORMAT.md §8), however many are lost.
  const fromManifest = lost.every((n) => knownShard(shard(n)));
  if (lost.length > m && !fromManifest) {
    throw new BlockFrameError('BF_UNRECOVERABLE', `archive ${ctx.dir}: ${st.label} lost ${lost.length} shards (${lost.map((n) => shard(n).path).join(', ')}); at most ${m} can be rebuilt`, {
      archive: ctx.dir,
      stripe: si,
    });
  }
  const lostSlots = new Set(lost.map((n) => st.slots.indexOf(n)));
  // Only k sources are read: absent slots (free zeros) and data first, then parity. The rest are rebuilt alongside
  // (cheap compute) rather than read (I/O, perhaps over a network).
  const use = new Set(st.slots.map((_, slot) => slot).filter((slot) => !lostSlots.has(slot)).sort((x, y) => Number(st.slots[x] !== null) - Number(st.slots[y] !== null) || x - y).slice(0, k));
  const spools = new Map<number, { spool: Spool; movable: boolean }>();
  const temps = new Map<number, SpoolFile>();
  const hashes = new Map(lost.map((n) => [n, ctx.pool.openHash()]));
  const chunks = new Map(lost.map((n) => [n, new Uint8Array(new SharedArrayBuffer(shard(n).chunkCount * HASH_LEN))]));
  let bytesRead = 0;
  let bytesWritten = 0;
  const source = async (n: number, v: Uint8Array, len: number, o: number): Promise<number> => {
    try {
      return await readShard(ctx, n, v.subarray(0, len), o);
    } catch (err) {
      const f = readFailure(err);
      throw new BlockFrameError('BF_UNRECOVERABLE', `archive ${ctx.dir}: cannot rebuild from ${st.label}: ${shard(n).path} is ${f === 'missing' ? 'missing' : f === 'not-a-file' ? 'not a regular file' : f === 'denied' ? 'on a store that denies access (check credentials)' : 'unreadable'}`, {
        archive: ctx.dir,
        shard: shard(n).path,
      }, { cause: err });
    }
  };
  try {
    if (write) {
      for (const n of lost) {
        if (!keep(n)) continue;
        const d = ctx.where[n]!;
        if (!spools.has(d)) spools.set(d, await spoolFor(ctx.repo, d));
        temps.set(n, await spools.get(d)!.spool.create(shard(n).path));
      }
    }
    const step = Math.max(C, Math.min(REBUILD_SLICE, st.shardSize));
    const mem = new Uint8Array(new SharedArrayBuffer((k + m) * step));
    for (let o = 0; !fromManifest && o < st.shardSize; o += step) {
      checkAborted(ctx.signal);
      const len = Math.min(step, st.shardSize - o);
      const views = Array.from({ length: k + m }, (_, i) => mem.subarray(i * step, i * step + len));
      // Absent slots (past the end of a short last block) are zeros; shards shorter than the stripe are zero-padded.
      await Promise.all(
        views.map(async (v, slot) => {
          const n = st.slots[slot];
          if (n === null || n === undefined || !use.has(slot)) return v.fill(0);
          const own = Math.max(0, Math.min(len, shard(n).size - o));
          const got = own > 0 ? await source(n, v, own, o) : 0;
          bytesRead += got;
          v.fill(0, got);
        }),
      );
      const shards = views.map((v, slot) => (use.has(slot) ? v : null));
      const outs = views.filter((_, slot) => !use.has(slot));
      await ctx.pool.reconstruct(k, m, shards, outs);
      for (const n of lost) {
        const own = Math.max(0, Math.min(len, shard(n).size - o));
        if (own === 0) continue;
        const v = views[st.slots.indexOf(n)]!.subarray(0, own);
        await Promise.all([temps.get(n)?.write(v, o), ctx.pool.update(hashes.get(n)!, v), ctx.pool.chunkHashes(v, C, chunks.get(n)!.subarray((o / C) * HASH_LEN), chunkCv(ctx.manifest, o / C, shard(n).size))]);
      }
    }
    for (const n of lost) {
      const got = await ctx.pool.digest(hashes.get(n)!);
      if (got !== shard(n).hash) {
        throw new BlockFrameError('BF_UNRECOVERABLE', `archive ${ctx.dir}: rebuilt ${shard(n).path} does not match its hash (other shards of ${st.label} are damaged too)`, {
          archive: ctx.dir,
          shard: shard(n).path,
        });
      }
    }
    for (const [n, t] of temps) {
      await t.finish();
      temps.delete(n);
      const d = ctx.where[n]!;
      const { spool, movable } = spools.get(d)!;
      await ctx.repo.set.on(d, async (b) => b.put(shardKey(ctx, n), await spool.source(shard(n).path, movable), ctx.signal));
      bytesWritten += shard(n).size;
    }
    return { chunks, bytesRead, bytesWritten };
  } finally {
    for (const t of temps.values()) await t.close();
    for (const s of spools.values()) await s.spool.discard().catch(() => undefined);
  }
}

/**
 * Stripe `si`'s chunks.idx section computed from its shards: intact ones are hashed, lost ones rebuilt in memory
 * (through this stripe when it can, otherwise each through its other stripe), and the result checked against the
 * manifest. With `partial`, shards that can't be rebuilt are listed in `unknown` and keep all-zero entries (no
 * chunk hashes to them, so nothing verifies against them) while the rest stays usable; without, that is
 * BF_UNRECOVERABLE.
 */
export async function computeSection(ctx: ArchiveCtx, si: number, partial = false): Promise<{ bytes: Uint8Array; unknown: number[] }> {
  const st = ctx.code.stripes[si]!;
  const slabs = new SlabPool(3, SLAB);
  const hashes = new Map<number, Uint8Array>();
  const lost: number[] = [];
  for (const n of st.section.shards) {
    const c = await checkShard(ctx, n, slabs, true);
    if (c.chunks) hashes.set(n, c.chunks);
    else lost.push(n);
  }
  const unless = (err: unknown) => (isBlockFrameError(err, 'BF_UNRECOVERABLE') ? null : Promise.reject(err));
  const together = lost.length && (lost.length <= st.m || lost.every((n) => knownShard(ctx.code.shards[n]!))) ? await rebuildShards(ctx, si, lost, false).catch(unless) : null;
  if (together) for (const [n, c] of together.chunks) hashes.set(n, c);
  // Tier 4: one by one through the other stripe (a rebuilt shard is not kept, so it can't feed another rebuild).
  for (const n of together ? [] : lost) {
    for (const other of ctx.code.stripesOf[n]!.filter((x) => x !== si)) {
      const got = await rebuildShards(ctx, other, [n], false).catch(unless);
      if (got) hashes.set(n, got.chunks.get(n)!);
      if (got) break;
    }
  }
  const missing = lost.filter((n) => !hashes.has(n));
  if (missing.length && !partial) {
    throw new BlockFrameError('BF_UNRECOVERABLE', `archive ${ctx.dir}: the chunk index of ${st.label} can't be recomputed: ${missing.map((n) => ctx.code.shards[n]!.path).join(', ')} can't be rebuilt`, {
      archive: ctx.dir,
      stripe: st.index,
    });
  }
  const section = new Uint8Array(st.section.length);
  for (const [n, c] of hashes) section.set(c, ctx.code.shards[n]!.chunkOffset - st.section.offset);
  if (missing.length === 0 && blake3Hex(section) !== st.section.hash) {
    // Every shard matches its hash, yet their chunk hashes don't give chunks_hash: the manifest itself is wrong.
    throw new BlockFrameError('BF_MANIFEST_INVALID', `archive ${ctx.dir}: the chunks_hash of ${st.label} in the manifest does not match its intact shards`, {
      archive: ctx.dir,
      field: 'chunks_hash',
    });
  }
  return { bytes: section, unknown: missing };
}
