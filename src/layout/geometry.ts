// Stripe geometry: how a file of a given size and tier splits into segments, stripes and shard paths.
import { BlockFrameError } from '../errors.js';
import { DEFAULTS, type Tier } from './tiers.js';

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

export interface Geometry {
  tier: Tier;
  size: number;
  segmentSize: number;
  segmentCount: number;
  stripes: StripeGeometry[];
}

export interface GeometryParams {
  tier: Tier;
  size: number;
  segmentSize: number;
  blockSegments?: number;
  parityShards?: number;
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
    segments[0]!.path = 'data.dat';
    stripes.push(stripe(0, 1, m, segments, (j) => `parity_${j}.dat`));
  } else if (p.tier === 2) {
    for (const s of segments) {
      s.path = `segments/segment_${s.index}.dat`;
      stripes.push(stripe(s.index, 1, m, [s], (j) => `parity/segment_${s.index}_parity_${j}.dat`));
    }
  } else {
    for (let b = 0; b * blockSegments < segmentCount; b++) {
      const group = segments.slice(b * blockSegments, (b + 1) * blockSegments);
      for (const s of group) s.path = `blocks/block_${b}/segments/segment_${s.index}.dat`;
      stripes.push(stripe(b, blockSegments, m, group, (j) => `blocks/block_${b}/parity/block_parity_${j}.dat`));
    }
  }
  return { tier: p.tier, size: p.size, segmentSize, segmentCount, stripes };
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
