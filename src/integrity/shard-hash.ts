// Owns the format-v2 link between a shard's chunk hashes and its whole hash (docs/FORMAT.md §12.1).
import { blake3Hex } from './blake3.js';
import { rootFromCVs } from './blake3-cv.js';
import { toHex } from './hex.js';

/**
 * The BLAKE3 hash (hex, what b3sum prints) of a `size`-byte shard from its chunk hashes (`ceil(size / chunkSize)`
 * chaining values of 32 bytes; none for an empty shard). Errors: BF_BLAKE3_UNITS_INVALID on a wrong count.
 */
export function shardHashFromChunks(chunks: Uint8Array, chunkSize: number, size: number): string {
  if (size === 0) return blake3Hex(new Uint8Array(0));
  return toHex(rootFromCVs(chunks.subarray(0, Math.ceil(size / chunkSize) * 32), chunkSize, size));
}
