// Snapshots as the verbs see them (docs/FORMAT.md §13.3, §13.4, §13.8): list, resolve NAME[@ID][:PATH], ls of a body, and verified reads of one packed file.
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseRange } from '../layout/range.js';
import { BlockFrameError, isBlockFrameError } from '../errors.js';
import { assertSafePath, comparePaths, isAncestor, readBody, type SnapshotEntry } from '../layout/snapshot.js';
import { checkBodyAgainstHeader, parseSnapshotHeader, type SnapshotHeader } from '../layout/snapshot-header.js';
import { Repository } from '../archive/repo.js';
import { listNameRecords, resolveSnapshot } from '../archive/names.js';
import { listSnapshotIds, readSnapshotHeader } from '../archive/snapshots.js';
import type { BlobIndex } from '../archive/blob-index.js';
import type { Damage } from '../archive/read/reader.js';
import { createBlake3Stream } from '../integrity/blake3.js';
import { ComputePool } from '../compute/pool.js';
import type { BlobReader } from './blob-read.js';
import { RetryingBlobReader, type ReloadingIndex } from './blob-retry.js';
import { hasV3 } from './verify-v3.js';
import type { OperationOptions } from './context.js';
import type { ReadAhead } from '../archive/read/read-ahead.js';

/**
 * A snapshot reference with an optional path: `NAME`, `NAME@ID-PREFIX`, `NAME:PATH`, `NAME@ID-PREFIX:PATH`.
 * The text is split at its first ':' (so a path may hold ':'); a name that holds ':' is written whole with the
 * path given apart (`--path` on the command line, `path` here). The NAME@ID split is archive/names.ts's (the last
 * '@' followed by 1 to 64 lowercase hex digits).
 */
export interface SnapshotRef {
  /** `NAME` or `NAME@ID-PREFIX`, as resolveSnapshot takes it. */
  spec: string;
  /** The path prefix as bytes (UTF-8 of the text, '/' at either end dropped); empty for the whole tree. */
  path: Buffer;
}

/**
 * Parse `text` (see SnapshotRef). With `path` given (even ''), `text` is taken whole as NAME[@ID] and not split.
 * @throws BlockFrameError BF_USAGE for an empty name; BF_PATH_UNSAFE for a path breaking FORMAT.md §13.3's rules.
 */
export function parseSnapshotRef(text: string, path?: string): SnapshotRef {
  let spec = text;
  let p = path ?? '';
  if (path === undefined) {
    const colon = text.indexOf(':');
    if (colon >= 0) {
      spec = text.slice(0, colon);
      p = text.slice(colon + 1);
    }
  }
  if (spec.length === 0) throw new BlockFrameError('BF_USAGE', `no snapshot name in ${JSON.stringify(text)} (write NAME[@ID][:PATH])`, { field: 'snapshot' });
  const bytes = Buffer.from(p.replace(/^\/+|\/+$/g, ''), 'utf8');
  if (bytes.length > 0) assertSafePath(bytes);
  return { spec, path: bytes };
}

/** Is `path` the prefix itself or below it (every path is, for an empty prefix)? */
export function underPrefix(prefix: Uint8Array, path: Uint8Array): boolean {
  return prefix.length === 0 || Buffer.from(path).equals(prefix) || isAncestor(prefix, path);
}

/** One row of listSnapshots. */
export interface SnapshotSummary {
  name: string;
  /** 64 hex. */
  id: string;
  /** ISO 8601 UTC. */
  createdAt: string;
  parent: string | null;
  /** Entries of the body (files, directories and links). */
  entries: number;
  /** Sum of the files' sizes, bytes. */
  bytes: number;
  /** False for a snapshot no name record names (shown with `all` only; a rebuild of the names puts it back). */
  named: boolean;
}

export interface SnapshotListing {
  /** By name (UTF-16 order), then created_at and id (latest last). */
  snapshots: SnapshotSummary[];
  /** Name records or headers that could not be read: `what` is a key or an id. */
  damaged: { what: string; code: string; message: string }[];
}

function codeOf(err: unknown): string {
  return isBlockFrameError(err) ? err.code : 'BF_IO';
}

/**
 * Every snapshot the name records name (their headers read and checked against their ids); with `all`, also every
 * complete header set in `snapshots/` that no record names. Cost: one listing of catalog/names/ (and of
 * snapshots/ with `all`), one header read per snapshot. A record or header that cannot be read is reported in
 * `damaged`, never thrown. Errors: the store error when no store answers; BF_ABORTED.
 */
export async function listSnapshots(repo: Repository, opts: { all?: boolean; signal?: AbortSignal } = {}): Promise<SnapshotListing> {
  const out: SnapshotListing = { snapshots: [], damaged: [] };
  const { records, damaged } = await listNameRecords(repo, opts.signal);
  // Broken files under catalog/ are a damaged name record only in a format-v3 repository (the rule verify follows:
  // hasV3); in a version-2 root they are not ours, and list says nothing of them.
  if (damaged.length && (records.length > 0 || (await hasV3(repo, opts.signal)))) {
    for (const d of damaged) out.damaged.push({ what: d.key, code: 'BF_NAME_RECORD_INVALID', message: `name record ${d.key}: ${d.why}` });
  }
  const seen = new Set<string>();
  const add = async (id: string, named: boolean): Promise<void> => {
    try {
      const h = parseSnapshotHeader((await readSnapshotHeader(repo, id, { signal: opts.signal })).bytes, id);
      out.snapshots.push({ name: h.name, id, createdAt: h.created_at, parent: h.parent, entries: h.entries, bytes: h.bytes, named });
    } catch (err) {
      if (isBlockFrameError(err, 'BF_ABORTED')) throw err;
      // A record naming a snapshot being deleted (or gone) is skipped, as name resolution does.
      if (isBlockFrameError(err, 'BF_ARCHIVE_NOT_FOUND')) return;
      out.damaged.push({ what: id, code: codeOf(err), message: (err as Error).message });
    }
  };
  for (const r of records) {
    for (const s of r.snapshots) {
      if (seen.has(s.id)) continue;
      seen.add(s.id);
      await add(s.id, true);
    }
  }
  if (opts.all) for (const id of await listSnapshotIds(repo, { signal: opts.signal })) if (!seen.has(id)) await add(id, false);
  out.snapshots.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1));
  return out;
}

/** Does a name record exist for the name of `spec` (NAME or NAME@ID)? One record read; store errors count as no. */
export async function snapshotNameExists(repo: Repository, spec: string, signal?: AbortSignal): Promise<boolean> {
  try {
    await resolveSnapshot(repo, spec, signal);
    return true;
  } catch (err) {
    if (isBlockFrameError(err, 'BF_ABORTED')) throw err;
    return isBlockFrameError(err, 'BF_AMBIGUOUS_NAME');
  }
}

/** A snapshot resolved and its header read. */
export interface OpenedSnapshot {
  id: string;
  header: SnapshotHeader;
}

/**
 * Resolve `spec` (NAME or NAME@ID-PREFIX, archive/names.ts) and read its header, checked against its id.
 * @throws BlockFrameError BF_ARCHIVE_NOT_FOUND, BF_AMBIGUOUS_NAME, BF_SNAPSHOT_INVALID, BF_NAME_RECORD_INVALID, store errors.
 */
export async function openSnapshot(repo: Repository, spec: string, signal?: AbortSignal): Promise<OpenedSnapshot> {
  const r = await resolveSnapshot(repo, spec, signal);
  const read = await readSnapshotHeader(repo, r.id, { signal });
  return { id: r.id, header: parseSnapshotHeader(read.bytes, r.id) };
}

/** What the verbs over one snapshot share: the repository, its loaded blob index, a pool and a BlobReader. */
export interface SnapshotSession {
  repo: Repository;
  /** The index as loaded when the session opened. */
  index: BlobIndex;
  /** The index as the reads see it: loaded again when a blob has no valid location (a prune moved it; blob-retry.ts). */
  live: ReloadingIndex;
  /** Reads the index again and retries once on BF_BLOB_MISSING (RetryingBlobReader): no lock, and a concurrent prune fails no read. */
  reader: BlobReader;
  pool: ComputePool;
  /** Damaged shard files seen by the reads (the bytes returned were still verified). */
  damage: Damage[];
}

export interface SnapshotReadOptions extends OperationOptions {
  /** The read-ahead for streamed reads (default the process's). */
  readAhead?: ReadAhead;
  /** Each damaged shard file seen (a pack or large blob read healed around it). */
  onDamage?: (d: Damage) => void;
}

/**
 * Open the repository, load the blob index and make a BlobReader; run `fn`; close everything (also on errors).
 * The index loads once per session (about 52 bytes per blob), and again when a read finds a blob without a valid
 * location: the session takes no repository lock (a read must work with a store absent or read-only, which a lock,
 * written to every store, would not), so a prune may move blobs meanwhile; the reader then finds them through the
 * index prune wrote before deleting the old packs (FORMAT.md §13.6 "the invariant").
 */
export async function withSnapshotSession<T>(opts: SnapshotReadOptions, fn: (s: SnapshotSession) => Promise<T>): Promise<T> {
  const repo = await Repository.open(opts);
  const pool = opts.pool ?? ComputePool.start();
  const damage: Damage[] = [];
  let reader: BlobReader | undefined;
  try {
    const opened = await RetryingBlobReader.open(repo, {
      pool,
      signal: opts.signal,
      readAhead: opts.readAhead,
      onDamage: (_dir, d) => {
        damage.push(d);
        opts.onDamage?.(d);
      },
    });
    reader = opened.reader;
    return await fn({ repo, index: opened.index.current, live: opened.index, reader, pool, damage });
  } finally {
    await reader?.close();
    if (!opts.pool) await pool.close();
    await repo.close();
  }
}

/**
 * The entries of a snapshot body under `prefix` (all for an empty one), in path order, streamed from a verified
 * read of the body blob and checked line by line (layout/snapshot.ts readBody); at the end the totals and hash are
 * checked against the header. Stops reading early once past the prefix (path order) when `stopEarly`.
 * Memory: one line and one path per level. Errors: BF_SNAPSHOT_INVALID, BF_PATH_UNSAFE, BF_BLOB_MISSING, BF_ABORTED.
 */
export async function* bodyEntries(reader: BlobReader, h: SnapshotHeader, prefix: Uint8Array, opts: { signal?: AbortSignal; stopEarly?: boolean } = {}): AsyncGenerator<SnapshotEntry> {
  if (h.root_size === 0) return;
  const hash = await createBlake3Stream();
  const src = reader.stream(h.root_hash);
  async function* hashed(): AsyncGenerator<Uint8Array> {
    for await (const c of src as AsyncIterable<Buffer>) {
      hash.update(c);
      yield c;
    }
  }
  const body = readBody(hashed(), { signal: opts.signal });
  try {
    for (;;) {
      const n = await body.next();
      if (n.done) {
        checkBodyAgainstHeader(h, n.value, hash.digestHex());
        return;
      }
      const e = n.value;
      if (underPrefix(prefix, e.path)) yield e;
      else if (opts.stopEarly && prefix.length > 0 && comparePaths(e.path, prefix) > 0 && !isAncestor(e.path, prefix)) return;
    }
  } finally {
    await body.return(undefined as never);
    (src as Readable).destroy();
  }
}

/** A file of a snapshot, open for verified reads (docs/FORMAT.md §13.8). */
export interface SnapshotFile {
  snapshot: { name: string; id: string };
  entry: SnapshotEntry & { type: 'file' };
  /** Bytes. */
  size: number;
  /** BLAKE3 of the content, 64 hex. */
  blob: string;
  /** Verified bytes [start, end) (end defaults to the size; at most 64 MiB per call: BlobReader.read). */
  read(start?: number, end?: number): Promise<Buffer>;
  /** A Readable of verified bytes [start, end); a whole-file stream also checks the BLAKE3 at its end. */
  stream(start?: number, end?: number): Readable;
}

/**
 * Find `ref.path` (a file) in the snapshot `ref.spec` of an open session: the body is read up to the path (path
 * order) and no further. Reads of the file touch only its ranges of one pack (and that pack's table and chunk
 * index). @throws BlockFrameError BF_USAGE (no path given); BF_FILE_NOT_FOUND (no such entry); BF_OUTPUT_INVALID
 * (the entry is a directory or a link: not a file); besides openSnapshot's and bodyEntries' errors.
 */
export async function findSnapshotFile(s: SnapshotSession, ref: SnapshotRef, signal?: AbortSignal): Promise<SnapshotFile> {
  if (ref.path.length === 0) throw new BlockFrameError('BF_USAGE', `name a file of the snapshot: ${ref.spec}:PATH`, { field: 'path' });
  const snap = await openSnapshot(s.repo, ref.spec, signal);
  let found: SnapshotEntry | undefined;
  for await (const e of bodyEntries(s.reader, snap.header, ref.path, { signal, stopEarly: true })) {
    if (e.path.equals(ref.path)) {
      found = e;
      break;
    }
  }
  const shown = ref.path.toString('utf8');
  if (!found) throw new BlockFrameError('BF_FILE_NOT_FOUND', `no entry ${JSON.stringify(shown)} in snapshot ${snap.header.name}@${snap.id.slice(0, 12)}`, { path: shown, snapshot: snap.id });
  if (found.type !== 'file') throw new BlockFrameError('BF_OUTPUT_INVALID', `${JSON.stringify(shown)} is a ${found.type === 'dir' ? 'directory' : 'symlink'}, not a file`, { path: shown, type: found.type });
  const entry = found;
  return {
    snapshot: { name: snap.header.name, id: snap.id },
    entry,
    size: entry.size,
    blob: entry.blob,
    read: (start = 0, end = entry.size) => s.reader.read(entry.blob, start, end),
    stream: (start = 0, end = entry.size) => s.reader.stream(entry.blob, start, end),
  };
}

/** One entry as ls shows it: text where the bytes are UTF-8, else `pathB64` / `targetB64` (as FORMAT.md §13.3). */
export interface LsEntry {
  path?: string;
  pathB64?: string;
  type: 'file' | 'dir' | 'symlink';
  /** Permission bits (files and directories). */
  mode?: number;
  /** Bytes (files). */
  size?: number;
  /** Nanoseconds since 1970-01-01 UTC, as a decimal string (exact). */
  mtimeNs: string;
  /** ISO 8601 UTC to the millisecond (for people). */
  mtime: string;
  blob?: string;
  target?: string;
  targetB64?: string;
}

function textOr(bytes: Buffer): { text?: string; b64?: string } {
  const t = new TextDecoder('utf-8', { fatal: true });
  try {
    return { text: t.decode(bytes) };
  } catch {
    return { b64: bytes.toString('base64') };
  }
}

/** The LsEntry of a body entry. */
export function lsEntry(e: SnapshotEntry): LsEntry {
  const p = textOr(e.path);
  const out: LsEntry = { ...(p.text !== undefined ? { path: p.text } : { pathB64: p.b64 }), type: e.type, mtimeNs: e.mtimeNs.toString(), mtime: new Date(Number(e.mtimeNs / 1_000_000n)).toISOString() };
  if (e.type !== 'symlink') out.mode = e.mode;
  if (e.type === 'file') Object.assign(out, { size: e.size, blob: e.blob });
  if (e.type === 'symlink') {
    const t = textOr(e.target);
    Object.assign(out, t.text !== undefined ? { target: t.text } : { targetB64: t.b64 });
  }
  return out;
}

/**
 * The entries of snapshot `text` (NAME[@ID][:PATH], or `opts.path`) under its path, in path order, streamed (the
 * repository stays open until the generator ends or is returned). `onSnapshot` hears the resolved snapshot first.
 * Errors: as openSnapshot and bodyEntries.
 */
export async function* lsSnapshot(text: string, opts: SnapshotReadOptions & { path?: string; onSnapshot?: (s: OpenedSnapshot) => void } = {}): AsyncGenerator<LsEntry> {
  const ref = parseSnapshotRef(text, opts.path);
  const repo = await Repository.open(opts);
  const pool = opts.pool ?? ComputePool.start();
  const { reader } = await RetryingBlobReader.open(repo, { pool, signal: opts.signal, readAhead: opts.readAhead, onDamage: opts.onDamage && ((_d, d) => opts.onDamage!(d)) });
  try {
    const snap = await openSnapshot(repo, ref.spec, opts.signal);
    opts.onSnapshot?.(snap);
    for await (const e of bodyEntries(reader, snap.header, ref.path, { signal: opts.signal })) yield lsEntry(e);
  } finally {
    await reader.close();
    if (!opts.pool) await pool.close();
    await repo.close();
  }
}

/** The snapshots of the repository (see listSnapshots), opening and closing it. */
export async function snapshots(opts: OperationOptions & { all?: boolean } = {}): Promise<SnapshotListing> {
  const repo = await Repository.open(opts);
  try {
    return await listSnapshots(repo, { all: opts.all, signal: opts.signal });
  } finally {
    await repo.close();
  }
}

/** Is there a snapshot `spec` (NAME or NAME@ID; the name part of NAME[@ID][:PATH])? Opens the repository for it. */
export async function hasSnapshot(text: string, opts: OperationOptions & { path?: string } = {}): Promise<boolean> {
  const repo = await Repository.open(opts);
  try {
    return await snapshotNameExists(repo, parseSnapshotRef(text, opts.path).spec, opts.signal);
  } finally {
    await repo.close();
  }
}

/**
 * Verified bytes [start, end) of file `text` (NAME[@ID]:PATH) of a snapshot (end defaults to its size; at most
 * 64 MiB: use createSnapshotReadStream for more). Errors: as findSnapshotFile and BlobReader.read.
 */
export async function readSnapshotFile(text: string, start = 0, end?: number, opts: SnapshotReadOptions & { path?: string } = {}): Promise<Buffer> {
  return withSnapshotSession(opts, async (s) => (await findSnapshotFile(s, parseSnapshotRef(text, opts.path), opts.signal)).read(start, end));
}

/**
 * Write file `text` (NAME[@ID]:PATH) of a snapshot, or the byte range `range` ("START-END" inclusive, "START-",
 * "-SUFFIX", as cat), to `out`, verified, with backpressure. Returns the file's entry and the bytes written.
 * Errors: as findSnapshotFile; BF_INVALID_RANGE, BF_RANGE_NOT_SATISFIABLE; BF_HASH_MISMATCH (a whole file whose
 * bytes do not hash to its blob: they were already written).
 */
export async function catSnapshotFile(text: string, out: NodeJS.WritableStream, opts: SnapshotReadOptions & { path?: string; range?: string } = {}): Promise<{ file: SnapshotFile; bytes: number }> {
  return withSnapshotSession(opts, async (s) => {
    const f = await findSnapshotFile(s, parseSnapshotRef(text, opts.path), opts.signal);
    const r = opts.range === undefined ? { offset: 0, length: f.size } : parseRange(opts.range, f.size);
    await pipeline(f.stream(r.offset, r.offset + r.length), out, { end: false });
    return { file: f, bytes: r.length };
  });
}
