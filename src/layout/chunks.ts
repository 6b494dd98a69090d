// The chunk index: where each shard's per-chunk BLAKE3 hashes sit in chunks.idx, for sub-segment verification.
import type { Geometry } from './geometry.js';

export const CHUNK_INDEX_FILE = 'chunks.idx';
/** Default verification granularity: a 1 MiB range read hashes at most 17 of these. */
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
export const HASH_LEN = 32;

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

/** Section per stripe, in stripe order; inside a section, data shards then parity shards (the Merkle leaf order). */
export function chunkIndexLayout(g: Geometry, chunkSize: number): StripeChunks[] {
  let pos = 0;
  return g.stripes.map((st) => {
    const start = pos;
    const shards: ShardChunks[] = [];
    const add = (role: 'data' | 'parity', index: number, path: string, size: number): void => {
      const count = chunkCount(size, chunkSize);
      shards.push({ role, index, path, size, offset: pos, count });
      pos += count * HASH_LEN;
    };
    st.segments.forEach((s, i) => add('data', i, s.path, s.size));
    st.parity.forEach((p) => add('parity', p.index, p.path, p.size));
    return { offset: start, length: pos - start, shards };
  });
}
