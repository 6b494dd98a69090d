// Tier policy: which tier a file of a given size gets, and each tier's erasure-coding parameters.
import { BlockFrameError } from '../errors.js';

export type Tier = 1 | 2 | 3;

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** Defaults from the BlockFrame-RS design, in binary units. */
export const DEFAULTS = {
  /** Files smaller than this are Tier 1 (whole file, RS(1,3)). */
  tier2Threshold: 10 * MiB,
  /** Files from tier2Threshold up to (not including) this are Tier 2 (per-segment RS(1,3)). */
  tier3Threshold: 1 * GiB,
  /** Files from this size up are Tier 4 by design; Tier 4 is not built yet, so they get Tier 3. */
  tier4Threshold: 35 * GiB,
  segmentSize: 32 * MiB,
  /** Segments per Tier 3 block: RS(30,3). */
  blockSegments: 30,
  parityShards: 3,
} as const;

export interface TierPolicy {
  tier2Threshold: number;
  tier3Threshold: number;
  tier4Threshold: number;
}

export interface TierChoice {
  tier: Tier;
  /** Set when the size asked for a tier that is not built yet and a lower one was used. */
  note?: string;
}

export function chooseTier(size: number, policy: TierPolicy = DEFAULTS, forced?: number): TierChoice {
  if (forced !== undefined) {
    if (forced !== 1 && forced !== 2 && forced !== 3) {
      throw new BlockFrameError('BF_INVALID_TIER', `invalid tier ${forced}: use 1, 2 or 3 (Tier 4 is not built yet)`, { field: 'tier' });
    }
    return { tier: forced };
  }
  if (size < policy.tier2Threshold) return { tier: 1 };
  if (size < policy.tier3Threshold) return { tier: 2 };
  if (size >= policy.tier4Threshold) {
    return { tier: 3, note: 'file is above the Tier 4 threshold; Tier 4 (hierarchical parity) is not built yet, so Tier 3 is used' };
  }
  return { tier: 3 };
}

/** Parse a tier given on the command line. */
export function parseTier(text: string): Tier {
  const n = Number(text);
  if (n !== 1 && n !== 2 && n !== 3) {
    throw new BlockFrameError('BF_INVALID_TIER', `invalid tier "${text}": use 1, 2 or 3`, { field: 'tier' });
  }
  return n;
}
