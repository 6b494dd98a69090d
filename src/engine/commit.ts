// commit: turn one input file into a published archive directory (staging → fsync → rename), idempotently.
import { open, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { BlockFrameError, fromSystemError } from '../errors.js';
import { RS_MATRIX } from '../codec/index.js';
import { merkleRootHex } from '../integrity/merkle.js';
import { computeGeometry, type Geometry } from '../layout/geometry.js';
import { FORMAT_VERSION, MERKLE_ALGORITHM, merkleLeaves, serializeManifest, type Manifest } from '../layout/manifest.js';
import { archiveDirName, safeNameComponent } from '../layout/names.js';
import { chooseTier, DEFAULTS, type Tier, type TierPolicy } from '../layout/tiers.js';
import { fsyncDir } from '../store/fsutil.js';
import { writeManifestSet, type LocalStore } from '../store/local.js';
import { checkAborted, storeFor, withPool, type OperationOptions } from './context.js';
import { hashFile } from './hash-file.js';
import { changed, writeShards, type ShardHashes } from './shard-writer.js';
import { CHUNK_INDEX_FILE, DEFAULT_CHUNK_SIZE } from '../layout/chunks.js';
import { VERSION } from '../version.js';

export interface CommitOptions extends OperationOptions {
  /** Force a tier instead of choosing by size. */
  tier?: Tier;
  /** Segment size for Tiers 2 to 4 (default 32 MiB). */
  segmentSize?: number;
  /** Override the size thresholds between tiers. */
  policy?: Partial<TierPolicy>;
  /** Name recorded in the manifest (default: the input's base name). */
  name?: string;
  /** Tier 4: target blocks per level-2 group (default 24; see docs/FORMAT.md for the overhead it gives). */
  groupBlocks?: number;
}

export interface CommitResult {
  status: 'archived' | 'already-archived';
  name: string;
  /** Archive directory name under the root. */
  dir: string;
  /** Absolute path of the archive directory. */
  path: string;
  size: number;
  tier: Tier;
  originalHash: string;
  segments: number;
  stripes: number;
  manifest: Manifest;
}

export async function commit(file: string, opts: CommitOptions = {}): Promise<CommitResult> {
  const store = storeFor(opts);
  const name = opts.name ?? basename(file);
  const before = await statInput(file);
  const policy: TierPolicy = { ...DEFAULTS, ...opts.policy };
  const choice = chooseTier(before.size, policy, opts.tier);
  const groupBlocks = opts.groupBlocks ?? DEFAULTS.groupBlocks;
  if (!Number.isSafeInteger(groupBlocks) || groupBlocks < 1 || groupBlocks > 100) {
    throw new BlockFrameError('BF_USAGE', `invalid group size ${groupBlocks}: use 1 to 100 blocks per level-2 group`, { field: 'group_blocks' });
  }
  const geometry = computeGeometry({ tier: choice.tier, size: before.size, segmentSize: opts.segmentSize ?? DEFAULTS.segmentSize, groupBlocks });
  await store.ensureRoot();
  await store.cleanStaleStaging();
  let input: FileHandle;
  try {
    input = await open(file, 'r');
  } catch (err) {
    throw fromSystemError(err, file, 'opening the input');
  }
  try {
    return await withPool(opts, async (pool) => {
      // Idempotence: only when an archive of the same name and size exists do we pay a hash pass to compare.
      const existing = await sameNameAndSize(store, name, before.size);
      if (existing.length) {
        const hash = await hashFile(pool, input, file, before.size, opts);
        const hit = existing.find((e) => e.manifest.original_hash === hash);
        if (hit) {
          await checkUnchanged(file, before);
          return result('already-archived', store, hit.dir, hit.manifest);
        }
      }
      const staging = await store.createStaging();
      try {
        checkAborted(opts.signal);
        let done = 0;
        const total = before.size + [...geometry.stripes, ...geometry.level2].reduce((s, st) => s + st.shardSize * st.parityShards, 0);
        const hashes = await writeShards({
          input,
          inputPath: file,
          geometry,
          chunkSize: DEFAULT_CHUNK_SIZE,
          staging,
          pool,
          signal: opts.signal,
          onBytes: (n) => opts.onProgress?.((done += n), total),
        });
        await checkUnchanged(file, before);
        const manifest = buildManifest(name, geometry, hashes, groupBlocks);
        await writeManifestSet(staging, serializeManifest(manifest));
        await syncTree(staging, geometry);
        const dir = archiveDirName(name, hashes.original);
        const outcome = await store.publish(staging, dir);
        return result(outcome === 'published' ? 'archived' : 'already-archived', store, dir, outcome === 'published' ? manifest : await store.readManifest(dir));
      } catch (err) {
        await rm(staging, { recursive: true, force: true });
        throw err;
      }
    });
  } finally {
    await input.close();
  }
}

interface InputStat {
  size: number;
  mtimeMs: number;
  ino: number;
}

async function statInput(file: string): Promise<InputStat> {
  let st;
  try {
    st = await stat(file);
  } catch (err) {
    throw fromSystemError(err, file, 'reading the input');
  }
  if (!st.isFile()) {
    throw new BlockFrameError('BF_NOT_A_FILE', `not a regular file: ${file}${st.isDirectory() ? ' (it is a directory)' : ''}`, { path: file });
  }
  return { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
}

async function checkUnchanged(file: string, before: InputStat): Promise<void> {
  const after = await statInput(file).catch(() => null);
  if (!after || after.size !== before.size || after.mtimeMs !== before.mtimeMs || after.ino !== before.ino) throw changed(file);
}

async function sameNameAndSize(store: LocalStore, name: string, size: number): Promise<{ dir: string; manifest: Manifest }[]> {
  const prefix = `${safeNameComponent(name)}_`;
  const out: { dir: string; manifest: Manifest }[] = [];
  for (const dir of await store.listDirs()) {
    if (!dir.startsWith(prefix)) continue;
    const manifest = await store.readManifest(dir).catch(() => null);
    if (manifest && manifest.size === size && manifest.name === name) out.push({ dir, manifest });
  }
  return out;
}

function buildManifest(name: string, g: Geometry, h: ShardHashes, groupBlocks: number): Manifest {
  const stripes = g.stripes.map((st, i) => ({
    index: st.index,
    shard_size: st.shardSize,
    data: st.segments.map((s, j) => ({ index: s.index, path: s.path, offset: s.offset, size: s.size, hash: h.data[i]![j]! })),
    parity: st.parity.map((p, j) => ({ index: p.index, path: p.path, size: p.size, hash: h.parity[i]![j]! })),
    chunks_hash: h.chunks[i]!,
  }));
  const level2 =
    g.tier === 4
      ? {
          group_blocks: groupBlocks,
          parity_shards: DEFAULTS.level2ParityShards,
          stripes: g.level2.map((st, i) => ({
            index: st.index,
            group: st.group,
            position: st.position,
            shard_size: st.shardSize,
            parity: st.parity.map((p, j) => ({ index: p.index, path: p.path, size: p.size, hash: h.level2Parity[i]![j]! })),
            chunks_hash: h.level2Chunks[i]!,
          })),
        }
      : undefined;
  const leaves = merkleLeaves({ stripes, level2 });
  return {
    format_version: FORMAT_VERSION,
    name,
    size: g.size,
    original_hash: h.original,
    tier: g.tier,
    segment_size: g.segmentSize,
    erasure_coding: {
      type: 'reed-solomon',
      field: 'gf(2^8)/0x11d',
      matrix: RS_MATRIX,
      data_shards: g.stripes[0]!.dataShards,
      parity_shards: g.stripes[0]!.parityShards,
    },
    chunk_index: { path: CHUNK_INDEX_FILE, chunk_size: DEFAULT_CHUNK_SIZE },
    stripes,
    ...(level2 && { level2 }),
    merkle: { algorithm: MERKLE_ALGORITHM, leaf_count: leaves.length, root: merkleRootHex(leaves) },
    created_at: new Date().toISOString(),
    generator: `blockframe ${VERSION}`,
  };
}

/** fsync every directory of the staged tree, deepest first, so the published tree is durable as a whole. */
async function syncTree(staging: string, g: Geometry): Promise<void> {
  const dirs = new Set<string>();
  const paths = [...g.stripes.flatMap((st) => [...st.segments.map((s) => s.path), ...st.parity.map((x) => x.path)]), ...g.level2.flatMap((st) => st.parity.map((x) => x.path))];
  for (const p of paths) {
    const parts = p.split('/');
    for (let i = parts.length - 1; i > 0; i--) dirs.add(parts.slice(0, i).join('/'));
  }
  const sorted = [...dirs].sort((x, y) => y.split('/').length - x.split('/').length);
  for (const d of sorted) await fsyncDir(join(staging, d));
  await fsyncDir(staging);
}

function result(status: CommitResult['status'], store: LocalStore, dir: string, manifest: Manifest): CommitResult {
  return {
    status,
    name: manifest.name,
    dir,
    path: store.path(dir),
    size: manifest.size,
    tier: manifest.tier,
    originalHash: manifest.original_hash,
    segments: manifest.stripes.reduce((n, s) => n + s.data.length, 0),
    stripes: manifest.stripes.length,
    manifest,
  };
}
