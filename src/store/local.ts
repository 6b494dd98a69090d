// The local-directory backend: one key is one file under the root, written through a temp file, fsync and rename.
// Symlinks inside the root are never followed (a link is listed as an entry of its own and reads as missing).
import { constants, type Dirent, type Stats } from 'node:fs';
import { chmod, lstat, mkdir, open, readdir, rename, rm, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve, sep } from 'node:path';
import { BlockFrameError } from '../errors.js';
import { checkKey, storeError, throwIfAborted, type Backend, type BackendCaps, type ListOptions, type ObjectInfo, type PutSource } from './backend.js';
import { fsyncDir, readFully, tempBase, writeFully } from '../io/fsutil.js';

export const STAGING_DIR = '.staging';
export const DEFAULT_ARCHIVE = 'archive_directory';
/** How long getHeld() keeps a file open after opening it, and how many it keeps open. */
const HOLD_MS = 2000;
const HELD_MAX = 256;

/** The archive root from an explicit option, then BLOCKFRAME_ARCHIVE (unless empty), then ./archive_directory. */
export function resolveArchiveRoot(option?: string): string {
  return resolve(option ?? (process.env.BLOCKFRAME_ARCHIVE || DEFAULT_ARCHIVE));
}

/** Hidden temp files of an operation in flight: ".{name}.bf-{tag}-{pid}-{8 hex}". */
const TEMP = /^\..+\.bf-[a-z]+-(\d+)-[0-9a-f]{8}$/;

export function tempName(base: string, tag: string): string {
  return `.${tempBase(base)}.bf-${tag}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** True for another live process's temp file (or our own): listings skip those, dead ones are junk. */
export function isLiveTemp(name: string): boolean {
  const m = TEMP.exec(name);
  return m !== null && pidAlive(Number(m[1]));
}

export function pidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Map a Node system error on `key` to a store error code (the one place errno is read for stores). */
export function classifyFsError(b: { label: string }, key: string, err: unknown, what: string): BlockFrameError {
  if (err instanceof BlockFrameError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  const msg = (text: string) => `${text} while ${what}`;
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return storeError('BF_STORE_KEY_MISSING', b, key, msg('no such file'), err);
    case 'ELOOP':
    case 'EISDIR':
      return storeError('BF_STORE_NOT_A_FILE', b, key, msg('not a regular file'), err);
    case 'ENOSPC':
    case 'EDQUOT':
      return storeError('BF_NO_SPACE', b, key, msg('no space left on device'), err);
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return storeError('BF_STORE_DENIED', b, key, msg(code === 'EROFS' ? 'read-only filesystem' : 'permission denied'), err);
    case 'ABORT_ERR':
      return storeError('BF_ABORTED', b, key, msg('cancelled'), err);
    default:
      return storeError('BF_IO', b, key, msg(typeof code === 'string' ? code : (err as Error)?.message ?? 'I/O error'), err);
  }
}

/** A descriptor getHeld() keeps open: when it was opened, the reads using it now, and whether it is to be closed. */
interface Held {
  fh: Promise<FileHandle>;
  /** The descriptor's fstat at open: its identity. */
  st: Promise<Stats>;
  at: number;
  users: number;
  dropped: boolean;
}

/** Same file, unchanged: device, inode, size, modification and status-change times (ns precision where the OS has it). */
function sameFile(a: Stats, b: Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;
}

export class LocalBackend implements Backend {
  readonly root: string;
  readonly label: string;
  readonly caps: BackendCaps = { atomicRename: true, randomWrite: true };

  constructor(root: string) {
    this.root = resolve(root);
    this.label = this.root;
  }

  /** The marker key every write first checks for (requireMarker). */
  private marker?: string;

  /**
   * From now on, refuse every write (put, delete, staging, publish) while the store's marker `key` is missing:
   * a disk unmounted under a running process leaves an empty mount point, and nothing may land there
   * (docs/FORMAT.md §14). One lstat per write: no cache, so no window in which a write lands after an unmount.
   */
  requireMarker(key: string): void {
    checkKey(this, key);
    this.marker = key;
  }

  /** Is the required marker there (true when none is required)? Never creates anything. */
  async markerPresent(): Promise<boolean> {
    if (this.marker === undefined) return true;
    const st = await lstat(join(this.root, this.marker)).catch(() => null);
    return st?.isFile() ?? false;
  }

  /** BF_STORE_NOT_MOUNTED when the required marker is gone. */
  private async checkMounted(key: string): Promise<void> {
    if (await this.markerPresent()) return;
    throw storeError('BF_STORE_NOT_MOUNTED', this, key, `the store's marker ${this.marker} is gone (a disk unmounted?): nothing is written here until it is back`);
  }

  /** Does the root exist as a directory (symlinks followed: a mount point may be one)? Never creates it. */
  async present(): Promise<boolean> {
    const st = await stat(this.root).catch(() => null);
    return st?.isDirectory() ?? false;
  }

  /** Absolute path of a key (checked: it stays under the root). */
  pathOf(key: string): string {
    checkKey(this, key, true);
    return key === '' ? this.root : join(this.root, ...key.split('/'));
  }

  /**
   * Parents of `key` must be real directories, not symlinks: a link is never followed, so a key below one is
   * missing. Returns false when some parent is not a plain directory.
   */
  private async realParents(key: string): Promise<boolean> {
    const parts = key.split('/').slice(0, -1);
    let p = this.root;
    for (const part of parts) {
      p = join(p, part);
      const st = await lstat(p).catch(() => null);
      if (!st || !st.isDirectory()) return false;
    }
    return true;
  }

  async get(key: string, into: Uint8Array, offset: number, signal?: AbortSignal): Promise<number> {
    throwIfAborted(this, key, signal);
    const fh = await this.openChecked(key);
    try {
      return await readFully(fh, into, into.length, offset);
    } catch (err) {
      throw classifyFsError(this, key, err, 'reading');
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  /**
   * get() through a descriptor kept open for HOLD_MS after it was opened (checked as get() checks: real parent
   * directories, no symlink, a regular file), at most HELD_MAX of them: one lstat and one pread per call instead
   * of four lstats, open, fstat and close, run side by side. The lstat compares the path's identity (dev, ino,
   * size, mtime, ctime) with the held descriptor's: a file replaced before the call by any process (a CLI repair
   * renames new shards into place) is reopened at once, and bytes read through the old descriptor are not returned.
   */
  async getHeld(key: string, into: Uint8Array, offset: number, signal?: AbortSignal): Promise<number> {
    throwIfAborted(this, key, signal);
    const now = Date.now();
    let h = this.held.get(key);
    if (h && now - h.at > HOLD_MS) {
      this.unhold(key, h);
      h = undefined;
    }
    if (h) {
      // The identity check runs beside the read, not before it: a held read is one trip through the thread pool,
      // not two in a row (under load each trip waits behind other reads). Bytes read through a descriptor whose
      // path names another file by the time the check answers are never returned: they are read again below.
      const entry = h;
      entry.users++; // pinned while reading and looking: not closed under us
      try {
        const reading = entry.fh.then((fh) => readFully(fh, into, into.length, offset));
        reading.catch(() => undefined);
        const same = await this.stillSame(key, entry);
        if (same && !entry.dropped) {
          try {
            return await reading;
          } catch (err) {
            this.unhold(key, entry);
            throw classifyFsError(this, key, err, 'reading');
          }
        }
        await reading.catch(() => undefined); // settled before `into` is read into again
        this.unhold(key, entry);
      } finally {
        this.release(entry);
      }
      h = this.held.get(key); // another call may have reopened it meanwhile
    }
    if (!h) {
      const opened = this.openStat(key);
      const st = opened.then((o) => o.st);
      st.catch(() => undefined); // a failed open is reported through fh
      h = { fh: opened.then((o) => o.fh), st, at: now, users: 0, dropped: false };
      this.held.set(key, h);
      if (this.held.size > HELD_MAX) this.unhold(...this.held.entries().next().value!);
      this.sweeper ??= setInterval(() => this.sweep(), HOLD_MS).unref();
    }
    const entry = h;
    entry.users++;
    try {
      const fh = await entry.fh;
      return await readFully(fh, into, into.length, offset);
    } catch (err) {
      this.unhold(key, entry);
      throw classifyFsError(this, key, err, 'reading');
    } finally {
      this.release(entry);
    }
  }

  /** One user of `h` is done: close it if it was dropped meanwhile and this was the last. */
  private release(h: Held): void {
    h.users--;
    if (h.dropped && h.users === 0) void h.fh.then((fh) => fh.close()).catch(() => undefined);
  }

  private readonly held = new Map<string, Held>();

  /**
   * Whether `key`'s path still names the file `h` holds open: same device and inode, size, mtime and ctime. False
   * when it was renamed over, removed, written in place, or cannot be looked up (the reopen then reports why).
   */
  private async stillSame(key: string, h: Held): Promise<boolean> {
    let held: Stats;
    try {
      held = await h.st;
    } catch {
      return false;
    }
    const now = await lstat(this.pathOf(key)).catch(() => null);
    return now !== null && sameFile(held, now);
  }

  private sweeper?: ReturnType<typeof setInterval>;

  private unhold(key: string, h: Held): void {
    if (this.held.get(key) === h) this.held.delete(key);
    if (h.dropped) return;
    h.dropped = true;
    if (h.users === 0) void h.fh.then((fh) => fh.close()).catch(() => undefined);
  }

  dropHeld(prefix: string): void {
    for (const [k, h] of [...this.held]) if (k.startsWith(prefix)) this.unhold(k, h);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [k, h] of [...this.held]) if (now - h.at > HOLD_MS) this.unhold(k, h);
    if (this.held.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  private async openChecked(key: string): Promise<FileHandle> {
    return (await this.openStat(key)).fh;
  }

  /** openChecked(), also giving the descriptor's fstat. */
  private async openStat(key: string): Promise<{ fh: FileHandle; st: Stats }> {
    const path = this.pathOf(key);
    if (!(await this.realParents(key))) throw storeError('BF_STORE_KEY_MISSING', this, key, 'no such file (or a parent is not a plain directory)');
    let fh: FileHandle;
    try {
      fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (err) {
      throw classifyFsError(this, key, err, 'opening');
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw storeError('BF_STORE_NOT_A_FILE', this, key, 'not a regular file');
      return { fh, st };
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw classifyFsError(this, key, err, 'opening');
    }
  }

  async stat(key: string, signal?: AbortSignal): Promise<ObjectInfo | null> {
    const path = this.pathOf(key);
    throwIfAborted(this, key, signal);
    if (!(await this.realParents(key))) return null;
    try {
      const st = await lstat(path);
      if (!st.isFile()) throw storeError('BF_STORE_NOT_A_FILE', this, key, 'not a regular file');
      return { key, size: st.size };
    } catch (err) {
      const e = classifyFsError(this, key, err, 'looking up');
      if (e.code === 'BF_STORE_KEY_MISSING') return null;
      throw e;
    }
  }

  async put(key: string, source: PutSource, signal?: AbortSignal): Promise<void> {
    const final = this.pathOf(key);
    if (key === '') throw storeError('BF_INTERNAL', this, key, 'empty key');
    throwIfAborted(this, key, signal);
    await this.checkMounted(key);
    await this.makeParents(key);
    // A directory squatting on the key's path (damage) is replaced; rename() would refuse it.
    if ((await lstat(final).catch(() => null))?.isDirectory()) await rm(final, { recursive: true, force: true });
    if (source.file) {
      try {
        await rename(source.file, final);
        await fsyncDir(join(final, '..'));
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw classifyFsError(this, key, err, 'moving a file into place');
      }
    }
    const base = key.split('/').pop()!;
    const tmp = join(final, '..', tempName(base, 'put'));
    try {
      const fh = await open(tmp, 'wx', 0o644);
      try {
        let at = 0;
        for await (const chunk of source.open()) {
          if (signal?.aborted) throw storeError('BF_ABORTED', this, key, 'cancelled');
          await writeFully(fh, chunk as Uint8Array, at);
          at += (chunk as Uint8Array).length;
        }
        if (at !== source.size) throw storeError('BF_INTERNAL', this, key, `source gave ${at} bytes, expected ${source.size}`);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await chmod(tmp, 0o444);
      await rename(tmp, final);
      await fsyncDir(join(final, '..'));
    } catch (err) {
      await rm(tmp, { force: true });
      throw classifyFsError(this, key, err, 'writing');
    }
  }

  /** Create the key's parent directories; a file or symlink squatting on one is removed (never followed). */
  private async makeParents(key: string): Promise<void> {
    const parts = key.split('/').slice(0, -1);
    let p = this.root;
    try {
      await this.ensureRoot();
      for (const part of parts) {
        p = join(p, part);
        const st = await lstat(p).catch(() => null);
        if (st?.isDirectory()) continue;
        if (st) await unlink(p);
        await mkdir(p).catch((err: NodeJS.ErrnoException) => (err.code === 'EEXIST' ? undefined : Promise.reject(err)));
        await fsyncDir(join(p, '..'));
      }
    } catch (err) {
      throw classifyFsError(this, key, err, 'creating directories');
    }
  }

  async delete(key: string, signal?: AbortSignal): Promise<void> {
    const path = this.pathOf(key);
    if (key === '') throw storeError('BF_INTERNAL', this, key, 'empty key');
    throwIfAborted(this, key, signal);
    await this.checkMounted(key);
    // Never through a symlinked directory: what is behind a link is not in the store.
    if (!(await this.realParents(key))) return;
    try {
      const st = await lstat(path).catch(() => null);
      if (!st) return;
      if (st.isDirectory()) await rm(path, { recursive: true, force: true });
      else await unlink(path);
    } catch (err) {
      const e = classifyFsError(this, key, err, 'deleting');
      if (e.code !== 'BF_STORE_KEY_MISSING') throw e;
    }
    // Prune parents left empty (never the root itself); a concurrent put recreates what it needs.
    const parts = key.split('/').slice(0, -1);
    for (let i = parts.length; i > 0; i--) {
      try {
        await rmdir(join(this.root, ...parts.slice(0, i)));
      } catch {
        break;
      }
    }
  }

  async *list(prefix: string, opts: ListOptions = {}): AsyncIterable<ObjectInfo> {
    checkKey(this, prefix, true);
    throwIfAborted(this, prefix, opts.signal);
    const cut = prefix.lastIndexOf('/');
    const dirKey = prefix.slice(0, cut + 1);
    const namePrefix = prefix.slice(cut + 1);
    const walk = async function* (self: LocalBackend, rel: string, filter: string): AsyncGenerator<ObjectInfo> {
      let entries: Dirent[];
      // Only real directories are listed: a symlinked one (or one below it) is never entered.
      const dirKey = rel.replace(/\/$/, '');
      if (dirKey !== '') {
        const st = await lstat(join(self.root, ...dirKey.split('/'))).catch(() => null);
        if (!st?.isDirectory() || !(await self.realParents(dirKey))) return;
      }
      try {
        entries = await readdir(rel === '' ? self.root : join(self.root, ...rel.split('/').filter(Boolean)), { withFileTypes: true });
      } catch (err) {
        const e = classifyFsError(self, rel, err, 'listing');
        if (e.code === 'BF_STORE_KEY_MISSING' || e.code === 'BF_STORE_NOT_A_FILE') return;
        throw e;
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const e of entries) {
        throwIfAborted(self, prefix, opts.signal);
        if (!e.name.startsWith(filter)) continue;
        if (rel === '' && e.name === STAGING_DIR) continue;
        if (isLiveTemp(e.name)) continue;
        const key = `${rel}${e.name}`;
        if (e.isDirectory()) {
          if (opts.delimiter) yield { key: `${key}/`, size: -1, prefix: true };
          else {
            // An empty directory holds no key, but it is still something on disk: it is listed as a prefix.
            let any = false;
            for await (const o of walk(self, `${key}/`, '')) {
              any = true;
              yield o;
            }
            if (!any) yield { key: `${key}/`, size: -1, prefix: true };
          }
        } else if (e.isFile()) {
          const st = await lstat(join(self.root, ...key.split('/'))).catch(() => null);
          if (st) yield { key, size: st.size };
        } else {
          // A symlink or special file: listed, never followed.
          yield { key, size: 0 };
        }
      }
    };
    yield* walk(this, dirKey, namePrefix);
  }

  /** Create the root if need be: itself first, without `recursive` (which reports ENOENT where the real cause is EROFS or EACCES). */
  private async ensureRoot(): Promise<void> {
    await mkdir(this.root).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code === 'EEXIST') return;
      if (err.code === 'ENOENT') return void (await mkdir(this.root, { recursive: true }));
      throw err;
    });
  }

  async stagingDir(): Promise<string> {
    const dir = join(this.root, STAGING_DIR);
    await this.checkMounted(STAGING_DIR);
    try {
      await this.ensureRoot();
      await mkdir(dir).catch((err: NodeJS.ErrnoException) => (err.code === 'EEXIST' ? undefined : Promise.reject(err)));
      // A symlinked staging directory is never used (nor cleaned through).
      if (!(await lstat(dir)).isDirectory()) throw storeError('BF_STORE_NOT_A_FILE', this, STAGING_DIR, 'the staging directory is not a plain directory');
    } catch (err) {
      throw classifyFsError(this, STAGING_DIR, err, 'creating the staging directory');
    }
    return dir;
  }

  async adopt(localDir: string, prefix: string): Promise<'published' | 'exists'> {
    checkKey(this, prefix);
    const target = this.pathOf(prefix);
    await this.checkMounted(prefix);
    // A nested prefix (a format-v3 pack, packs/ab/pack_…): its parents are made here, and must be real directories.
    const parents = prefix.split('/').slice(0, -1);
    if (parents.length) {
      try {
        await mkdir(dirname(target), { recursive: true });
      } catch (err) {
        throw classifyFsError(this, prefix, err, 'publishing');
      }
      if (!(await this.realParents(prefix))) throw storeError('BF_STORE_NOT_A_FILE', this, prefix, 'a parent of the archive directory is not a plain directory');
    }
    try {
      await rename(localDir, target);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') {
        await rm(localDir, { recursive: true, force: true });
        return 'exists';
      }
      throw classifyFsError(this, prefix, err, 'publishing');
    }
    // The new entry, and each parent made for a nested prefix, are durable once their directories are synced.
    for (let i = parents.length; i >= 0; i--) await fsyncDir(join(this.root, ...parents.slice(0, i)));
    return 'published';
  }

  async close(): Promise<void> {
    for (const [k, h] of [...this.held]) this.unhold(k, h);
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}

/** True when `child` is `parent` or lies inside it. */
export function isInside(parent: string, child: string): boolean {
  const p = resolve(parent);
  const c = resolve(child);
  return c === p || c.startsWith(p.endsWith(sep) ? p : p + sep);
}
