// Verb options in their text form, as the command line and the HTTP frontends receive them: tier, compression,
// replacement stores, and where the stores were named (so a frontend never parses format or store text itself).
import { BlockFrameError } from '../errors.js';
import { ZSTD_DEFAULT_LEVEL } from '../transform/zstd.js';

export { parseTier } from '../layout/tiers.js';
export { parseReplace, storeSource, type StoreSource } from '../store/config.js';
export { ComputePool } from '../compute/pool.js';

/**
 * "zstd", "zstd:LEVEL" (LEVEL 1 to 19) or "auto" → the `compress` option of commit (a zstd level, or 'auto').
 * @throws BlockFrameError BF_USAGE for any other text.
 */
export function parseCompress(v: string): number | 'auto' {
  if (v === 'auto') return 'auto';
  const m = /^zstd(?::(\d{1,2}))?$/.exec(v);
  if (!m) throw new BlockFrameError('BF_USAGE', `--compress takes zstd, zstd:LEVEL (1-19) or auto, not ${JSON.stringify(v)}`, { field: 'compress' });
  return m[1] === undefined ? ZSTD_DEFAULT_LEVEL : Number(m[1]);
}
