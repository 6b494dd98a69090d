// Small durable-filesystem helpers: fsync of files and directories, atomic text writes, safe removal.
import { constants } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';

/** Longest file name that is kept as it is inside a temp file's name (the rest of that name is under 40 bytes). */
const TEMP_BASE_MAX = 128;

/**
 * The part of a temp file's name that comes from the final name: the name itself when it is at most 128 bytes of
 * UTF-8, else a fixed-length hash of it ("h" + 32 hex), so a temp name stays within the 255-byte component limit
 * of common file systems whatever the final name is.
 */
export function tempBase(name: string): string {
  return Buffer.byteLength(name, 'utf8') <= TEMP_BASE_MAX ? name : `h${createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 32)}`;
}

/** A hidden, unique temp path next to `path` ("." + name + "." + tag + "-" + pid + "-" + random): same filesystem, so rename is atomic. */
export function tempSibling(path: string, tag: string): string {
  return join(dirname(path), `.${tempBase(basename(path))}.${tag}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** fsync a directory so a rename or create inside it survives a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    await fh.sync();
  } finally {
    await fh?.close();
  }
}

/**
 * Write `data` to `path` through a temp file in the same directory, fsync, rename, fsync the directory: readers
 * see old or new. `durable: false` skips both fsyncs (a process crash still leaves old or new; a power loss may
 * leave the old file or an empty one): for rebuildable state such as the scrub ledger.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: { durable?: boolean } = {}): Promise<void> {
  const durable = opts.durable ?? true;
  const tmp = tempSibling(path, 'tmp');
  try {
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(data);
      if (durable) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    if (durable) await fsyncDir(dirname(path));
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** Write all of `buf` at `position`, looping over short writes. */
export async function writeFully(fh: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    if (bytesWritten <= 0) throw Object.assign(new Error('short write'), { code: 'EIO' });
    done += bytesWritten;
  }
}

/** Read up to `length` bytes at `position` into `buf`, looping over short reads; returns bytes read (less only at EOF). */
export async function readFully(fh: FileHandle, buf: Uint8Array, length: number, position: number): Promise<number> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/**
 * Open an archive file for reading without following a symlink. Returns 'missing' when nothing is there and
 * 'not-a-file' for a symlink, directory or other non-regular entry (never followed out of the archive).
 */
export async function openRegular(path: string): Promise<FileHandle | 'missing' | 'not-a-file'> {
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing';
    if (code === 'ELOOP') return 'not-a-file';
    throw err;
  }
  if (!(await fh.stat()).isFile()) {
    await fh.close();
    return 'not-a-file';
  }
  return fh;
}
