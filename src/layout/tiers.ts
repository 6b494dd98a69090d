// Tier policy: which tier a file of a given size gets, and each tier's erasure-coding parameters.
import { BlockFrameError } from '../errors.js';

export type Tier = 1 | 2 | 3 | 4;

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** Defaults from the BlockFrame-RS design, in binary units. */
export const DEFAULTS = {
  /** Files smaller than this are Tier 1 (whole file, RS(1,3)). */
  tier2Threshold: 10 * MiB,
  /** Files from tier2Threshold up to (not including) this are Tier 2 (per-segment RS(1,3)). */
  tier3Threshold: 1 * GiB,
  /** Files from this size up are Tier 4 (RS(30,3) blocks plus level-2 parity across groups of blocks). */
  tier4Threshold: 35 * GiB,
  segmentSize: 32 * MiB,
  /** Bounds on a segment size given at commit (4 KiB: fewer files than bytes; 1 GiB: bounded spool and chunk index). */
  minSegmentSize: 4 * 1024,
  maxSegmentSize: 1 * GiB,
  /** Segments per Tier 3 block: RS(30,3). */
  blockSegments: 30,
  parityShards: 3,
  /** Tier 4: blocks per level-2 group, as a target; groups hold between this and twice this many blocks. */
  groupBlocks: 24,
  /** Tier 4: level-2 parity shards per (group, segment position) stripe; 1 makes it the XOR of the column. */
  level2ParityShards: 1,
} as const;

export interface TierPolicy {
  tier2Threshold: number;
  tier3Threshold: number;
  tier4Threshold: number;
}

export interface TierChoice {
  tier: Tier;
}

export function chooseTier(size: number, policy: TierPolicy = DEFAULTS, forced?: number): TierChoice {
  if (forced !== undefined) {
    if (!isTier(forced)) throw new BlockFrameError('BF_INVALID_TIER', `invalid tier ${forced}: use 1, 2, 3 or 4`, { field: 'tier' });
    return { tier: forced };
  }
  if (size < policy.tier2Threshold) return { tier: 1 };
  if (size < policy.tier3Threshold) return { tier: 2 };
  if (size < policy.tier4Threshold) return { tier: 3 };
  return { tier: 4 };
}

function isTier(n: number): n is Tier {
  return n === 1 || n === 2 || n === 3 || n === 4;
}

/** Parse a tier given on the command line. */
export function parseTier(text: string): Tier {
  const n = Number(text);
  if (!/^[1-4]$/.test(text.trim()) || !isTier(n)) throw new BlockFrameError('BF_INVALID_TIER', `invalid tier "${text}": use 1, 2, 3 or 4`, { field: 'tier' });
  return n;
}
