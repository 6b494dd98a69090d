// One BLAKE3 pass over an open file through the compute pool (used to detect content already archived).
import { fromSystemError } from '../../errors.js';
import { SlabPool, type ComputePool } from '../../compute/pool.js';
import { pump } from '../pump.js';
import type { InputFile } from '../../io/input.js';
import { changed } from './shard-writer.js';

export async function hashFile(pool: ComputePool, input: InputFile, path: string, size: number, opts: { signal?: AbortSignal } = {}): Promise<string> {
  const h = pool.openHash(0);
  await pump({
    pool,
    slabs: new SlabPool(4, 4 * 1024 * 1024),
    src: (buf, len, pos) => input.readAt(buf, len, pos),
    offset: 0,
    size,
    hashes: [h],
    short: () => changed(path),
    readError: (err) => fromSystemError(err, path, 'reading the input'),
    signal: opts.signal,
  });
  return pool.digest(h);
}
