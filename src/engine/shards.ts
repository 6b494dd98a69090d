// Opening an archive's shard files for reading, with missing and wrong-size shards reported by code.
import { open, type FileHandle } from 'node:fs/promises';
import { BlockFrameError, fromSystemError } from '../errors.js';
import type { LocalStore } from '../store/local.js';

export interface ShardRef {
  path: string;
  size: number;
  hash: string;
}

/** Open a shard and check its length against the manifest. */
export async function openShard(store: LocalStore, dir: string, shard: ShardRef): Promise<FileHandle> {
  const abs = store.path(dir, shard.path);
  let fh: FileHandle;
  try {
    fh = await open(abs, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new BlockFrameError('BF_SHARD_MISSING', `archive ${dir}: shard ${shard.path} is missing`, { archive: dir, shard: shard.path });
    }
    throw fromSystemError(err, abs, 'opening a shard');
  }
  const { size } = await fh.stat();
  if (size !== shard.size) {
    await fh.close();
    throw new BlockFrameError(
      'BF_SHARD_CORRUPT',
      `archive ${dir}: shard ${shard.path} is ${size < shard.size ? 'truncated' : 'too long'} (${size} bytes, expected ${shard.size})`,
      { archive: dir, shard: shard.path },
    );
  }
  return fh;
}

export function corrupt(dir: string, shard: ShardRef): BlockFrameError {
  return new BlockFrameError('BF_SHARD_CORRUPT', `archive ${dir}: shard ${shard.path} does not match its BLAKE3 hash`, { archive: dir, shard: shard.path });
}

export function shortShard(dir: string, shard: ShardRef): BlockFrameError {
  return new BlockFrameError('BF_SHARD_CORRUPT', `archive ${dir}: shard ${shard.path} ended early while reading`, { archive: dir, shard: shard.path });
}
