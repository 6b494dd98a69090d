// The spool: a private local scratch directory with random-access files, for work a backend can't do in place
// (commit stages shards there before publishing; Tier 4 folds level-2 parity in place; repair checks a shard before it lands).
import { constants } from 'node:fs';
import { createReadStream } from 'node:fs';
import { lstat, mkdir, open, readdir, rm, stat, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { BlockFrameError, fromSystemError } from '../errors.js';
import type { PutSource } from './backend.js';
import { readFully, writeFully } from '../io/fsutil.js';
import { DirectWrites } from '../io/direct-writes.js';
import { pidAlive } from './local.js';

/** "{pid}-{12 hex}": a spool directory's name, so stale ones (of dead processes) can be recognised. */
export const SPOOL_NAME = /^(\d+)-[0-9a-f]{12}$/;

/** A file of the spool: positional writes and reads. */
export interface SpoolFile {
  readonly path: string;
  write(buf: Uint8Array, position: number): Promise<void>;
  /** Reads up to `length` bytes at `position` into `buf`; fewer only at the end of the file. */
  read(buf: Uint8Array, length: number, position: number): Promise<number>;
  /** fsync and close. */
  finish(): Promise<void>;
  close(): Promise<void>;
}

export class Spool {
  private constructor(readonly dir: string) {}

  /** A new spool directory inside `parent` (created if needed; never through a symlink). */
  static async create(parent: string): Promise<Spool> {
    try {
      await mkdir(parent, { recursive: true });
      if (!(await lstat(parent)).isDirectory()) throw new BlockFrameError('BF_IO', `spool parent is not a plain directory: ${parent}`, { path: parent });
      const dir = join(parent, `${process.pid}-${randomBytes(6).toString('hex')}`);
      await mkdir(dir);
      return new Spool(dir);
    } catch (err) {
      throw fromSystemError(err, parent, 'creating a spool directory');
    }
  }

  /**
   * Remove spool directories of processes that no longer run from `parent`. Only names of the spool pattern are
   * touched, and only plain directories (a symlink is never followed or removed). Returns how many were removed.
   */
  static async cleanStale(parent: string): Promise<number> {
    const top = await lstat(parent).catch(() => null);
    if (!top?.isDirectory()) return 0;
    let removed = 0;
    for (const name of await readdir(parent).catch(() => [] as string[])) {
      const m = SPOOL_NAME.exec(name);
      if (!m || pidAlive(Number(m[1]))) continue;
      const p = join(parent, name);
      if (!(await lstat(p).catch(() => null))?.isDirectory()) continue;
      await rm(p, { recursive: true, force: true });
      removed++;
    }
    return removed;
  }

  path(rel: string): string {
    if (rel === '' || rel.split('/').some((p) => p === '' || p === '.' || p === '..')) throw new BlockFrameError('BF_INTERNAL', `bad spool path ${JSON.stringify(rel)}`);
    return join(this.dir, ...rel.split('/'));
  }

  /**
   * Create `rel` (and its directories); it must not exist yet. `direct`: the file is written once and not read
   * back before it is published (commit's shard files), so its aligned writes bypass the page cache (see
   * DirectWrites); every other write, and every read, goes through the page cache as usual.
   */
  async create(rel: string, opts: { direct?: boolean } = {}): Promise<SpoolFile> {
    const p = this.path(rel);
    try {
      // The spool directory itself exists: only a nested path needs its directories made.
      if (rel.includes('/')) await mkdir(join(p, '..'), { recursive: true });
      if (!opts.direct) return wrap(await open(p, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o444), p);
      // Writable while the second (direct) descriptor is opened, then read-only like every spool file: a user
      // other than root could not open a 0444 file for writing a second time.
      const fh = await open(p, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        const direct = await DirectWrites.open(p, fh);
        await fh.chmod(0o444);
        return wrap(fh, p, direct);
      } catch (err) {
        await fh.close().catch(() => undefined);
        throw err;
      }
    } catch (err) {
      throw fromSystemError(err, p, 'creating a spool file');
    }
  }

  /** Open an existing spool file for reading. */
  async open(rel: string): Promise<SpoolFile> {
    const p = this.path(rel);
    try {
      return wrap(await open(p, constants.O_RDONLY | constants.O_NOFOLLOW), p);
    } catch (err) {
      throw fromSystemError(err, p, 'opening a spool file');
    }
  }

  async exists(rel: string): Promise<boolean> {
    return (await lstat(this.path(rel)).catch(() => null))?.isFile() ?? false;
  }

  /** A put() source over a finished spool file; `movable` lets a same-filesystem backend rename it into place. */
  async source(rel: string, movable: boolean): Promise<PutSource> {
    const p = this.path(rel);
    const { size } = await stat(p);
    return { size, open: () => createReadStream(p, { highWaterMark: 1024 * 1024 }), file: movable ? p : undefined };
  }

  async discard(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

function wrap(fh: FileHandle, path: string, direct?: DirectWrites): SpoolFile {
  return {
    path,
    write: async (buf, position) => {
      try {
        if (!(await direct?.write(buf, position))) await writeFully(fh, buf, position);
      } catch (err) {
        throw fromSystemError(err, path, 'writing a spool file');
      }
    },
    read: (buf, length, position) => readFully(fh, buf, length, position).catch((err) => Promise.reject(fromSystemError(err, path, 'reading a spool file'))),
    async finish() {
      try {
        await direct?.close();
        await fh.sync();
      } catch (err) {
        throw fromSystemError(err, path, 'syncing a spool file');
      } finally {
        await fh.close();
      }
    },
    close: async () => {
      await direct?.close();
      await fh.close().catch(() => undefined);
    },
  };
}
