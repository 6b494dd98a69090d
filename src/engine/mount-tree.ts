// The file tree a mount shows (FUSE, WebDAV): single-file archives as files, folder archives as directories of their
// latest snapshot, and every snapshot under .snapshots/, with lookups, listings and verified reads over one Serving.
import { BlockFrameError, isBlockFrameError } from '../errors.js';
import { loadBlobIndex } from '../archive/blob-index.js';
import { listIn, type ArchiveSummary } from './find.js';
import { listSnapshots, bodyEntries, type SnapshotSummary } from './snapshots.js';
import { readSnapshotHeader } from '../archive/snapshots.js';
import { parseSnapshotHeader, type SnapshotHeader } from '../layout/snapshot-header.js';
import { BlobReader } from './blob-read.js';
import { utf8OrNull, type TreeEntry } from '../tree-path.js';
import type { Serving } from './serving.js';
import { MountFile, type FileSource } from './mount-file.js';

/** The directory of every snapshot, at the top of the tree (docs/mount.md). */
export const SNAPSHOTS_DIR = '.snapshots';

/** One node of the tree. Times in milliseconds since 1970 (UTC); `mode` the permission bits (no type bits). */
export interface MountNode {
  kind: 'file' | 'dir' | 'symlink';
  /** Bytes (files; a link: its target's length; 0 for directories). */
  size: number;
  mode: number;
  mtimeMs: number;
  /** A link's target, as stored (bytes). */
  target?: Buffer;
  /** Files: the hex hash that names the content (a packed file's blob hash; an archive's original BLAKE3), for ETags. */
  hash?: string;
}

/** A directory entry: the name shown (UTF-8; see showName) and its node. */
export interface MountDirent {
  name: string;
  node: MountNode;
}

type Source = { kind: 'archive'; dir: string } | { kind: 'blob'; hash: string };
interface Child extends MountDirent {
  source?: Source;
  /** For directories inside a snapshot: the snapshot and the path below its root (bytes). */
  snap?: { id: string; header: SnapshotHeader; path: Buffer };
  /** For .snapshots/NAME. */
  snapName?: string;
}

export interface MountTreeOptions {
  /** How long the lists of archives and snapshots are trusted, ms (default 5000: new commits show up after this). */
  ttlMs?: number;
  /** Entries of snapshot directories kept listed in memory, in all (default 100,000; least recently used dropped). */
  maxCachedEntries?: number;
  /**
   * Which archives and folder archives the tree shows (default: all): called with (archive directory, name) for a
   * single-file archive and ('', TREE) for a folder archive; what it refuses is not there (BF_FILE_NOT_FOUND).
   * Read on each listing of the top, so a changed rule applies after ttlMs (or refresh()).
   */
  visible?: (dir: string, name: string | undefined) => boolean;
}

/**
 * A name as shown: the UTF-8 text of `bytes`, or for bytes that are not UTF-8, their text with each byte of a bad
 * sequence as `%XX` (and `%` as `%25`), so that it is printable and unique. Lookups go through a directory's listing,
 * so a shown name always finds its entry.
 */
export function showName(bytes: Uint8Array): string {
  const t = utf8OrNull(bytes);
  if (t !== null) return t;
  let out = '';
  for (const b of bytes) out += b >= 0x20 && b < 0x7f && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

const DIR_MODE = 0o555;
const FILE_MODE = 0o444;
const NOT_FOUND = (path: string) => new BlockFrameError('BF_FILE_NOT_FOUND', `no such file or directory in the mount: ${JSON.stringify(path)}`, { path });

function splitPath(path: string): string[] {
  return path.split('/').filter((c) => c.length > 0 && c !== '.');
}

function nsToMs(ns: bigint): number {
  return Number(ns / 1_000_000n);
}

function nodeOf(e: TreeEntry): MountNode {
  if (e.type === 'file') return { kind: 'file', size: e.size, mode: e.mode, mtimeMs: nsToMs(e.mtimeNs), hash: e.blob };
  if (e.type === 'dir') return { kind: 'dir', size: 0, mode: e.mode, mtimeMs: nsToMs(e.mtimeNs) };
  return { kind: 'symlink', size: e.target.length, mode: 0o777, mtimeMs: nsToMs(e.mtimeNs), target: e.target };
}

/**
 * `2026-12-03T201544.123Z_ab12cd34ef56`: sorts by time (to the millisecond: two commits in one second keep their
 * order), has no `:` (Windows), and its id prefix works as NAME@ID.
 */
export function snapshotDirName(s: { createdAt: string; id: string }): string {
  const t = s.createdAt.replace(/[-:]/g, '').replace(/^(\d{4})(\d{2})(\d{2})/, '$1-$2-$3');
  return `${t}_${s.id.slice(0, 12)}`;
}

/**
 * The tree a mount shows, over a Serving (its repository, pool, archive cache and read-ahead):
 * - `/NAME`: a single-file archive (a file), by the name `list` shows; a name held by several archives, or by a folder
 *   archive too, is shown as `NAME~HASH12` for each (HASH12: the first 12 hex of the file's BLAKE3);
 * - `/TREE/…`: a folder archive, its latest snapshot;
 * - `/.snapshots/TREE/TIME_ID12/…`: every snapshot of TREE (snapshotDirName).
 * Lists of archives and snapshots are cached for `ttlMs`; snapshot directories are listed by streaming the body up
 * to the end of that directory (path order) and kept in an LRU of at most `maxCachedEntries` entries. Reads are
 * verified and self-healing (archives through the Serving's cache, packed files through a BlobReader); a range that
 * cannot be rebuilt fails (BF_UNRECOVERABLE / BF_BLOB_MISSING): the frontends answer EIO, never unverified bytes.
 */
export class MountTree {
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly visible: (dir: string, name: string | undefined) => boolean;
  private top?: { at: number; children: Map<string, Child>; snaps: Map<string, SnapshotSummary[]> };
  private topLoading?: Promise<void>;
  private readonly dirs = new Map<string, Map<string, Child>>();
  private cachedEntries = 0;
  private blobs?: { at: number; reader: BlobReader; refs: number; old: boolean };
  private blobsLoading?: Promise<void>;

  constructor(
    private readonly serving: Serving,
    opts: MountTreeOptions = {},
  ) {
    this.ttlMs = opts.ttlMs ?? 5000;
    this.maxEntries = opts.maxCachedEntries ?? 100_000;
    this.visible = opts.visible ?? (() => true);
  }

  /**
   * The node at `path` ('/'-separated, as shown; '' or '/' is the root).
   * @throws BlockFrameError BF_FILE_NOT_FOUND; store errors; BF_SNAPSHOT_INVALID for a damaged snapshot body.
   */
  async stat(path: string): Promise<MountNode> {
    const parts = splitPath(path);
    if (parts.length === 0) return { kind: 'dir', size: 0, mode: DIR_MODE, mtimeMs: 0 };
    return (await this.child(parts, path)).node;
  }

  /** The entries of directory `path`, in name order. @throws as stat(); BF_OUTPUT_INVALID when it is not a directory. */
  async readdir(path: string): Promise<MountDirent[]> {
    const parts = splitPath(path);
    const list = await this.listing(parts, path);
    return [...list.values()].map((c) => ({ name: c.name, node: c.node })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** The target of the link at `path`. @throws as stat(); BF_OUTPUT_INVALID when it is not a link. */
  async readlink(path: string): Promise<Buffer> {
    const c = await this.child(splitPath(path), path);
    if (c.node.kind !== 'symlink' || !c.node.target) throw new BlockFrameError('BF_OUTPUT_INVALID', `${JSON.stringify(path)} is not a symbolic link`, { path });
    return c.node.target;
  }

  /**
   * Open the file at `path` for verified reads (sequential reads are read ahead: see MountFile).
   * @throws as stat(); BF_OUTPUT_INVALID when it is a directory or a link.
   */
  async open(path: string): Promise<MountFile> {
    const c = await this.child(splitPath(path), path);
    if (c.node.kind !== 'file' || !c.source) throw new BlockFrameError('BF_OUTPUT_INVALID', `${JSON.stringify(path)} is a ${c.node.kind === 'dir' ? 'directory' : 'symbolic link'}, not a file`, { path });
    return new MountFile(await this.sourceOf(c.source, c.node.size), c.node.size);
  }

  /** Forget the cached lists (the next call lists the archives and snapshots again). */
  refresh(): void {
    this.top = undefined;
    this.dirs.clear();
    this.cachedEntries = 0;
  }

  /** Release the blob reader (the Serving stays open: its owner closes it). */
  async close(): Promise<void> {
    const b = this.blobs;
    this.blobs = undefined;
    if (b) await b.reader.close();
  }

  private async child(parts: string[], shown: string): Promise<Child> {
    const list = await this.listing(parts.slice(0, -1), shown);
    const c = list.get(parts[parts.length - 1]!);
    if (!c) throw NOT_FOUND(shown);
    return c;
  }

  /** The children of the directory at `parts`. */
  private async listing(parts: string[], shown: string): Promise<Map<string, Child>> {
    const top = await this.loadTop();
    if (parts.length === 0) return top.children;
    const first = top.children.get(parts[0]!);
    if (!first) throw NOT_FOUND(shown);
    let dir: Child = first;
    let i = 1;
    if (parts[0] === SNAPSHOTS_DIR) {
      if (parts.length === 1) return this.snapshotsRoot(top.snaps);
      const name = parts[1]!;
      const list = top.snaps.get(name);
      if (!list) throw NOT_FOUND(shown);
      const byDir = new Map<string, Child>();
      for (const s of list) byDir.set(snapshotDirName(s), await this.snapshotRoot(s, snapshotDirName(s)));
      if (parts.length === 2) return byDir;
      const root = byDir.get(parts[2]!);
      if (!root) throw NOT_FOUND(shown);
      dir = root;
      i = 3;
    }
    for (;;) {
      if (dir.node.kind !== 'dir' || !dir.snap) throw new BlockFrameError('BF_OUTPUT_INVALID', `${JSON.stringify(shown)}: ${JSON.stringify(dir.name)} is not a directory`, { path: shown });
      const list = await this.snapshotDir(dir.snap);
      if (i === parts.length) return list;
      const next = list.get(parts[i]!);
      if (!next) throw NOT_FOUND(shown);
      dir = next;
      i++;
    }
  }

  private snapshotsRoot(snaps: Map<string, SnapshotSummary[]>): Map<string, Child> {
    const out = new Map<string, Child>();
    for (const [name, list] of snaps) out.set(name, { name, node: { kind: 'dir', size: 0, mode: DIR_MODE, mtimeMs: Date.parse(list[list.length - 1]!.createdAt) || 0 }, snapName: name });
    return out;
  }

  /** The directory node of a snapshot's root (its header read and checked, once per listing of the top). */
  private async snapshotRoot(s: SnapshotSummary, name: string): Promise<Child> {
    const read = await readSnapshotHeader(this.serving.repo, s.id);
    const header = parseSnapshotHeader(read.bytes, s.id);
    return { name, node: { kind: 'dir', size: 0, mode: DIR_MODE, mtimeMs: Date.parse(s.createdAt) || 0 }, snap: { id: s.id, header, path: Buffer.alloc(0) } };
  }

  /** The archives and snapshots at the top, listed again after ttlMs. */
  private async loadTop(): Promise<NonNullable<MountTree['top']>> {
    if (this.top && Date.now() - this.top.at < this.ttlMs) return this.top;
    this.topLoading ??= this.listTop().finally(() => (this.topLoading = undefined));
    await this.topLoading;
    return this.top!;
  }

  private async listTop(): Promise<void> {
    const repo = this.serving.repo;
    const archives = await listIn(repo, await this.serving.cache.keySecrets());
    const { snapshots } = await listSnapshots(repo);
    const snaps = new Map<string, SnapshotSummary[]>();
    for (const s of snapshots) {
      if (!this.visible('', s.name)) continue;
      const list = snaps.get(s.name) ?? [];
      list.push(s);
      snaps.set(s.name, list);
    }
    const children = new Map<string, Child>();
    for (const [name, list] of snaps) {
      if (name === SNAPSHOTS_DIR) continue;
      const latest = list[list.length - 1]!;
      const root = await this.snapshotRoot(latest, name);
      children.set(name, root);
    }
    const byName = new Map<string, ArchiveSummary[]>();
    for (const a of archives.archives) {
      if (!this.visible(a.dir, a.name)) continue;
      const list = byName.get(a.name) ?? [];
      list.push(a);
      byName.set(a.name, list);
    }
    for (const [name, list] of byName) {
      const clash = list.length > 1 || children.has(name) || name === SNAPSHOTS_DIR || name.includes('/');
      for (const a of list) {
        const shown = clash ? `${name.replaceAll('/', '_')}~${(a.originalHash ?? a.dir.slice(-64)).slice(0, 12)}` : name;
        children.set(shown, { name: shown, node: { kind: 'file', size: a.size, mode: FILE_MODE, mtimeMs: Date.parse(a.createdAt) || 0, hash: a.originalHash ?? a.dir.slice(-64) }, source: { kind: 'archive', dir: a.dir } });
      }
    }
    if (snaps.size > 0) children.set(SNAPSHOTS_DIR, { name: SNAPSHOTS_DIR, node: { kind: 'dir', size: 0, mode: DIR_MODE, mtimeMs: 0 } });
    this.top = { at: Date.now(), children, snaps };
    this.dirs.clear();
    this.cachedEntries = 0;
  }

  /** The immediate children of a directory inside a snapshot: the body streamed from the start to the end of it. */
  private async snapshotDir(at: { id: string; header: SnapshotHeader; path: Buffer }): Promise<Map<string, Child>> {
    const key = `${at.id}/${at.path.toString('latin1')}`;
    const hit = this.dirs.get(key);
    if (hit) {
      this.dirs.delete(key);
      this.dirs.set(key, hit);
      return hit;
    }
    const out = new Map<string, Child>();
    const depth = at.path.length === 0 ? 0 : at.path.length + 1;
    await this.withBlobs(async (reader) => {
      for await (const e of bodyEntries(reader, at.header, at.path, { stopEarly: true })) {
        if (e.path.length <= at.path.length) continue; // the directory itself
        const rest = e.path.subarray(depth);
        const slash = rest.indexOf(0x2f);
        const nameBytes = slash < 0 ? rest : rest.subarray(0, slash);
        const name = showName(nameBytes);
        if (slash < 0) {
          const c: Child = { name, node: nodeOf(e) };
          if (e.type === 'file') c.source = { kind: 'blob', hash: e.blob };
          if (e.type === 'dir') c.snap = { id: at.id, header: at.header, path: Buffer.from(e.path) };
          out.set(name, c);
        } else if (!out.has(name)) {
          // A directory with no entry of its own (the body lists its files only): shown with the snapshot's time.
          const path = Buffer.from(e.path.subarray(0, depth + slash));
          out.set(name, { name, node: { kind: 'dir', size: 0, mode: DIR_MODE, mtimeMs: Date.parse(at.header.created_at) || 0 }, snap: { id: at.id, header: at.header, path } });
        }
      }
    });
    this.dirs.set(key, out);
    this.cachedEntries += out.size;
    for (const [k, v] of this.dirs) {
      if (this.cachedEntries <= this.maxEntries || k === key) break;
      this.dirs.delete(k);
      this.cachedEntries -= v.size;
    }
    return out;
  }

  /**
   * Run `fn` with the blob reader of the current index, loaded on first use and again after ttlMs (new packs of
   * later commits); a reader replaced while reads run is closed when they are done.
   */
  private async withBlobs<T>(fn: (r: BlobReader) => Promise<T>): Promise<T> {
    if (!this.blobs || Date.now() - this.blobs.at >= this.ttlMs * 6) {
      this.blobsLoading ??= (async () => {
        const { index } = await loadBlobIndex(this.serving.repo);
        const old = this.blobs;
        this.blobs = { at: Date.now(), reader: new BlobReader(this.serving.repo, index, { pool: this.serving.pool, readAhead: this.serving.windows, onDamage: (dir, d) => this.serving.cache.reportHeal(dir, d) }), refs: 0, old: false };
        if (old) {
          old.old = true;
          if (old.refs === 0) await old.reader.close();
        }
      })().finally(() => (this.blobsLoading = undefined));
      await this.blobsLoading;
    }
    const b = this.blobs!;
    b.refs++;
    try {
      return await fn(b.reader);
    } finally {
      b.refs--;
      if (b.old && b.refs === 0) void b.reader.close();
    }
  }

  private async sourceOf(src: Source, size: number): Promise<FileSource> {
    if (src.kind === 'blob') {
      return { read: (start, end) => this.withBlobs((r) => r.read(src.hash, start, end)), close: async () => {} };
    }
    const lease = await this.serving.cache.leaseDir(src.dir);
    return {
      read: async (start, end) => {
        try {
          return await lease.archive.read(start, Math.min(end, size) - start);
        } catch (err) {
          this.serving.readFailed(src.dir, err);
          throw lease.archive.explain(err);
        }
      },
      close: async () => lease.release(),
    };
  }
}

/** True for the errors a mount reports as "no such file" (ENOENT / 404); everything else that fails a read is EIO. */
export function isNotFound(err: unknown): boolean {
  return isBlockFrameError(err, 'BF_FILE_NOT_FOUND') || isBlockFrameError(err, 'BF_ARCHIVE_NOT_FOUND');
}
