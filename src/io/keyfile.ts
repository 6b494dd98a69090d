// Reads a user's key file (for encrypted archives): the one secret commit and reads take from the local disk.
import { statSync } from 'node:fs';
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

/**
 * The permission bits of secret file `path` (a key or passphrase file) when users other than its owner may use it
 * (any group or other bit set, the rule OpenSSH applies to private keys), else null. Null too on Windows (no POSIX
 * modes) and when the file cannot be stat'ed (reading it reports that). Never throws.
 */
export function looseSecretMode(path: string): number | null {
  if (process.platform === 'win32') return null;
  try {
    const mode = statSync(path).mode & 0o777;
    return (mode & 0o077) !== 0 ? mode : null;
  } catch {
    return null;
  }
}
