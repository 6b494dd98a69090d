// commitTree: commit directory trees as one format-v3 snapshot (docs/FORMAT.md §13.6 "Commit", §13.7): walk, quick path against the parent, packs, index, header, name record.
import { basename, resolve } from 'node:path';
import { BlockFrameError, isBlockFrameError, type ErrorCode } from '../errors.js';
import { loadBlobIndex, writeIndexFile, type BlobIndex } from '../archive/blob-index.js';
import { PackWriter, type SealedPack } from '../archive/pack-writer.js';
import { withRepo, type Repository } from '../archive/repo.js';
import { spoolFor } from '../archive/shards.js';
import { acquireShared } from '../archive/repo-lock.js';
import { ensureV3Marker } from '../archive/v3-marker.js';
import { readSnapshotHeader, writeSnapshotHeader } from '../archive/snapshots.js';
import { appendSnapshot, checkName, resolveSnapshot } from '../archive/names.js';
import { BlobReader } from './blob-read.js';
import { mergeIndexFiles } from './index-merge.js';
import { commit } from './commit.js';
import { checkAborted, withPool, type OperationOptions } from './context.js';
import { walkTree, walkTrees, type WalkEntry } from '../io/tree-walk.js';
import { openInput } from '../io/input.js';
import { EMPTY_BLOB, PACK_THRESHOLD, type IndexArchive, type IndexPack } from '../layout/pack.js';
import { readBody, type SnapshotEntry } from '../layout/snapshot.js';
import { buildSnapshotHeader, parseSnapshotHeader, snapshotId, type SnapshotHeader } from '../layout/snapshot-header.js';
import { describePath, utf8OrNull } from '../tree-path.js';
import { BodySpool, ParentCursor, readTreeFile, ValidLocations } from './tree-files.js';
import { WalkAhead } from './tree-ahead.js';
import { blake3Hex } from '../integrity/blake3.js';
import { VERSION } from '../version.js';

/** Packs sealed between two index files (docs/FORMAT.md §13.6): a killed commit run again finds what it wrote. */
export const INDEX_EVERY_PACKS = 64;
/** The quick path trusts a file's times only when its ctime is this much older than the parent's walk (§13.7). */
export const QUICK_CTIME_MARGIN_MS = 2000;

/** Files, bytes of files and bytes newly written into packs so far (commitTree's progress). */
export interface TreeProgress {
  files: number;
  bytes: number;
  bytesNew: number;
}

export interface CommitTreeOptions extends OperationOptions {
  /** The snapshot's name (1 to 4,096 characters). Default: the base name of the one directory; required for several. */
  name?: string;
  /** Compare against this snapshot (64 hex id, or NAME / NAME@ID-PREFIX) instead of the name's latest (§13.7). */
  parent?: string;
  /** false: hash every file, trusting no size and mtime (`--no-quick`, for file systems whose ctime is unreliable). */
  quick?: boolean;
  /** Refused on a tree (BF_USAGE): format 3.0 has no compressed or encrypted packs (FORMAT.md §13.11). */
  compress?: number | 'auto';
  /** Refused on a tree (BF_USAGE), as `compress`. */
  encrypt?: boolean;
  /** Called after each file (files done, bytes of files done, bytes written into packs). */
  onTreeProgress?: (p: TreeProgress) => void;
  /** @internal Seal packs at this many bytes instead of 64 MiB (tests). */
  packTarget?: number;
  /** @internal The clock, for created_at (tests). */
  now?: () => Date;
}

/** One path the commit left out, and why (a coded error). */
export interface TreePathError {
  /** The path as describePath gives it: JSON-quoted text, or `b64:` and the bytes' base64. */
  path: string;
  code: ErrorCode;
  message: string;
}

export interface CommitTreeResult {
  /** The snapshot id: BLAKE3 of its header (64 hex). */
  id: string;
  name: string;
  /** The snapshot compared against, or null. */
  parent: string | null;
  createdAt: string;
  files: number;
  dirs: number;
  symlinks: number;
  /** Devices, FIFOs and sockets not recorded. */
  skipped: number;
  /** Sum of the recorded files' sizes. */
  bytes: number;
  /** Bytes of files and body written into new packs or large blobs (not counting table, parity or metadata). */
  bytesNew: number;
  /** Files reused without reading (quick path). */
  filesQuick: number;
  /** Files read whose content was already stored (index, or earlier in this commit). */
  filesKnown: number;
  /** Files read and hashed (every file not taken by the quick path). */
  filesHashed: number;
  /** Packs sealed and published by this commit. */
  packsWritten: number;
  /** Large blobs (16 MiB and more) archived by this commit. */
  largeBlobs: number;
  indexFiles: number;
  /** Index files merged into one and deleted after the snapshot was written (more than 256 were loaded; §13.5), else 0. */
  indexFilesMerged: number;
  /** The body blob: its hash and size. */
  root: { hash: string; size: number };
  /** Paths left out (changed twice while read, unreadable, vanished); a non-empty list makes commitTree throw at the end. */
  errors: TreePathError[];
}

function entryError(path: Buffer, err: unknown): TreePathError {
  const code: ErrorCode = isBlockFrameError(err) ? err.code : 'BF_IO';
  return { path: describePath(path), code, message: err instanceof Error ? err.message : String(err) };
}

/** The file system path of entry `rel` of the walk: a root and the rest of the path (walkTrees: the first component names the root). */
function fsPathOf(roots: Map<string, Buffer> | Buffer, rel: Buffer): Buffer {
  if (Buffer.isBuffer(roots)) return Buffer.concat([roots, Buffer.from('/'), rel]);
  const slash = rel.indexOf(0x2f);
  const root = roots.get(rel.subarray(0, slash < 0 ? rel.length : slash).toString('latin1'))!;
  return slash < 0 ? root : Buffer.concat([root, rel.subarray(slash)]);
}

/**
 * Commit the directories `paths` as one snapshot (docs/FORMAT.md §13.6 "Commit", §13.3): one directory's entries are
 * its contents; several are each put under their base name (BF_USAGE when two are equal, or without `name`). Needs
 * every store (BF_STORE_NOT_MOUNTED, nothing written) and a shared repository lock (BF_REPO_LOCKED while a prune
 * runs). Files equal in path, size and mtime to the parent's entry, with a ctime older than the parent's walk minus
 * 2 s, reuse its blob unread (§13.7); every other file is read once, hashed while it is appended to a pack, and
 * cut back if its content is already stored. Files from PACK_THRESHOLD (16 MiB) are hashed, then archived as large
 * blobs only when unknown. A file that changes while read is read once more; if it changes again it is left out.
 * Memory: one pack's table, the index (about 52 bytes per blob) and one body line; the body is spooled to disk.
 * @returns the snapshot's facts (CommitTreeResult).
 * @throws BlockFrameError BF_USAGE (compress/encrypt, names), BF_STORE_NOT_MOUNTED, BF_REPO_LOCKED, BF_ABORTED, store
 * errors; and, after the snapshot is written, the first left-out path's code (BF_FILE_CHANGED when any file kept
 * changing) with `context.result` (the CommitTreeResult) and `context.errors`.
 */
export async function commitTree(paths: string[], opts: CommitTreeOptions = {}): Promise<CommitTreeResult> {
  if (paths.length === 0) throw new BlockFrameError('BF_USAGE', 'commit of a tree: give at least one directory', { field: 'paths' });
  if (opts.compress !== undefined || opts.encrypt) {
    throw new BlockFrameError('BF_USAGE', `--${opts.encrypt ? 'encrypt' : 'compress'} is not available for directories: format 3.0 stores packs without compression or encryption (docs/FORMAT.md §13.11)`, { field: opts.encrypt ? 'encrypt' : 'compress' });
  }
  const name = opts.name ?? (paths.length === 1 ? basename(resolve(paths[0]!)) : undefined);
  if (name === undefined) throw new BlockFrameError('BF_USAGE', 'committing several directories as one snapshot needs --name', { field: 'name' });
  checkName(name);
  const result = await withRepo(opts, (repo) => withPool(opts, (pool) => commitTreeTo(repo, paths, name, { ...opts, pool })));
  if (result.errors.length) {
    const first = result.errors.find((e) => e.code === 'BF_FILE_CHANGED') ?? result.errors[0]!;
    throw new BlockFrameError(first.code, `${result.errors.length} path(s) left out of snapshot ${result.id}; first: ${first.path}: ${first.message}`, { snapshot: result.id, errors: result.errors, result });
  }
  return result;
}

async function commitTreeTo(repo: Repository, paths: string[], name: string, opts: CommitTreeOptions & { pool: NonNullable<OperationOptions['pool']> }): Promise<CommitTreeResult> {
  const { signal } = opts;
  repo.requireAllStores();
  await repo.markIfNew(signal);
  await repo.prepareStaging();
  const lock = await acquireShared(repo, { signal });
  try {
    await ensureV3Marker(repo, signal);
    const { index, loaded } = await loadBlobIndex(repo, { signal });
    const parent = await findParent(repo, name, opts);
    const r = await commitWithIndex(repo, paths, name, index, parent, opts);
    // Above 256 index files, the ones loaded become one (§13.5), after the snapshot is written.
    const merged = await mergeIndexFiles(repo, index, loaded, new Date(), signal);
    if (merged) r.indexFilesMerged = merged.merged;
    return r;
  } finally {
    await lock.release();
  }
}

async function findParent(repo: Repository, name: string, opts: CommitTreeOptions): Promise<{ id: string; header: SnapshotHeader } | null> {
  let id: string;
  if (opts.parent !== undefined) {
    id = /^[0-9a-f]{64}$/.test(opts.parent) ? opts.parent : (await resolveSnapshot(repo, opts.parent, opts.signal)).id;
  } else {
    try {
      id = (await resolveSnapshot(repo, name, opts.signal)).id;
    } catch (err) {
      if (isBlockFrameError(err, 'BF_ARCHIVE_NOT_FOUND')) return null;
      throw err;
    }
  }
  const read = await readSnapshotHeader(repo, id, { signal: opts.signal });
  return { id, header: parseSnapshotHeader(read.bytes, id) };
}

async function commitWithIndex(repo: Repository, paths: string[], name: string, index: BlobIndex, parent: { id: string; header: SnapshotHeader } | null, opts: CommitTreeOptions & { pool: NonNullable<OperationOptions['pool']> }): Promise<CommitTreeResult> {
  const { pool, signal } = opts;
  const startedAt = (opts.now ?? (() => new Date()))();
  const createdAt = startedAt.toISOString();
  const generator = `blockframe ${VERSION}`;
  const quick = opts.quick !== false && parent !== null;
  const ctimeLimitNs = parent ? BigInt(Date.parse(parent.header.created_at) - QUICK_CTIME_MARGIN_MS) * 1_000_000n : 0n;
  const r: CommitTreeResult = {
    id: '', name, parent: parent?.id ?? null, createdAt, files: 0, dirs: 0, symlinks: 0, skipped: 0, bytes: 0, bytesNew: 0,
    filesQuick: 0, filesKnown: 0, filesHashed: 0, packsWritten: 0, largeBlobs: 0, indexFiles: 0, indexFilesMerged: 0, root: { hash: EMPTY_BLOB, size: 0 }, errors: [],
  };
  const reader = new BlobReader(repo, index, { pool, signal });
  const locations = new ValidLocations(repo, index, reader);
  const cursor = new ParentCursor(quick && parent!.header.root_size > 0 ? readBody(reader.stream(parent!.header.root_hash), { signal }) : null);
  const writer = await PackWriter.open(repo, { pool, signal, generator, target: opts.packTarget });
  const { spool } = await spoolFor(repo, 0);
  let body: BodySpool | null = null;
  const largeDone = new Set<string>();
  let pendingPacks: IndexPack[] = [];
  let pendingArchives: IndexArchive[] = [];
  const writeIndex = async (): Promise<void> => {
    if (pendingPacks.length === 0 && pendingArchives.length === 0) return;
    await writeIndexFile(repo, { createdAt: new Date().toISOString(), packs: pendingPacks, archives: pendingArchives }, signal);
    r.indexFiles++;
    pendingPacks = [];
    pendingArchives = [];
  };
  const onSealed = async (sealed: SealedPack[]): Promise<void> => {
    for (const p of sealed) {
      pendingPacks.push({ pack: p.pack, blobs: p.blobs });
      if (p.status === 'published') r.packsWritten++;
    }
    if (pendingPacks.length >= INDEX_EVERY_PACKS) await writeIndex();
  };
  /** Store a blob of PACK_THRESHOLD bytes or more from `fsPath` (hash known): 'known', 'new', or 'changed' (the file changed meanwhile). */
  const storeLarge = async (fsPath: Buffer, hash: string, size: number): Promise<'known' | 'new' | 'changed'> => {
    if (largeDone.has(hash) || (await locations.valid(hash))) return 'known';
    const text = utf8OrNull(fsPath);
    const c = await commit(text ?? fsPath.toString('latin1'), { storeSet: repo.set, pool, signal, largeBlob: true }).catch((err: unknown) => {
      if (isBlockFrameError(err, 'BF_FILE_CHANGED')) return null;
      throw err;
    });
    if (c === null || c.originalHash !== hash || c.size !== size) return 'changed';
    largeDone.add(hash);
    pendingArchives.push({ archive: hash, size });
    if (c.status === 'already-archived') return 'known';
    r.largeBlobs++;
    r.bytesNew += size;
    return 'new';
  };
  /** Read (at most `attempts` times) and store the file; its body entry, or null when it kept changing. */
  const storeFile = async (fsPath: Buffer, w: WalkEntry, attempts = 2): Promise<SnapshotEntry | null> => {
    for (let attempt = 0; attempt < attempts; attempt++) {
      const large = w.size >= PACK_THRESHOLD;
      const f = await readTreeFile(fsPath, large ? null : writer, signal);
      await onSealed(f.sealed);
      if (f.status === 'ok' && (f.size >= PACK_THRESHOLD) !== large) {
        // It crossed the threshold since the walk: read it again the other way.
        if (f.pending) await writer.cancelBlob();
        w = { ...w, size: f.size };
        continue;
      }
      if (f.status !== 'ok') continue;
      const hash = f.hash!;
      r.filesHashed++;
      const entry: SnapshotEntry = { type: 'file', path: w.path, mode: f.mode, mtimeNs: f.mtimeNs, size: f.size, blob: hash };
      if (large) {
        const stored = await storeLarge(fsPath, hash, f.size);
        if (stored === 'changed') continue;
        if (stored === 'known') r.filesKnown++;
        return entry;
      }
      if (f.pending) {
        if (await locations.valid(hash)) {
          await writer.cancelBlob();
          r.filesKnown++;
        } else {
          const added = await writer.commitBlob(hash);
          if (added.added) r.bytesNew += f.size;
          else r.filesKnown++;
          await onSealed(added.sealed);
        }
      }
      return entry;
    }
    return null;
  };
  /** Store a small file read ahead whole (tree-ahead.ts): hashed first, so known content costs no write at all. */
  const storeBytes = async (w: WalkEntry, p: { size: number; mode: number; mtimeNs: bigint; data: Buffer }): Promise<SnapshotEntry> => {
    const hash = blake3Hex(p.data);
    r.filesHashed++;
    const entry: SnapshotEntry = { type: 'file', path: w.path, mode: p.mode, mtimeNs: p.mtimeNs, size: p.size, blob: hash };
    if (writer.has(hash) || (await locations.valid(hash))) {
      r.filesKnown++;
      return entry;
    }
    await onSealed(await writer.beginBlob(p.size));
    await writer.append(p.data);
    const added = await writer.commitBlob(hash);
    if (added.added) r.bytesNew += p.size;
    else r.filesKnown++;
    await onSealed(added.sealed);
    return entry;
  };
  /** The quick path (§13.7), asked in walk order: the parent's entry whose blob this file reuses unread, or null. */
  const reuse = async (w: WalkEntry): Promise<SnapshotEntry | null> => {
    const prev = quick ? await cursor.find(w.path) : null;
    const ok = prev && prev.type === 'file' && prev.size === w.size && prev.mtimeNs === w.mtimeNs && w.ctimeNs < ctimeLimitNs && (prev.size === 0 || (await locations.valid(prev.blob)));
    return ok ? prev! : null;
  };
  let ahead: WalkAhead | null = null;
  try {
    body = await BodySpool.create(spool);
    const roots = paths.length === 1 ? Buffer.from(paths[0]!) : new Map(paths.map((p) => [Buffer.from(basename(resolve(p))).toString('latin1'), Buffer.from(p)]));
    const walkOpts = {
      signal,
      onSkip: () => void r.skipped++,
      onError: (path: Buffer, err: BlockFrameError) => void r.errors.push(entryError(path, err)),
    };
    const walk = paths.length === 1 ? walkTree(paths[0]!, walkOpts) : walkTrees(paths, walkOpts);
    ahead = new WalkAhead(walk, reuse, (rel) => fsPathOf(roots, rel));
    for (let it = await ahead.next(); it !== null; it = await ahead.next()) {
      checkAborted(signal);
      const w = it.w;
      if (w.type === 'dir') {
        r.dirs++;
        await body.add({ type: 'dir', path: w.path, mode: w.mode, mtimeNs: w.mtimeNs });
        continue;
      }
      if (w.type === 'symlink') {
        r.symlinks++;
        await body.add({ type: 'symlink', path: w.path, target: w.target!, mtimeNs: w.mtimeNs });
        continue;
      }
      let entry: SnapshotEntry | null = null;
      if (it.reuse?.type === 'file') {
        entry = { type: 'file', path: w.path, mode: w.mode, mtimeNs: w.mtimeNs, size: w.size, blob: it.reuse.blob };
        r.filesQuick++;
      } else {
        try {
          const pre = it.pre ? await it.pre : null;
          // Read ahead whole and unchanged: pack the bytes. Changed while read ahead: one more read, the usual way.
          entry = pre?.status === 'ok' ? await storeBytes(w, pre) : await storeFile(fsPathOf(roots, w.path), w, pre?.status === 'changed' ? 1 : 2);
          if (entry === null) r.errors.push({ path: describePath(w.path), code: 'BF_FILE_CHANGED', message: 'the file changed while it was read, twice: left out of the snapshot' });
        } catch (err) {
          if (isBlockFrameError(err, 'BF_ABORTED') || !isBlockFrameError(err) || !isFileError(err.code)) throw err;
          r.errors.push(entryError(w.path, err));
        }
      }
      if (entry === null || entry.type !== 'file') continue;
      await body.add(entry);
      r.files++;
      r.bytes += entry.size;
      opts.onTreeProgress?.({ files: r.files, bytes: r.bytes, bytesNew: r.bytesNew });
    }
    await ahead.close();
    await cursor.close();
    // The body blob: appended to the open pack (or a large blob), then the last pack sealed and the index written.
    const b = await body.finish();
    body = null;
    r.root = { hash: b.hash, size: b.size };
    if (b.size >= PACK_THRESHOLD) await storeLarge(Buffer.from(b.path), b.hash, b.size);
    else if (b.size > 0 && !(await locations.valid(b.hash))) {
      const input = await openInput(b.path);
      try {
        const added = await writer.add(b.hash, b.size, input, b.path);
        if (added.added) r.bytesNew += b.size;
        await onSealed(added.sealed);
      } finally {
        await input.close();
      }
    }
    await onSealed(await writer.flush());
    await writeIndex();
    const header: SnapshotHeader = { format_version: 3, kind: 'snapshot', name, created_at: createdAt, parent: parent?.id ?? null, root_hash: b.hash, root_size: b.size, entries: b.entries, bytes: b.bytes, generator };
    const bytes = buildSnapshotHeader(header);
    r.id = snapshotId(bytes);
    await writeSnapshotHeader(repo, r.id, bytes, signal);
    await appendSnapshot(repo, name, { id: r.id, created_at: createdAt }, signal);
    return r;
  } finally {
    await ahead?.close();
    await cursor.close();
    await body?.close();
    await writer.close();
    await reader.close();
    await spool.discard();
  }
}

/** Errors of one file of the tree (it is left out and reported), as opposed to errors of the stores (the commit stops). */
function isFileError(code: ErrorCode): boolean {
  return code === 'BF_FILE_NOT_FOUND' || code === 'BF_FILE_UNREADABLE' || code === 'BF_FILE_CHANGED' || code === 'BF_NOT_A_FILE' || code === 'BF_IO';
}
