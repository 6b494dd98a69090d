// commit: turn one input file into a published archive (spool → fsync → publish on every store), idempotently.
import { open, stat, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { BlockFrameError, fromSystemError } from '../errors.js';
import { RS_MATRIX } from '../codec/index.js';
import { merkleRootHex } from '../integrity/merkle.js';
import { computeGeometry, type Geometry } from '../layout/geometry.js';
import { FORMAT_VERSION, MERKLE_ALGORITHM, merkleLeaves, serializeManifest, type Manifest } from '../layout/manifest.js';
import { archiveDirName, safeNameComponent } from '../layout/names.js';
import { chooseTier, DEFAULTS, type Tier, type TierPolicy } from '../layout/tiers.js';
import { chooseCode, pathStores, PLACEMENT_RULE, type Placement } from '../layout/placement.js';
import { cleanLeftovers, Staging } from '../archive/publish.js';
import { withRepo, type Repository } from '../archive/repo.js';
import { checkAborted, withPool, type OperationOptions } from './context.js';
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
  /** Archive directory name under the root (on every store). */
  dir: string;
  /** Where it is: the absolute path of the archive directory for a single store, else "dir on N stores (…)". */
  path: string;
  size: number;
  tier: Tier;
  originalHash: string;
  segments: number;
  stripes: number;
  manifest: Manifest;
}

export async function commit(file: string, opts: CommitOptions = {}): Promise<CommitResult> {
  return withRepo(opts, (repo) => commitTo(repo, file, opts));
}

async function commitTo(repo: Repository, file: string, opts: CommitOptions): Promise<CommitResult> {
  const name = opts.name ?? basename(file);
  if (name.length === 0 || name.length > 4096) throw new BlockFrameError('BF_USAGE', `invalid archive name: it must have 1 to 4096 characters (it has ${name.length})`, { field: 'name' });
  const before = await statInput(file);
  const policy: TierPolicy = { ...DEFAULTS, ...opts.policy };
  const choice = chooseTier(before.size, policy, opts.tier);
  const groupBlocks = opts.groupBlocks ?? DEFAULTS.groupBlocks;
  if (!Number.isSafeInteger(groupBlocks) || groupBlocks < 1 || groupBlocks > 100) {
    throw new BlockFrameError('BF_USAGE', `invalid group size ${groupBlocks}: use 1 to 100 blocks per level-2 group`, { field: 'group_blocks' });
  }
  // The code follows from the stores: refused here, before anything is written, when they can't survive the failures.
  const stores = repo.set.size;
  const failures = repo.set.failures;
  const { k, m } = chooseCode(choice.tier, stores, failures);
  const placement: Placement | undefined = stores > 1 ? { rule: PLACEMENT_RULE, stores, failures } : undefined;
  const geometry = computeGeometry({ tier: choice.tier, size: before.size, segmentSize: opts.segmentSize ?? DEFAULTS.segmentSize, groupBlocks, blockSegments: k, parityShards: m });
  let input: FileHandle;
  try {
    input = await open(file, 'r');
  } catch (err) {
    throw fromSystemError(err, file, 'opening the input');
  }
  try {
    return await withPool(opts, async (pool) => {
      // Idempotence: only when an archive of the same name and size exists do we pay a hash pass to compare.
      const existing = await sameNameAndSize(repo, name, before.size);
      if (existing.length) {
        const hash = await hashFile(pool, input, file, before.size, opts);
        const hit = existing.find((e) => e.manifest.original_hash === hash);
        if (hit) {
          await checkUnchanged(file, before);
          return result('already-archived', repo, hit.dir, hit.manifest);
        }
      }
      await cleanLeftovers(repo);
      const where = pathStores(geometry, stores);
      const staging = await Staging.create(repo, (rel) => where.get(rel) ?? 0);
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
        const manifest = buildManifest(name, geometry, hashes, groupBlocks, placement);
        const dir = archiveDirName(name, hashes.original);
        const outcome = await staging.publish(dir, serializeManifest(manifest), opts.signal);
        return result(outcome === 'published' ? 'archived' : 'already-archived', repo, dir, outcome === 'published' ? manifest : await repo.readManifest(dir));
      } catch (err) {
        await staging.discard();
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

async function sameNameAndSize(store: Repository, name: string, size: number): Promise<{ dir: string; manifest: Manifest }[]> {
  const prefix = `${safeNameComponent(name)}_`;
  const out: { dir: string; manifest: Manifest }[] = [];
  for (const dir of await store.listDirs()) {
    if (!dir.startsWith(prefix)) continue;
    const manifest = await store.readManifest(dir).catch(() => null);
    if (manifest && manifest.size === size && manifest.name === name) out.push({ dir, manifest });
  }
  return out;
}

function buildManifest(name: string, g: Geometry, h: ShardHashes, groupBlocks: number, placement?: Placement): Manifest {
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
    ...(placement && { placement }),
    merkle: { algorithm: MERKLE_ALGORITHM, leaf_count: leaves.length, root: merkleRootHex(leaves) },
    created_at: new Date().toISOString(),
    generator: `blockframe ${VERSION}`,
  };
}

function result(status: CommitResult['status'], store: Repository, dir: string, manifest: Manifest): CommitResult {
  return {
    status,
    name: manifest.name,
    dir,
    path: store.where(dir),
    size: manifest.size,
    tier: manifest.tier,
    originalHash: manifest.original_hash,
    segments: manifest.stripes.reduce((n, s) => n + s.data.length, 0),
    stripes: manifest.stripes.length,
    manifest,
  };
}
