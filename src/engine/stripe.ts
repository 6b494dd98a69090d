// Stripe-level work for verify, repair and the reader: check each shard once, rebuild lost shards from the rest.
import { chmod, lstat, mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BlockFrameError, fromSystemError, isBlockFrameError } from '../errors.js';
import { SlabPool, type ComputePool } from '../compute/pool.js';
import { blake3Hex } from '../integrity/blake3.js';
import { HASH_LEN } from '../layout/chunks.js';
import { codeLayout, type CodeLayout } from '../layout/code.js';
import type { Manifest } from '../layout/manifest.js';
import { fsyncDir, openRegular, readFully, tempSibling, writeFully } from '../store/fsutil.js';
import type { LocalStore } from '../store/local.js';
import { checkAborted } from './context.js';
import { pump } from './pump.js';

export type ShardState = 'ok' | 'missing' | 'truncated' | 'corrupt';

export interface ArchiveCtx {
  store: LocalStore;
  dir: string;
  manifest: Manifest;
  pool: ComputePool;
  code: CodeLayout;
  signal?: AbortSignal;
  onBytes?: (n: number) => void;
}

export function archiveCtx(store: LocalStore, dir: string, manifest: Manifest, pool: ComputePool, opts: { signal?: AbortSignal; onBytes?: (n: number) => void } = {}): ArchiveCtx {
  return { store, dir, manifest, pool, code: codeLayout(manifest), ...opts };
}

export interface ShardCheck {
  /** Shard id (CodeLayout.shards). */
  n: number;
  path: string;
  state: ShardState;
  /** Per-chunk hashes computed while checking (only when asked for and the shard is ok). */
  chunks?: Uint8Array;
  /** BLAKE3 of the bytes on disk, when the size was right. */
  digest?: string;
}

const SLAB = 4 * 1024 * 1024;
const REBUILD_SLICE = 256 * 1024;

/** Hash one shard (one read) and compare it with the manifest: size first, then BLAKE3. */
export async function checkShard(ctx: ArchiveCtx, n: number, slabs: SlabPool, withChunks = false): Promise<ShardCheck> {
  const sh = ctx.code.shards[n]!;
  const abs = ctx.store.path(ctx.dir, sh.path);
  const fh = await openRegular(abs).catch((err) => Promise.reject(fromSystemError(err, abs, 'opening a shard')));
  if (fh === 'missing') return { n, path: sh.path, state: 'missing' };
  // A directory or symlink where a shard belongs is damage like any other (and a link is never followed).
  if (fh === 'not-a-file') return { n, path: sh.path, state: 'corrupt' };
  try {
    const { size } = await fh.stat();
    if (size !== sh.size) return { n, path: sh.path, state: size < sh.size ? 'truncated' : 'corrupt' };
    const h = ctx.pool.openHash();
    const chunks = withChunks ? new Uint8Array(new SharedArrayBuffer(sh.chunkCount * HASH_LEN)) : undefined;
    let short = false;
    await pump({
      pool: ctx.pool,
      slabs,
      src: fh,
      offset: 0,
      size: sh.size,
      hashes: [h],
      chunks: chunks && { chunkSize: ctx.manifest.chunk_index.chunk_size, out: chunks },
      short: () => ((short = true), new BlockFrameError('BF_SHARD_CORRUPT', `shard ${sh.path} shrank while being read`)),
      signal: ctx.signal,
      onBytes: ctx.onBytes,
    }).catch((err) => {
      if (!short) throw err;
    });
    const digest = await ctx.pool.digest(h);
    if (short) return { n, path: sh.path, state: 'truncated' };
    const ok = digest === sh.hash;
    return { n, path: sh.path, state: ok ? 'ok' : 'corrupt', chunks: ok ? chunks : undefined, digest };
  } finally {
    await fh.close();
  }
}

export interface RebuildResult {
  /** Chunk hashes of every rebuilt shard, by shard id. */
  chunks: Map<number, Uint8Array>;
  bytesRead: number;
}

/**
 * Rebuild the shards `lost` (shard ids) of stripe `si` from its other shards, which must be intact, slice by
 * slice in bounded memory. Each rebuilt shard is checked against its manifest hash; with `write` it is then
 * written through a temp file, fsynced and renamed into place, so a good file is never touched.
 */
export async function rebuildShards(ctx: ArchiveCtx, si: number, lost: number[], write: boolean): Promise<RebuildResult> {
  const st = ctx.code.stripes[si]!;
  const { k, m } = st;
  const C = ctx.code.chunkSize;
  const shard = (n: number) => ctx.code.shards[n]!;
  if (lost.length > m) {
    throw new BlockFrameError('BF_UNRECOVERABLE', `archive ${ctx.dir}: ${st.label} lost ${lost.length} shards (${lost.map((n) => shard(n).path).join(', ')}); at most ${m} can be rebuilt`, {
      archive: ctx.dir,
      stripe: si,
    });
  }
  const lostSlots = new Set(lost.map((n) => st.slots.indexOf(n)));
  const sources = new Map<number, FileHandle>();
  const temps = new Map<number, { fh: FileHandle; path: string; final: string }>();
  const hashes = new Map(lost.map((n) => [n, ctx.pool.openHash()]));
  const chunks = new Map(lost.map((n) => [n, new Uint8Array(new SharedArrayBuffer(shard(n).chunkCount * HASH_LEN))]));
  let bytesRead = 0;
  try {
    for (const [slot, n] of st.slots.entries()) {
      if (n === null || lostSlots.has(slot)) continue;
      const abs = ctx.store.path(ctx.dir, shard(n).path);
      const fh = await openRegular(abs).catch((err) => Promise.reject(fromSystemError(err, abs, 'opening a shard')));
      if (typeof fh === 'string') {
        throw new BlockFrameError('BF_UNRECOVERABLE', `archive ${ctx.dir}: cannot rebuild from ${st.label}: ${shard(n).path} is ${fh === 'missing' ? 'missing' : 'not a regular file'}`, {
          archive: ctx.dir,
          shard: shard(n).path,
        });
      }
      sources.set(slot, fh);
    }
    if (write) {
      for (const n of lost) {
        const final = ctx.store.path(ctx.dir, shard(n).path);
        const path = tempSibling(final, 'repair');
        await ensureShardDir(ctx, shard(n).path);
        const fh = await open(path, 'wx', 0o644).catch((err) => Promise.reject(fromSystemError(err, path, 'creating a repaired shard')));
        temps.set(n, { fh, path, final });
      }
    }
    const step = Math.max(C, Math.min(REBUILD_SLICE, st.shardSize));
    const mem = new Uint8Array(new SharedArrayBuffer((k + m) * step));
    for (let o = 0; o < st.shardSize; o += step) {
      checkAborted(ctx.signal);
      const len = Math.min(step, st.shardSize - o);
      const views = Array.from({ length: k + m }, (_, i) => mem.subarray(i * step, i * step + len));
      // Absent slots (past the end of a short last block) are zeros; shards shorter than the stripe are zero-padded.
      await Promise.all(
        views.map(async (v, slot) => {
          const fh = sources.get(slot);
          if (!fh) return v.fill(0);
          const own = Math.max(0, Math.min(len, shard(st.slots[slot]!).size - o));
          const got = own > 0 ? await readFully(fh, v, own, o) : 0;
          bytesRead += got;
          v.fill(0, got);
        }),
      );
      const shards = views.map((v, slot) => (lostSlots.has(slot) ? null : v));
      const outs = views.filter((_, slot) => lostSlots.has(slot));
      await ctx.pool.reconstruct(k, m, shards, outs);
      for (const n of lost) {
        const own = Math.max(0, Math.min(len, shard(n).size - o));
        if (own === 0) continue;
        const v = views[st.slots.indexOf(n)]!.subarray(0, own);
        const t = temps.get(n);
        await Promise.all([
          t && writeFully(t.fh, v, o),
          ctx.pool.update(hashes.get(n)!, v),
          ctx.pool.chunkHashes(v, C, chunks.get(n)!.subarray((o / C) * HASH_LEN)),
        ]);
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
    for (const t of temps.values()) {
      await t.fh.sync();
      await t.fh.close();
      await chmod(t.path, 0o444);
      // rename() replaces a file or a symlink, but not a directory squatting on the shard's path.
      if ((await lstat(t.final).catch(() => null))?.isDirectory()) await rm(t.final, { recursive: true, force: true });
      await rename(t.path, t.final);
      await fsyncDir(dirname(t.final));
    }
    temps.clear();
    return { chunks, bytesRead };
  } finally {
    for (const fh of sources.values()) await fh.close().catch(() => undefined);
    for (const t of temps.values()) {
      await t.fh.close().catch(() => undefined);
      await rm(t.path, { force: true });
    }
  }
}

/**
 * Make sure the directories above shard `rel` exist as directories (a whole block directory may be gone, or a
 * file may squat on its name), creating them inside the archive and fsyncing each parent that changed.
 */
async function ensureShardDir(ctx: ArchiveCtx, rel: string): Promise<void> {
  const parts = rel.split('/').slice(0, -1);
  for (let i = 1; i <= parts.length; i++) {
    const dir = ctx.store.path(ctx.dir, parts.slice(0, i).join('/'));
    const st = await lstat(dir).catch(() => null);
    if (st?.isDirectory()) continue;
    try {
      if (st) await rm(dir, { force: true });
      await mkdir(dir);
      await fsyncDir(dirname(dir));
    } catch (err) {
      throw fromSystemError(err, dir, 'recreating a shard directory');
    }
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
  const together = lost.length && lost.length <= st.m ? await rebuildShards(ctx, si, lost, false).catch(unless) : null;
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
    throw new BlockFrameError('BF_INTERNAL', `archive ${ctx.dir}: recomputed chunk index of ${st.label} does not match the manifest`, { archive: ctx.dir });
  }
  return { bytes: section, unknown: missing };
}
