// Stripe geometry: how a file of a given size and tier splits into segments, stripes and shard paths.
import { BlockFrameError } from '../errors.js';
import { DEFAULTS, type Tier } from './tiers.js';
import { shardPath } from './keys.js';

/** One data shard: a byte range of the original file stored verbatim (never padded) in its own file. */
export interface SegmentGeometry {
  /** Global segment number, 0-based, in file order. */
  index: number;
  /** Offset of the segment in the original file. */
  offset: number;
  /** Bytes stored in the segment file. */
  size: number;
  /** Path relative to the archive directory, always with '/' separators. */
  path: string;
}

export interface ParityGeometry {
  /** Parity row, 0..m-1. */
  index: number;
  size: number;
  path: string;
}

/** One erasure-coding unit: k data shards (segments) and m parity shards of shard_size bytes. */
export interface StripeGeometry {
  index: number;
  /** Nominal k of the code; a short last Tier 3 block has fewer segments, the rest count as all-zero shards. */
  dataShards: number;
  parityShards: number;
  /** Encoding length: the longest segment of the stripe. Shorter segments are zero-padded to it for encoding only. */
  shardSize: number;
  segments: SegmentGeometry[];
  parity: ParityGeometry[];
}

/**
 * Tier 4 level 2: one stripe per (group of blocks, segment position). Its data shards are the segments at that
 * position in each block of the group (the same files as level 1; nothing is stored twice), its parity shards
 * live under level2/.
 */
export interface Level2StripeGeometry {
  index: number;
  group: number;
  /** Segment position inside a block, 0..blockSegments-1. */
  position: number;
  /** Nominal k: the number of blocks in the group; a block without a segment at this position counts as zeros. */
  dataShards: number;
  parityShards: number;
  shardSize: number;
  /** One entry per block of the group, in block order; null where that (short last) block has no such segment. */
  members: (SegmentGeometry | null)[];
  parity: ParityGeometry[];
}

/** A Tier 4 group: consecutive blocks [firstBlock, firstBlock + blocks). */
export interface GroupGeometry {
  index: number;
  firstBlock: number;
  blocks: number;
}

export interface Geometry {
  tier: Tier;
  size: number;
  segmentSize: number;
  segmentCount: number;
  stripes: StripeGeometry[];
  /** Tier 4 only (empty otherwise). */
  groups: GroupGeometry[];
  level2: Level2StripeGeometry[];
}

export interface GeometryParams {
  tier: Tier;
  size: number;
  segmentSize: number;
  blockSegments?: number;
  parityShards?: number;
  /** Tier 4: target blocks per level-2 group. */
  groupBlocks?: number;
  /** Tier 4: parity shards per level-2 stripe. */
  level2ParityShards?: number;
}

/** The segment size recorded for a tier: Tier 1 stores the whole file as one segment. */
export function effectiveSegmentSize(tier: Tier, size: number, segmentSize: number): number {
  return tier === 1 ? size : segmentSize;
}

export function computeGeometry(p: GeometryParams): Geometry {
  const m = p.parityShards ?? DEFAULTS.parityShards;
  const blockSegments = p.blockSegments ?? DEFAULTS.blockSegments;
  if (!Number.isSafeInteger(p.size) || p.size < 0) throw internal(`bad file size ${p.size}`);
  const segmentSize = effectiveSegmentSize(p.tier, p.size, p.segmentSize);
  if (p.tier !== 1 && (!Number.isSafeInteger(segmentSize) || segmentSize < 1)) {
    throw new BlockFrameError('BF_INVALID_SIZE', `invalid segment size ${segmentSize}: must be at least 1 byte`, { field: 'segment_size' });
  }
  const segmentCount = p.tier === 1 ? 1 : Math.max(1, Math.ceil(p.size / segmentSize));
  const segments: SegmentGeometry[] = [];
  for (let i = 0; i < segmentCount; i++) {
    const offset = i * segmentSize;
    const size = p.tier === 1 ? p.size : Math.min(segmentSize, p.size - offset);
    segments.push({ index: i, offset, size, path: '' });
  }
  const stripes: StripeGeometry[] = [];
  if (p.tier === 1) {
    segments[0]!.path = shardPath.tier1Data();
    stripes.push(stripe(0, 1, m, segments, shardPath.tier1Parity));
  } else if (p.tier === 2) {
    for (const s of segments) {
      s.path = shardPath.tier2Segment(s.index);
      stripes.push(stripe(s.index, 1, m, [s], (j) => shardPath.tier2Parity(s.index, j)));
    }
  } else {
    // Tiers 3 and 4: blocks of blockSegments segments, each an RS(blockSegments, m) stripe.
    for (let b = 0; b * blockSegments < segmentCount; b++) {
      const group = segments.slice(b * blockSegments, (b + 1) * blockSegments);
      for (const s of group) s.path = shardPath.blockSegment(b, s.index);
      stripes.push(stripe(b, blockSegments, m, group, (j) => shardPath.blockParity(b, j)));
    }
  }
  const groups = p.tier === 4 ? splitGroups(stripes.length, p.groupBlocks ?? DEFAULTS.groupBlocks) : [];
  const level2 = level2Stripes(stripes, groups, blockSegments, p.level2ParityShards ?? DEFAULTS.level2ParityShards);
  return { tier: p.tier, size: p.size, segmentSize, segmentCount, stripes, groups, level2 };
}

/**
 * Tier 4 groups: n = max(1, floor(B / target)) groups of consecutive blocks, group j holding blocks
 * [floor(j*B/n), floor((j+1)*B/n)). Every group but a lone one has between target and 2*target-1 blocks, which
 * keeps the level-2 overhead between 1/(2*target) and 1/target of the data (docs/FORMAT.md §3.1).
 */
export function splitGroups(blocks: number, target: number): GroupGeometry[] {
  if (!Number.isSafeInteger(target) || target < 1) throw internal(`bad group size ${target}`);
  const n = Math.max(1, Math.floor(blocks / target));
  const out: GroupGeometry[] = [];
  for (let j = 0; j < n; j++) {
    const first = Math.floor((j * blocks) / n);
    out.push({ index: j, firstBlock: first, blocks: Math.floor(((j + 1) * blocks) / n) - first });
  }
  return out;
}

function level2Stripes(blocks: StripeGeometry[], groups: GroupGeometry[], blockSegments: number, m: number): Level2StripeGeometry[] {
  const out: Level2StripeGeometry[] = [];
  for (const g of groups) {
    const members = blocks.slice(g.firstBlock, g.firstBlock + g.blocks);
    for (let pos = 0; pos < blockSegments; pos++) {
      const column = members.map((b) => b.segments[pos] ?? null);
      // Only the last block can be short; a position no block of the group reaches has no stripe.
      if (column.every((s) => s === null)) continue;
      const shardSize = column.reduce((mx, s) => Math.max(mx, s?.size ?? 0), 0);
      const parity: ParityGeometry[] = [];
      for (let j = 0; j < m; j++) parity.push({ index: j, size: shardSize, path: shardPath.level2Parity(g.index, pos, j) });
      out.push({ index: out.length, group: g.index, position: pos, dataShards: g.blocks, parityShards: m, shardSize, members: column, parity });
    }
  }
  return out;
}

/** Parity bytes stored per data byte at each level (level 2 is 0 below Tier 4), over the file size. */
export function overheadByLevel(g: Geometry): { level1: number; level2: number } {
  const bytes = (stripes: { parity: ParityGeometry[] }[]) => stripes.reduce((n, st) => n + st.parity.reduce((x, p) => x + p.size, 0), 0);
  return g.size === 0 ? { level1: 0, level2: 0 } : { level1: bytes(g.stripes) / g.size, level2: bytes(g.level2) / g.size };
}

/** Parity bytes stored per data byte: level-1 parity plus (Tier 4) level-2 parity, over the file size. */
export function parityOverhead(g: Geometry): number {
  const o = overheadByLevel(g);
  return o.level1 + o.level2;
}

function stripe(index: number, k: number, m: number, segments: SegmentGeometry[], parityPath: (j: number) => string): StripeGeometry {
  const shardSize = segments.reduce((mx, s) => Math.max(mx, s.size), 0);
  const parity: ParityGeometry[] = [];
  for (let j = 0; j < m; j++) parity.push({ index: j, size: shardSize, path: parityPath(j) });
  return { index, dataShards: k, parityShards: m, shardSize, segments, parity };
}

/** The segments that overlap [offset, offset + length), in file order. */
export function segmentsForRange(g: Geometry, offset: number, length: number): SegmentGeometry[] {
  if (length <= 0 || offset >= g.size) return [];
  const end = Math.min(g.size, offset + length);
  const out: SegmentGeometry[] = [];
  for (const st of g.stripes) {
    for (const s of st.segments) if (s.offset < end && s.offset + s.size > offset) out.push(s);
  }
  return out;
}

function internal(msg: string): BlockFrameError {
  return new BlockFrameError('BF_INTERNAL', msg);
}
