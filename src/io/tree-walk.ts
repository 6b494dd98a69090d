// Walking the user's directory trees for a folder commit: lstat only, names as bytes, entries in path order (FORMAT.md 13.3).
import { access, lstat, open, readdir, readlink, stat, type FileHandle } from 'node:fs/promises';
import { constants, existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { BlockFrameError, fromSystemError, isBlockFrameError } from '../errors.js';
import { comparePaths, joinPath } from '../tree-path.js';

/** One entry of a walked tree. `path` is relative to the walked directory (or base name first, for walkTrees). */
export interface WalkEntry {
  /** The path's bytes, components joined by `/` (names as the file system gives them, not necessarily UTF-8). */
  path: Buffer;
  type: 'file' | 'dir' | 'symlink';
  /** Permission bits, set-user-ID, set-group-ID and sticky (st_mode & 0o7777). */
  mode: number;
  /** Modification time, in nanoseconds since 1970-01-01 UTC. */
  mtimeNs: bigint;
  /** Status change time, in nanoseconds since 1970-01-01 UTC (the quick path of FORMAT.md 13.7 needs it). */
  ctimeNs: bigint;
  /** Bytes (st_size): a file's length, a link's target length, a directory's size as the file system says. */
  size: number;
  ino: bigint;
  dev: bigint;
  /** For a symlink: its target's bytes as readlink gives them (never followed). */
  target?: Buffer;
}

/** What a walk skipped: a device, FIFO or socket (not recorded by FORMAT.md 13.3). */
export type SkippedKind = 'block-device' | 'char-device' | 'fifo' | 'socket' | 'unknown';

/** What a walk counted, returned by the generator when it ends. */
export interface WalkSummary {
  /** Entries yielded. */
  entries: number;
  /** Devices, FIFOs and sockets skipped (each also passed to `onSkip`). */
  skipped: number;
  /** Entries that could not be read (each also passed to `onError`); unreadable files are not yielded. */
  errors: number;
}

export interface WalkOptions {
  /** Stops the walk between entries with BF_ABORTED. */
  signal?: AbortSignal;
  /** Called for each device, FIFO or socket skipped. */
  onSkip?: (path: Buffer, kind: SkippedKind) => void;
  /**
   * Called for each entry that cannot be read, with a coded error (BF_FILE_UNREADABLE, BF_FILE_NOT_FOUND when it
   * vanished during the walk, BF_IO): a directory that cannot be listed (it is still yielded, with no children),
   * a file without read permission or a link that cannot be read (neither is yielded). The walk goes on.
   */
  onError?: (path: Buffer, err: BlockFrameError) => void;
  /** Check that each regular file can be opened for reading (one access() call per file); default true. */
  checkReadable?: boolean;
}

/** lstat calls in flight per directory: enough to hide latency, bounded so memory stays per directory. */
const LSTAT_BATCH = 32;

function aborted(): BlockFrameError {
  return new BlockFrameError('BF_ABORTED', 'cancelled while walking the tree');
}

function coded(err: unknown, path: Buffer, what: string): BlockFrameError {
  const c = fromSystemError(err, path.toString(), what);
  return isBlockFrameError(c) ? c : new BlockFrameError('BF_IO', `${String(err)} while ${what}: ${path.toString()}`, { path: path.toString() }, { cause: err });
}

function skippedKind(mode: number): SkippedKind {
  switch (mode & constants.S_IFMT) {
    case constants.S_IFBLK:
      return 'block-device';
    case constants.S_IFCHR:
      return 'char-device';
    case constants.S_IFIFO:
      return 'fifo';
    case constants.S_IFSOCK:
      return 'socket';
    default:
      return 'unknown';
  }
}

interface State {
  opts: WalkOptions;
  summary: WalkSummary;
}

/** lstat one name and turn it into an entry; null if it is skipped or unreadable (reported). */
async function entryOf(fsPath: Buffer, rel: Buffer, st: State): Promise<WalkEntry | null> {
  let s;
  try {
    s = await lstat(fsPath, { bigint: true });
  } catch (err) {
    st.summary.errors++;
    st.opts.onError?.(rel, coded(err, rel, 'reading the status of'));
    return null;
  }
  const base = {
    path: rel,
    mode: Number(s.mode & 0o7777n),
    mtimeNs: s.mtimeNs,
    ctimeNs: s.ctimeNs,
    size: Number(s.size),
    ino: s.ino,
    dev: s.dev,
  };
  if (s.isDirectory()) return { ...base, type: 'dir' };
  if (s.isFile()) {
    if (st.opts.checkReadable !== false) {
      try {
        await access(fsPath, constants.R_OK);
      } catch (err) {
        st.summary.errors++;
        st.opts.onError?.(rel, coded(err, rel, 'opening'));
        return null;
      }
    }
    return { ...base, type: 'file' };
  }
  if (s.isSymbolicLink()) {
    try {
      return { ...base, type: 'symlink', target: await readlink(fsPath, { encoding: 'buffer' }) };
    } catch (err) {
      st.summary.errors++;
      st.opts.onError?.(rel, coded(err, rel, 'reading the link'));
      return null;
    }
  }
  st.summary.skipped++;
  st.opts.onSkip?.(rel, skippedKind(Number(s.mode)));
  return null;
}

/** Linux exposes each open directory as /proc/self/fd/N: names below it resolve from that directory, like openat(2). */
const PROC_FD = existsSync('/proc/self/fd') ? '/proc/self/fd/' : null;
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY;

/**
 * Children of directory `fsDir` (at relative path `rel`), depth first, each directory's names in byte order. The
 * directory is opened once (O_NOFOLLOW below the root) and, on Linux, listed and its children looked up through
 * that handle, so a directory swapped for a link during the walk is never followed.
 */
async function* walkDir(fsDir: Buffer, rel: Buffer, st: State, follow: boolean): AsyncGenerator<WalkEntry> {
  let fh: FileHandle | undefined;
  let names: Buffer[];
  let at = fsDir;
  try {
    fh = await open(fsDir, follow ? DIR_FLAGS : DIR_FLAGS | constants.O_NOFOLLOW);
    if (PROC_FD) at = Buffer.from(`${PROC_FD}${fh.fd}`);
    names = await readdir(at, { encoding: 'buffer' });
  } catch (err) {
    await fh?.close();
    st.summary.errors++;
    st.opts.onError?.(rel, coded(err, rel, 'listing the directory'));
    return;
  }
  try {
    names.sort(Buffer.compare);
    const slash = Buffer.from('/');
    for (let i = 0; i < names.length; i += LSTAT_BATCH) {
      if (st.opts.signal?.aborted) throw aborted();
      const batch = names.slice(i, i + LSTAT_BATCH);
      const found = await Promise.all(batch.map((n) => entryOf(Buffer.concat([at, slash, n]), joinPath(rel, n), st)));
      for (let j = 0; j < batch.length; j++) {
        const e = found[j];
        if (!e) continue;
        if (st.opts.signal?.aborted) throw aborted();
        st.summary.entries++;
        yield e;
        if (e.type === 'dir') yield* walkDir(Buffer.concat([at, slash, batch[j]!]), e.path, st, false);
      }
    }
  } finally {
    await fh.close();
  }
}

async function rootDir(dir: string): Promise<void> {
  let s;
  try {
    s = await stat(dir);
  } catch (err) {
    throw coded(err, Buffer.from(dir), 'opening the directory');
  }
  if (!s.isDirectory()) throw new BlockFrameError('BF_USAGE', `not a directory: ${dir}`, { path: dir });
}

/**
 * Every entry below `dir` (not `dir` itself), in path order (FORMAT.md 13.3): a depth-first walk, each directory's
 * names read as bytes and sorted bytewise. Uses lstat and opens directories with O_NOFOLLOW: no symlink is
 * followed, in or out of the tree, even one swapped in during the walk (on Linux, through /proc/self/fd; the named
 * `dir` itself is followed if it is a link, as the user named it). Devices, FIFOs and sockets are skipped and
 * reported (`onSkip`); unreadable entries are reported (`onError`) and the walk goes on. Memory: the names of one
 * directory and one open directory handle per level of depth. Returns a WalkSummary. Throws BF_FILE_NOT_FOUND / BF_USAGE (not a directory) for
 * `dir` itself, BF_ABORTED when `signal` fires.
 */
export async function* walkTree(dir: string, opts: WalkOptions = {}): AsyncGenerator<WalkEntry, WalkSummary> {
  await rootDir(dir);
  const st: State = { opts, summary: { entries: 0, skipped: 0, errors: 0 } };
  yield* walkDir(Buffer.from(dir), Buffer.alloc(0), st, true);
  return st.summary;
}

/**
 * Several trees as one (`commit A B`, FORMAT.md 13.3): each directory becomes an entry named by its base name
 * (the resolved path's last component), followed by its walk under that name; the bases in byte order so the
 * whole is in path order. Throws BF_USAGE, before walking, if two base names are equal or one has none (`/`).
 * Otherwise as walkTree; the summary covers every tree.
 */
export async function* walkTrees(dirs: readonly string[], opts: WalkOptions = {}): AsyncGenerator<WalkEntry, WalkSummary> {
  const bases = dirs.map((d) => ({ dir: d, name: Buffer.from(basename(resolve(d))) }));
  for (const b of bases) if (b.name.length === 0) throw new BlockFrameError('BF_USAGE', `a directory to commit has no base name: ${b.dir}`, { path: b.dir });
  bases.sort((a, b) => comparePaths(a.name, b.name));
  for (let i = 1; i < bases.length; i++) {
    if (bases[i]!.name.equals(bases[i - 1]!.name)) {
      throw new BlockFrameError('BF_USAGE', `two directories have the same base name "${bases[i]!.name.toString()}": ${bases[i - 1]!.dir} and ${bases[i]!.dir}`, { path: bases[i]!.dir });
    }
  }
  for (const b of bases) await rootDir(b.dir);
  const st: State = { opts, summary: { entries: 0, skipped: 0, errors: 0 } };
  for (const b of bases) {
    if (opts.signal?.aborted) throw aborted();
    // The named directory is followed even if it is a link (as walkTree does): it is recorded as a directory.
    let s;
    try {
      s = await stat(b.dir, { bigint: true });
    } catch (err) {
      throw coded(err, Buffer.from(b.dir), 'opening the directory');
    }
    const entry: WalkEntry = { path: b.name, type: 'dir', mode: Number(s.mode & 0o7777n), mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs, size: Number(s.size), ino: s.ino, dev: s.dev };
    st.summary.entries++;
    yield entry;
    yield* walkDir(Buffer.from(b.dir), b.name, st, true);
  }
  return st.summary;
}
