// Raw shards for frontends that hand out pieces as stored (the JSON API's shard downloads and health map):
// which shards an archive has and where they are, and one shard's bytes, damaged or not, through its store.
import { BlockFrameError } from '../errors.js';
import type { ComputePool } from '../compute/pool.js';
import type { Manifest } from '../layout/manifest.js';
import type { Repository } from '../archive/repo.js';
import { archiveCtx, readFailure, readShard, statShard } from '../archive/shards.js';

export interface ShardEntry {
  path: string;
  role: 'data' | 'parity';
  /** 1 for every shard but Tier 4's level-2 parity (2). */
  level: 1 | 2;
  /** Index of the stripe within its level (manifest stripes[] or level2.stripes[]). */
  stripe: number;
  index: number;
  /** Bytes, as the manifest records it. */
  size: number;
  /** The store (1-based) that holds the shard; always 1 for a single store. */
  store: number;
}

/**
 * Every shard of `manifest` in Merkle-leaf order (level-1 stripes: data then parity; then level-2 parity) with the
 * store that holds it. @throws BlockFrameError BF_STORE_CONFIG when the archive spans another number of stores.
 */
export function shardEntries(repo: Repository, dir: string, manifest: Manifest, pool: ComputePool): ShardEntry[] {
  const where = archiveCtx(repo, dir, manifest, pool).where;
  const out: ShardEntry[] = [];
  // Merkle-leaf order is shard-id order, so the n-th entry is shard n.
  const add = (level: 1 | 2, stripe: number, role: ShardEntry['role'], index: number, sh: { path: string; size: number }) =>
    out.push({ path: sh.path, role, level, stripe, index, size: sh.size, store: where[out.length]! + 1 });
  manifest.stripes.forEach((st, si) => {
    st.data.forEach((d, i) => add(1, si, 'data', i, d));
    st.parity.forEach((p) => add(1, si, 'parity', p.index, p));
  });
  manifest.level2?.stripes.forEach((st, si) => st.parity.forEach((p) => add(2, si, 'parity', p.index, p)));
  return out;
}

/** One shard as its store holds it: its size now, and ranged reads (fewer bytes only at its end). */
export interface StoredShard {
  size: number;
  read(into: Uint8Array, offset: number): Promise<number>;
}

/**
 * Open shard `path` (a path of the manifest) of archive `dir` on its store, as stored, without checking its hash.
 * @throws BlockFrameError BF_SHARD_MISSING (absent, or its store did not answer), BF_SHARD_CORRUPT (not a regular
 * file), BF_STORE_DENIED (the store refused our credentials), BF_STORE_CONFIG (another number of stores).
 */
export async function openStoredShard(repo: Repository, dir: string, manifest: Manifest, pool: ComputePool, path: string): Promise<StoredShard> {
  const actx = archiveCtx(repo, dir, manifest, pool);
  const n = actx.code.shards.findIndex((x) => x.path === path);
  if (n < 0) throw new BlockFrameError('BF_SHARD_MISSING', `archive ${dir} has no shard ${path}`, { archive: dir, shard: path });
  let info;
  try {
    info = await statShard(actx, n);
  } catch (err) {
    const f = readFailure(err);
    if (f === 'not-a-file') throw new BlockFrameError('BF_SHARD_CORRUPT', `shard ${path} is not a regular file`, { archive: dir, shard: path });
    if (f === 'denied') throw new BlockFrameError('BF_STORE_DENIED', `shard ${path} can't be read: its store denies access (check credentials)`, { archive: dir, shard: path });
    throw new BlockFrameError('BF_SHARD_MISSING', `shard ${path} can't be read: its store did not answer (run: blockframe verify)`, { archive: dir, shard: path });
  }
  if (!info) throw new BlockFrameError('BF_SHARD_MISSING', `shard ${path} is missing (run: blockframe repair)`, { archive: dir, shard: path });
  return { size: info.size, read: (into, offset) => readShard(actx, n, into, offset) };
}
