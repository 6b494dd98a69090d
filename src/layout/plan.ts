// The commit plan (pure): tier, code and geometry of a new archive from its size and the store set, and the
// manifest that the shard hashes of a written plan produce. No I/O and no clock: the caller passes the time.
import { BlockFrameError } from '../errors.js';
import { RS_MATRIX } from '../codec/matrix.js';
import { merkleRootHex } from '../integrity/merkle.js';
import { CHUNK_INDEX_FILE, chunkIndexLayout, DEFAULT_CHUNK_SIZE, MAX_SECTION_BYTES } from './chunks.js';
import { computeGeometry, type Geometry } from './geometry.js';
import { FORMAT_VERSION, MERKLE_ALGORITHM, merkleLeaves, PACK_FORMAT_VERSION, type Manifest, type ManifestContent } from './manifest.js';
import { largeBlobSegmentSize, packSegmentSize, type PackFacts } from './pack.js';
import { chooseCode, PLACEMENT_RULE, type Placement } from './placement.js';
import { chooseTier, DEFAULTS, type Tier, type TierPolicy } from './tiers.js';
import { formatSize } from './units.js';

/** What a commit asks for; everything optional has the defaults of layout/tiers.ts. */
export interface PlanInput {
  /** Bytes of the stream that is erasure-coded (the stored stream with transforms, else the file). */
  storedBytes: number;
  /** Stores of the set, and how many whole stores an archive must survive losing. */
  stores: number;
  failures: number;
  tier?: Tier;
  policy?: Partial<TierPolicy>;
  segmentSize?: number;
  groupBlocks?: number;
}

export interface Plan {
  tier: Tier;
  geometry: Geometry;
  groupBlocks: number;
  /** Several stores: the placement the manifest records; undefined for one store. */
  placement: Placement | undefined;
}

/**
 * The tier (by size unless forced), the RS code the store set needs, and the geometry.
 * @throws BlockFrameError BF_USAGE (group size outside 1–100, or shards too large for one chunk-index section),
 * BF_INVALID_SIZE (segment size outside 4 KiB–1 GiB), BF_INVALID_TIER, BF_PLACEMENT_IMPOSSIBLE (stores that can't
 * survive `failures`; from chooseCode).
 */
export function planArchive(p: PlanInput): Plan {
  const policy: TierPolicy = { ...DEFAULTS, ...p.policy };
  const { tier } = chooseTier(p.storedBytes, policy, p.tier);
  const groupBlocks = p.groupBlocks ?? DEFAULTS.groupBlocks;
  if (!Number.isSafeInteger(groupBlocks) || groupBlocks < 1 || groupBlocks > 100) {
    throw new BlockFrameError('BF_USAGE', `invalid group size ${groupBlocks}: use 1 to 100 blocks per level-2 group`, { field: 'group_blocks' });
  }
  const segmentSize = p.segmentSize ?? DEFAULTS.segmentSize;
  if (!Number.isSafeInteger(segmentSize) || segmentSize < DEFAULTS.minSegmentSize || segmentSize > DEFAULTS.maxSegmentSize) {
    throw new BlockFrameError('BF_INVALID_SIZE', `invalid segment size ${segmentSize}: use 4 KiB to 1 GiB`, { field: 'segment_size' });
  }
  const { k, m } = chooseCode(tier, p.stores, p.failures);
  const placement: Placement | undefined = p.stores > 1 ? { rule: PLACEMENT_RULE, stores: p.stores, failures: p.failures } : undefined;
  const geometry = computeGeometry({ tier, size: p.storedBytes, segmentSize, groupBlocks, blockSegments: k, parityShards: m });
  const widest = Math.max(...chunkIndexLayout(geometry, DEFAULT_CHUNK_SIZE).map((s) => s.length));
  if (widest > MAX_SECTION_BYTES) {
    throw new BlockFrameError('BF_USAGE', `tier ${tier} with these settings keeps ${formatSize(geometry.stripes[0]!.shardSize)} shards: too large for one stripe; use tier 3 or smaller segments`, { field: 'tier' });
  }
  return { tier, geometry, groupBlocks, placement };
}

/**
 * The plan of a format-v3 pack whose stored stream (blobs and blob table) has `streamBytes` bytes (docs/FORMAT.md
 * §13.2): Tier 3 with the store set's code (RS(30,3) on one store) and one stripe (segment size from
 * packSegmentSize). Errors as planArchive.
 */
export function planPack(streamBytes: number, stores: number, failures: number): Plan {
  const { k } = chooseCode(3, stores, failures);
  return planArchive({ storedBytes: streamBytes, stores, failures, tier: 3, segmentSize: packSegmentSize(streamBytes, k) });
}

/**
 * The plan of a large blob's archive of `size` bytes (docs/FORMAT.md §13.1): Tier 3 (Tier 4 from the Tier 4
 * threshold, 35 GiB) with the store set's code and full blocks (segment size from largeBlobSegmentSize).
 */
export function planLargeBlob(size: number, stores: number, failures: number): Plan {
  const tier: Tier = size >= DEFAULTS.tier4Threshold ? 4 : 3;
  const { k } = chooseCode(tier, stores, failures);
  return planArchive({ storedBytes: size, stores, failures, tier, segmentSize: Math.min(DEFAULTS.maxSegmentSize, largeBlobSegmentSize(size, k)) });
}

/** The hashes a shard writer reports for a plan (hex BLAKE3). */
export interface ShardHashes {
  /** Per stripe: data shard hashes, parity shard hashes, and the hash of the stripe's chunks.idx section. */
  data: string[][];
  parity: string[][];
  chunks: string[];
  /** Tier 4, per level-2 stripe: its parity shard hashes and the hash of its chunks.idx section. */
  level2Parity: string[][];
  level2Chunks: string[];
  /** BLAKE3 of the erasure-coded stream (the file, without transforms). */
  original: string;
}

/** What the manifest says of the file beyond its shards. */
export interface ManifestFacts {
  name: string;
  /** The file's size in bytes (the plaintext size with transforms). */
  size: number;
  source: Manifest['source'];
  /** Format v2 transforms: the content section and the plaintext's BLAKE3; null without transforms. */
  transformed: { content: ManifestContent; plainHash: string } | null;
  /** ISO 8601, and the writer ("blockframe X.Y.Z"). */
  createdAt: string;
  generator: string;
  /** A format-v3 pack (docs/FORMAT.md §13.2): its `pack` field; the manifest is then version 3. */
  pack?: PackFacts;
}

/**
 * The manifest of plan `p` written with hashes `h` (docs/FORMAT.md §7, §12): name, original hash and source are
 * left out when the content is encrypted (they are sealed in content.encryption.metadata instead).
 */
export function buildManifest(p: Plan, h: ShardHashes, f: ManifestFacts): Manifest {
  const g = p.geometry;
  const t = f.transformed;
  const sealed = t?.content.encryption !== undefined;
  const stripes = g.stripes.map((st, i) => ({
    index: st.index,
    shard_size: st.shardSize,
    data: st.segments.map((s, j) => ({ index: s.index, path: s.path, offset: s.offset, size: s.size, hash: h.data[i]![j]! })),
    parity: st.parity.map((q, j) => ({ index: q.index, path: q.path, size: q.size, hash: h.parity[i]![j]! })),
    chunks_hash: h.chunks[i]!,
  }));
  const level2 =
    g.tier === 4
      ? {
          group_blocks: p.groupBlocks,
          parity_shards: DEFAULTS.level2ParityShards,
          stripes: g.level2.map((st, i) => ({
            index: st.index,
            group: st.group,
            position: st.position,
            shard_size: st.shardSize,
            parity: st.parity.map((q, j) => ({ index: q.index, path: q.path, size: q.size, hash: h.level2Parity[i]![j]! })),
            chunks_hash: h.level2Chunks[i]!,
          })),
        }
      : undefined;
  const leaves = merkleLeaves({ stripes, level2 });
  return {
    format_version: f.pack ? PACK_FORMAT_VERSION : FORMAT_VERSION,
    ...(!sealed && { name: f.name }),
    size: f.size,
    ...(!sealed && { original_hash: t?.plainHash ?? h.original }),
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
    ...(!sealed && f.source !== undefined && { source: f.source }),
    ...(p.placement && { placement: p.placement }),
    ...(t && { content: t.content }),
    ...(f.pack && { pack: f.pack }),
    merkle: { algorithm: MERKLE_ALGORITHM, leaf_count: leaves.length, root: merkleRootHex(leaves) },
    created_at: f.createdAt,
    generator: f.generator,
  };
}
