// The safe tree writer of a folder restore (FORMAT.md 13.3 "Restore refuses to escape"): entries in path order into OUT only.
import { constants, existsSync } from 'node:fs';
import { lstat, mkdir, open, rename, stat, symlink, unlink, lutimes, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { BlockFrameError, fromSystemError, isBlockFrameError } from '../errors.js';
import { createBlake3Stream } from '../integrity/blake3.js';
import { comparePaths, describePath, isAncestor, pathRuleBroken, unsafePathError, type TreeEntry } from '../tree-path.js';
import { writeFully } from './fsutil.js';

/** Bytes of one file, pulled one chunk at a time (the writer awaits each write before it asks for the next). */
export type FileContent = () => AsyncIterable<Uint8Array>;

export interface TreeWriterOptions {
  /**
   * Replace what is in the way: an existing symlink or file where an entry goes is unlinked (the link itself,
   * never its target) or renamed over. A directory in the way of a file or link is never removed.
   */
  force?: boolean;
  /** Stops between entries (and between chunks of a file) with BF_ABORTED. */
  signal?: AbortSignal;
  /** Called for each entry that failed (the writer goes on with the others). */
  onError?: (path: Buffer, err: BlockFrameError) => void;
  /** fsync each file before its rename, and each directory when left (default true). */
  fsync?: boolean;
  /**
   * How many files may be finishing at once (fsync, close, rename into place) while the next entries are written
   * (default 1: each file is in place before add() returns). With more, add() returns once the file's content is
   * written, checked and its mode and mtime set; its fsync and rename run in the background, at most this many at
   * once (file systems commit concurrent fsyncs together); a directory waits for its files before its own mode,
   * mtime and fsync, and close() for every file. A failure there is reported to onError as any other.
   */
  finishConcurrency?: number;
}

/** What a TreeWriter did, from close(). */
export interface TreeWriteSummary {
  dirs: number;
  files: number;
  symlinks: number;
  /** Bytes of file content written. */
  bytes: number;
  /** Entries that failed (each passed to onError). */
  failed: number;
}

interface OpenDir {
  /** Relative path (empty for OUT). */
  path: Buffer;
  fh: FileHandle;
  /** Prefix through which names in this directory are reached without resolving any path component again. */
  at: Buffer;
  /** Mode and mtime to apply when the walk leaves it (null for OUT and failed settings). */
  apply: { mode: number; mtimeNs: bigint } | null;
  /** Files of this directory still finishing (see finishConcurrency). */
  finishing: Set<Promise<void>>;
}

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const NEW_FILE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
/** Linux exposes each open directory as /proc/self/fd/N: names below it resolve from that directory, like openat(2). */
const PROC_FD = existsSync('/proc/self/fd') ? '/proc/self/fd/' : null;
const SLASH = Buffer.from('/');

/**
 * A time for fs.utimes/lutimes that lands on `ns` (nanoseconds since 1970) to the microsecond: seconds as a decimal
 * string (Node turns a negative *number* into "now", but passes a numeric string through), aimed half a
 * microsecond inside the wanted one because libuv truncates to whole microseconds. Nanoseconds below the
 * microsecond cannot be set through Node's fs API: the result is floor(ns / 1000) * 1000.
 */
export function utimesSeconds(ns: bigint): string {
  const us = ns >= 0n ? ns / 1000n : (ns - 999n) / 1000n; // floor(ns / 1000)
  return String((Number(us) + (us >= 0n ? 0.5 : -0.5)) / 1e6);
}

function coded(err: unknown, path: Buffer, what: string): BlockFrameError {
  const c = fromSystemError(err, describePath(path), what);
  return isBlockFrameError(c) ? c : new BlockFrameError('BF_IO', `${String(err)} while ${what}: ${describePath(path)}`, { path: describePath(path) }, { cause: err });
}

/**
 * Writes a tree below an output directory, one entry at a time in path order, never outside it:
 * - every entry's path must pass the path rules (BF_PATH_UNSAFE) and its parent must be a directory this writer
 *   entered (created, or found as a real directory with lstat and opened with O_NOFOLLOW|O_DIRECTORY); so a
 *   symlink entry `a` followed by `a/evil` is refused (BF_PATH_UNSAFE), and nothing is written through a link;
 * - names are reached through the held directory handle (/proc/self/fd/N/name on Linux, else the full path):
 *   no path component is resolved twice;
 * - a file goes to a hidden temp file `.bf-….tmp` in its directory, is hashed while written (BLAKE3 checked against
 *   `blob`, length against `size`: BF_HASH_MISMATCH), fsync'd, given its mode (no set-user-ID, set-group-ID or
 *   sticky) and mtime, and renamed into place (atomic per file);
 * - a symlink is created as a link (whatever its target), its mtime set without following it;
 * - a directory is created with mode 0700 and gets its own mode and mtime when the walk leaves it (after its last
 *   child), so read-only directories still receive their children.
 * What is in the way: an existing real directory where a directory goes is used; a link or file where a directory
 * goes, or a link where a file or link goes, is refused with BF_PATH_UNSAFE; a file where a file or link goes with
 * BF_OUTPUT_EXISTS; with `force`, links and files are replaced (the link itself, never its target); a directory
 * in the way of a file or link is always refused (BF_OUTPUT_EXISTS). A name the output file system refuses
 * (EILSEQ, EINVAL, ENAMETOOLONG) is BF_PATH_UNSAFE.
 * Per-entry failures go to `onError` and add() returns false; the children of a failed directory each fail with
 * BF_OUTPUT_INVALID. mtimes are set to the microsecond (see utimesSeconds).
 */
export class TreeWriter {
  private readonly stack: OpenDir[];
  private prev: Buffer | null = null;
  private failedDir: Buffer | null = null;
  private readonly summary: TreeWriteSummary = { dirs: 0, files: 0, symlinks: 0, bytes: 0, failed: 0 };
  private closed = false;
  /** Files finishing in the background, over every directory (at most finishConcurrency). */
  private readonly finishing = new Set<Promise<void>>();

  private constructor(
    private readonly out: string,
    root: OpenDir,
    private readonly opts: TreeWriterOptions,
  ) {
    this.stack = [root];
  }

  /**
   * Opens (creating it, with its parents, if missing) the output directory `out`. Links in `out`'s own path are
   * followed: the caller named it. Throws BF_OUTPUT_INVALID if it is not a directory, or a coded I/O error.
   */
  static async open(out: string, opts: TreeWriterOptions = {}): Promise<TreeWriter> {
    try {
      await mkdir(out, { recursive: true });
      if (!(await stat(out)).isDirectory()) throw new Error('not a directory');
    } catch (err) {
      if (isBlockFrameError(err)) throw err;
      throw new BlockFrameError('BF_OUTPUT_INVALID', `the output directory cannot be used: ${out} (${(err as Error).message})`, { path: out }, { cause: err });
    }
    const fh = await open(out, constants.O_RDONLY | constants.O_DIRECTORY);
    return new TreeWriter(out, { path: Buffer.alloc(0), fh, at: TreeWriter.atOf(fh, Buffer.from(out)), apply: null, finishing: new Set() }, opts);
  }

  private static atOf(fh: FileHandle, fullPath: Buffer): Buffer {
    return PROC_FD ? Buffer.from(`${PROC_FD}${fh.fd}`) : fullPath;
  }

  private fullPath(rel: Buffer): Buffer {
    return Buffer.concat([Buffer.from(this.out), SLASH, rel]);
  }

  private fail(path: Buffer, err: unknown, what: string): false {
    const e = isBlockFrameError(err) ? err : coded(err, path, what);
    const refused = !isBlockFrameError(err) && ['EILSEQ', 'EINVAL', 'ENAMETOOLONG'].includes((err as NodeJS.ErrnoException)?.code ?? '');
    const reported = refused ? unsafePathError(path, 'name-refused', `the output file system refuses the name (${(err as NodeJS.ErrnoException).code})`) : e;
    this.summary.failed++;
    this.opts.onError?.(path, reported);
    return false;
  }

  /** Leaves directories until the top of the stack is `path`'s parent (or OUT). */
  private async leaveUntilAncestorOf(path: Buffer): Promise<void> {
    while (this.stack.length > 1 && !isAncestor(this.stack[this.stack.length - 1]!.path, path)) await this.leave();
  }

  private async leave(): Promise<void> {
    const d = this.stack.pop()!;
    await Promise.all(d.finishing);
    try {
      if (d.apply) {
        await d.fh.chmod(d.apply.mode & 0o777);
        const t = utimesSeconds(d.apply.mtimeNs);
        await d.fh.utimes(t, t);
      }
      if (this.opts.fsync !== false) await d.fh.sync();
    } catch (err) {
      this.fail(d.path, err, 'setting the mode and mtime of');
    } finally {
      await d.fh.close();
    }
  }

  /**
   * Writes one entry (in path order after the previous one). `content` is required for a file of size > 0 and
   * is called once. Returns true if the entry is in place (with finishConcurrency > 1: a file's content is written
   * and checked, its rename may still be running), false if it failed (reported to onError; an entry not
   * after the previous one in path order fails with BF_SNAPSHOT_INVALID). Throws only BF_ABORTED (signal).
   */
  async add(entry: TreeEntry, content?: FileContent): Promise<boolean> {
    if (this.closed) throw new BlockFrameError('BF_INTERNAL', 'TreeWriter.add after close');
    if (this.opts.signal?.aborted) throw new BlockFrameError('BF_ABORTED', 'cancelled while writing the tree');
    const path = entry.path;
    const rule = pathRuleBroken(path);
    if (rule !== null) return this.fail(path, unsafePathError(path, rule), '');
    if (this.prev !== null && comparePaths(this.prev, path) >= 0) {
      return this.fail(path, new BlockFrameError('BF_SNAPSHOT_INVALID', `entry ${describePath(path)} is not after ${describePath(this.prev)} in path order`, { path: describePath(path) }), '');
    }
    this.prev = Buffer.from(path);
    await this.leaveUntilAncestorOf(path);
    if (this.failedDir !== null && isAncestor(this.failedDir, path)) {
      return this.fail(path, new BlockFrameError('BF_OUTPUT_INVALID', `not written: its directory ${describePath(this.failedDir)} failed`, { path: describePath(path) }), '');
    }
    this.failedDir = null;
    // After leaveUntilAncestorOf the top is OUT or an ancestor of `path`: it is the parent iff its length is right.
    const parent = this.stack[this.stack.length - 1]!;
    const slash = path.lastIndexOf(0x2f);
    if (slash < 0 ? this.stack.length !== 1 : this.stack.length === 1 || parent.path.length !== slash) {
      return this.fail(path, unsafePathError(path, 'parent-not-dir', 'its parent is not a directory of this restore'), '');
    }
    const name = path.subarray(slash + 1);
    const at = Buffer.concat([parent.at, SLASH, name]);
    try {
      if (entry.type === 'dir') return await this.addDir(entry, at);
      if (entry.type === 'symlink') return await this.addSymlink(entry, parent, at);
      return await this.addFile(entry, parent, at, content);
    } catch (err) {
      if (isBlockFrameError(err, 'BF_ABORTED')) throw err;
      if (entry.type === 'dir') this.failedDir = Buffer.from(path);
      return this.fail(path, err, `writing ${entry.type}`);
    }
  }

  /** What is at `at` now: 'none', 'dir', 'symlink' or 'other' (a file or anything else). */
  private async existing(at: Buffer): Promise<'none' | 'dir' | 'symlink' | 'other'> {
    try {
      const s = await lstat(at);
      return s.isDirectory() ? 'dir' : s.isSymbolicLink() ? 'symlink' : 'other';
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'none';
      throw err;
    }
  }

  private inTheWay(path: Buffer, what: 'dir' | 'symlink' | 'other', goes: string): BlockFrameError {
    if (what === 'symlink') return unsafePathError(path, 'link-in-the-way', `a symlink is where a ${goes} goes (never followed; --force replaces the link itself)`);
    if (what === 'dir') return new BlockFrameError('BF_OUTPUT_EXISTS', `a directory is where a ${goes} goes: ${describePath(path)}`, { path: describePath(path) });
    if (goes === 'directory') return unsafePathError(path, 'file-in-the-way', `a file is where a directory goes (--force replaces it)`);
    return new BlockFrameError('BF_OUTPUT_EXISTS', `${describePath(path)} exists (--force replaces it)`, { path: describePath(path) });
  }

  private async addDir(entry: TreeEntry & { type: 'dir' }, at: Buffer): Promise<boolean> {
    const was = await this.existing(at);
    if (was === 'symlink' || was === 'other') {
      if (!this.opts.force) throw this.inTheWay(entry.path, was, 'directory');
      await unlink(at);
    }
    if (was !== 'dir') await mkdir(at, { mode: 0o700 });
    const fh = await open(at, DIR_FLAGS); // O_NOFOLLOW: a link swapped in since lstat fails here (ELOOP/ENOTDIR)
    this.stack.push({ path: Buffer.from(entry.path), fh, at: TreeWriter.atOf(fh, this.fullPath(entry.path)), apply: { mode: entry.mode, mtimeNs: entry.mtimeNs }, finishing: new Set() });
    this.summary.dirs++;
    return true;
  }

  private tempAt(parent: OpenDir): Buffer {
    return Buffer.concat([parent.at, SLASH, Buffer.from(`.bf-${randomBytes(6).toString('hex')}.tmp`)]);
  }

  private async clearFor(entry: TreeEntry, at: Buffer, goes: string): Promise<void> {
    const was = await this.existing(at);
    if (was === 'none') return;
    if (was === 'dir' || !this.opts.force) throw this.inTheWay(entry.path, was, goes);
    // With force, rename() replaces the link or file itself (rename never follows the last component).
  }

  private async addSymlink(entry: TreeEntry & { type: 'symlink' }, parent: OpenDir, at: Buffer): Promise<boolean> {
    await this.clearFor(entry, at, 'symlink');
    const tmp = this.tempAt(parent);
    await symlink(entry.target, tmp);
    try {
      const t = utimesSeconds(entry.mtimeNs);
      await lutimes(tmp, t, t);
      await rename(tmp, at);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    this.summary.symlinks++;
    return true;
  }

  private async addFile(entry: TreeEntry & { type: 'file' }, parent: OpenDir, at: Buffer, content?: FileContent): Promise<boolean> {
    await this.clearFor(entry, at, 'file');
    if (entry.size > 0 && !content) throw new BlockFrameError('BF_INTERNAL', `no content given for ${describePath(entry.path)}`);
    const tmp = this.tempAt(parent);
    const fh = await open(tmp, NEW_FILE_FLAGS, 0o600);
    let ok = false;
    try {
      const hash = await createBlake3Stream();
      let written = 0;
      if (entry.size > 0) {
        for await (const chunk of content!()) {
          if (this.opts.signal?.aborted) throw new BlockFrameError('BF_ABORTED', 'cancelled while writing the tree');
          if (written + chunk.length > entry.size) {
            written = -1; // more bytes than the entry's size: a mismatch, whatever the hash of a prefix says
            break;
          }
          hash.update(chunk);
          await writeFully(fh, chunk, written);
          written += chunk.length;
        }
      }
      const got = hash.digestHex();
      if (written !== entry.size || got !== entry.blob) {
        const len = written < 0 ? `more than ${entry.size}` : String(written);
        throw new BlockFrameError('BF_HASH_MISMATCH', `the bytes of ${describePath(entry.path)} do not match its blob (${len} bytes, BLAKE3 ${got.slice(0, 16)}…)`, {
          path: describePath(entry.path),
        });
      }
      await fh.chmod(entry.mode & 0o777);
      const t = utimesSeconds(entry.mtimeNs);
      await fh.utimes(t, t);
      ok = true;
      const finish = async (): Promise<void> => {
        try {
          if (this.opts.fsync !== false) await fh.sync();
          await fh.close();
          await rename(tmp, at);
        } catch (err) {
          await fh.close().catch(() => undefined);
          await unlink(tmp).catch(() => undefined);
          throw err;
        }
        this.summary.files++;
        this.summary.bytes += written;
      };
      if ((this.opts.finishConcurrency ?? 1) <= 1) {
        await finish();
        return true;
      }
      while (this.finishing.size >= this.opts.finishConcurrency!) await Promise.race(this.finishing);
      const path = Buffer.from(entry.path);
      const task: Promise<void> = finish()
        .catch((err: unknown) => void this.fail(path, err, 'writing file'))
        .finally(() => {
          this.finishing.delete(task);
          parent.finishing.delete(task);
        });
      this.finishing.add(task);
      parent.finishing.add(task);
      return true;
    } finally {
      if (!ok) {
        await fh.close().catch(() => undefined);
        await unlink(tmp).catch(() => undefined);
      }
    }
  }

  /** Leaves every open directory (applying modes and mtimes), closes OUT and returns the summary. */
  async close(): Promise<TreeWriteSummary> {
    if (this.closed) return { ...this.summary };
    this.closed = true;
    while (this.stack.length > 1) await this.leave();
    await Promise.all(this.finishing);
    const root = this.stack.pop()!;
    if (this.opts.fsync !== false) await root.fh.sync().catch(() => undefined);
    await root.fh.close();
    return { ...this.summary };
  }
}
