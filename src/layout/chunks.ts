// The chunk index: where each shard's per-chunk BLAKE3 hashes sit in chunks.idx, for sub-segment verification.
import type { Geometry } from './geometry.js';

export { CHUNK_INDEX_FILE } from './keys.js';
/** Default verification granularity: a 1 MiB range read hashes at most 17 of these. */
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
export const HASH_LEN = 32;
/**
 * Largest chunks.idx section of one stripe (read and checked whole): 64 MiB of hashes covers 128 GiB of shards.
 * A manifest that claims more is invalid, so no claimed size can make a reader allocate without bound.
 */
export const MAX_SECTION_BYTES = 64 * 1024 * 1024;

export interface ShardChunks {
  /** 'data' index = position in the stripe's segment list; 'parity' index = parity row. */
  role: 'data' | 'parity';
  index: number;
  path: string;
  size: number;
  /** Byte offset of this shard's first chunk hash inside chunks.idx. */
  offset: number;
  /** Number of chunk hashes: ceil(size / chunk_size). */
  count: number;
}

export interface StripeChunks {
  /** Byte range of the stripe's section in chunks.idx. */
  offset: number;
  length: number;
  shards: ShardChunks[];
}

export function chunkCount(size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize);
}

/**
 * Section per stripe, in stripe order; inside a section, data shards then parity shards (the Merkle leaf order).
 * Tier 4 appends one section per level-2 stripe holding only its level-2 parity shards (its data shards are
 * segments, whose chunk hashes are already in their block's section).
 */
export function chunkIndexLayout(g: Geometry, chunkSize: number): StripeChunks[] {
  let pos = 0;
  type Entry = Pick<ShardChunks, 'role' | 'index' | 'path' | 'size'>;
  const section = (entries: Entry[]): StripeChunks => {
    const start = pos;
    const shards = entries.map((e): ShardChunks => {
      const count = chunkCount(e.size, chunkSize);
      const sh = { ...e, offset: pos, count };
      pos += count * HASH_LEN;
      return sh;
    });
    return { offset: start, length: pos - start, shards };
  };
  const parity = (p: { index: number; path: string; size: number }): Entry => ({ role: 'parity', index: p.index, path: p.path, size: p.size });
  return [
    ...g.stripes.map((st) => section([...st.segments.map((s, i): Entry => ({ role: 'data', index: i, path: s.path, size: s.size })), ...st.parity.map(parity)])),
    ...g.level2.map((st) => section(st.parity.map(parity))),
  ];
}
