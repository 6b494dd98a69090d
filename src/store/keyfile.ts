// Reads a user's key file (for encrypted archives): the one secret commit and reads take from the local disk.
import { readFile } from 'node:fs/promises';
import { BlockFrameError } from '../errors.js';

/** A key file larger than this is refused: a key file is a few dozen bytes, not a dataset. */
const KEYFILE_MAX_BYTES = 1024 * 1024;

/** The bytes of key file `path`. Errors: BF_KEYFILE_INVALID (unreadable, not a file, or over 1 MiB). */
export async function readKeyFile(path: string): Promise<Uint8Array> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new BlockFrameError('BF_KEYFILE_INVALID', `cannot read key file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { path }, { cause: err });
  }
  if (bytes.length > KEYFILE_MAX_BYTES) throw new BlockFrameError('BF_KEYFILE_INVALID', `key file ${path} holds ${bytes.length} bytes; a key file is at most 1 MiB`, { path });
  return bytes;
}
