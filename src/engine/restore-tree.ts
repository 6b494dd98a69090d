// restoreTree: a snapshot (or the part under a path) written below an output directory, every file verified, several in flight (docs/FORMAT.md §13.3, §13.8).
import { resolve } from 'node:path';
import { BlockFrameError, ERROR_CODES, isBlockFrameError } from '../errors.js';
import { isAncestor, MAX_LINE_BYTES, parseEntryLine, type SnapshotEntry } from '../layout/snapshot.js';
import { checkBodyAgainstHeader, type SnapshotHeader } from '../layout/snapshot-header.js';
import { describePath } from '../tree-path.js';
import { createBlake3Stream } from '../integrity/blake3.js';
import { TreeWriter } from '../io/tree-write.js';
import type { BlobReader } from './blob-read.js';
import { openSnapshot, parseSnapshotRef, underPrefix, withSnapshotSession, type SnapshotReadOptions } from './snapshots.js';
import type { Damage } from '../archive/read/reader.js';
import { PathFilter } from './path-filter.js';

/** Files up to this size are read ahead whole (verified) while earlier entries are written; larger ones stream. */
export const PREFETCH_MAX_BYTES = 1024 * 1024;
/** Entries read ahead of the one being written, and the bytes they may hold (bounds memory: 16 MiB). */
const AHEAD_ENTRIES = 16;
const AHEAD_BYTES = 16 * 1024 * 1024;
/** Failures kept in the result (all are counted and passed to onEntryError). */
const FAILURES_KEPT = 100;

export interface RestoreTreeOptions extends SnapshotReadOptions {
  /** Replace links and files in the way (never a directory; a link itself, never its target). */
  force?: boolean;
  /** The path prefix (instead of `:PATH` in the spec; then the spec is taken whole as NAME[@ID]). */
  path?: string;
  /**
   * Durability. 'batched' (default): each file is fsync'd before its rename into place (so a crash never leaves a
   * file with its final name and partial content), with up to 16 files finishing at once, and each directory after its
   * children: when restoreTree returns, everything it wrote is on disk. 'none': no fsync at all (the OS writes back
   * later; a crash may lose recent files or leave them empty).
   */
  durability?: 'batched' | 'none';
  /** Each entry that failed (the restore goes on with the others). `path` as describePath (JSON-quoted or b64:). */
  onEntryError?: (path: string, err: BlockFrameError) => void;
  /** Files and bytes written so far, and the bytes of the whole snapshot (header `bytes`). */
  onFiles?: (p: { files: number; bytes: number; totalBytes: number }) => void;
  /**
   * Only entries whose path (from the snapshot's root), or a parent directory's, matches one of these globs
   * (path-filter.ts: `*`, `?`, `[…]`, `**`; a pattern without '/' matches the last component at any depth). The
   * directories above a written entry are written too; other directories are not (an empty directory only when it
   * matches). Default: every entry (under the path).
   */
  include?: string[];
  /** Entries whose path, or a parent directory's, matches one of these globs are not written (after `include`). */
  exclude?: string[];
  /** @internal Called once the snapshot is open and the index loaded, before the body is read (tests: a prune meanwhile). */
  onOpened?: () => Promise<void>;
}

export interface RestoreTreeResult {
  snapshot: { name: string; id: string; createdAt: string };
  output: string;
  /** The path prefix restored ('' for the whole tree). */
  path: string;
  dirs: number;
  files: number;
  symlinks: number;
  /** Bytes of file content written. */
  bytes: number;
  /** Entries that failed (0 for a complete restore). */
  failed: number;
  /** The first 100 failures. */
  failures: { path: string; code: string; message: string }[];
  /** Damaged shard files the reads healed around (run repair). */
  damage: Damage[];
  /** The exit status a command line gives: 0, or the highest of the failures' codes' exit codes. */
  exitCode: number;
}

type Item = { entry: SnapshotEntry; data?: Promise<Buffer>; bytes: number } | { failure: BlockFrameError; where: string; whole?: true };

/**
 * The lines of the body blob, parsed one by one (parseEntryLine): a line that breaks the entry rules (an unsafe
 * path, a bad field) becomes a failure item and the next line is read, so one bad entry does not stop a restore;
 * order and parents are the TreeWriter's to refuse (BF_SNAPSHOT_INVALID, BF_PATH_UNSAFE). The totals and BLAKE3
 * are checked against the header at the end: a mismatch (BF_SNAPSHOT_INVALID, or BF_HASH_MISMATCH from the read)
 * is a failure item of the whole body, after the entries. Memory: one line (at most 64 KiB).
 */
async function* bodyItems(reader: BlobReader, h: SnapshotHeader, signal?: AbortSignal): AsyncGenerator<Item> {
  if (h.root_size === 0) return;
  const hash = await createBlake3Stream();
  const totals = { entries: 0, bytes: 0, size: 0 };
  let pending: Buffer[] = [];
  let pendingLen = 0;
  const one = (line: Buffer): Item => {
    totals.entries++;
    totals.size += line.length + 1;
    try {
      const entry = parseEntryLine(line, totals.entries);
      if (entry.type === 'file') totals.bytes += entry.size;
      return { entry, bytes: 0 };
    } catch (err) {
      if (!isBlockFrameError(err)) throw err;
      return { failure: err, where: typeof err.context.path === 'string' ? err.context.path : `body line ${totals.entries}` };
    }
  };
  const source = (async function* () {
    try {
      yield* reader.stream(h.root_hash) as AsyncIterable<Buffer>;
    } catch (err) {
      if (isBlockFrameError(err, 'BF_HASH_MISMATCH')) return err;
      throw err;
    }
    return null;
  })();
  let bodyErr: BlockFrameError | null = null;
  for (;;) {
    const n = await source.next();
    if (n.done) {
      bodyErr = n.value;
      break;
    }
    const chunk = n.value;
    if (signal?.aborted) throw new BlockFrameError('BF_ABORTED', 'cancelled while restoring');
    hash.update(chunk);
    let from = 0;
    for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, from)) {
      const part = chunk.subarray(from, nl);
      const line = pendingLen === 0 ? part : Buffer.concat([...pending, part]);
      pending = [];
      pendingLen = 0;
      from = nl + 1;
      yield one(line);
    }
    if (from < chunk.length) {
      pendingLen += chunk.length - from;
      if (pendingLen > MAX_LINE_BYTES) throw new BlockFrameError('BF_SNAPSHOT_INVALID', `snapshot body line ${totals.entries + 1}: longer than ${MAX_LINE_BYTES} bytes`, { line: totals.entries + 1 });
      pending.push(Buffer.from(chunk.subarray(from)));
    }
  }
  if (pendingLen > 0) throw new BlockFrameError('BF_SNAPSHOT_INVALID', `snapshot body line ${totals.entries + 1}: the last line does not end with "\\n"`, { line: totals.entries + 1 });
  try {
    if (bodyErr) throw bodyErr;
    checkBodyAgainstHeader(h, totals, hash.digestHex());
  } catch (err) {
    if (!isBlockFrameError(err)) throw err;
    yield { failure: err, where: 'snapshot body', whole: true };
  }
}

/**
 * Restore snapshot `spec` (`NAME`, `NAME@ID-PREFIX`, with `:PATH` for the entries under PATH: see parseSnapshotRef)
 * below `outDir` (created if missing). The header is read and checked against its id; the body is streamed from a
 * verified read of its blob; every file's bytes come from BlobReader (verified chunk by chunk, rebuilt from parity
 * where damaged, tried at the next location the index names when a pack is gone) and the TreeWriter checks each
 * file's BLAKE3 before renaming it into place. Only entries under the path are written, with the directories
 * above it (so `photos:2024/a.jpg` lands at OUT/2024/a.jpg). The empty blob is never read. Up to 16 entries (16 MiB)
 * are read ahead while earlier ones are written, and up to 16 files finish (fsync, rename) at once.
 * An entry that fails (unsafe path, bytes missing, something in the way) is reported and the rest goes on: see
 * `failed`, `failures`, `exitCode`. `include` / `exclude` pick entries by glob (path-filter.ts). A snapshot restore
 * takes no repository lock (a read: it works with a store absent or read-only, which a lock written to every store
 * would not); when a prune runs at the same time and moves a blob, the read finds no valid location, loads the index
 * again and retries (blob-retry.ts): prune writes the new index before it deletes a pack, so no file fails for it.
 * @throws BlockFrameError for the snapshot as a whole: BF_ARCHIVE_NOT_FOUND, BF_AMBIGUOUS_NAME, BF_SNAPSHOT_INVALID
 * (header, or a body that breaks its header), BF_BLOB_MISSING (the body), BF_PATH_UNSAFE (a bad PATH),
 * BF_OUTPUT_INVALID (OUT unusable), BF_ABORTED (signal; files already renamed into place stay).
 */
export async function restoreTree(spec: string, outDir: string, opts: RestoreTreeOptions = {}): Promise<RestoreTreeResult> {
  const ref = parseSnapshotRef(spec, opts.path);
  const filter = new PathFilter(opts.include, opts.exclude);
  const output = resolve(outDir);
  return withSnapshotSession(opts, async (s) => {
    const snap = await openSnapshot(s.repo, ref.spec, opts.signal);
    await opts.onOpened?.();
    const h = snap.header;
    const result: RestoreTreeResult = {
      snapshot: { name: h.name, id: snap.id, createdAt: h.created_at },
      output,
      path: ref.path.toString('utf8'),
      dirs: 0,
      files: 0,
      symlinks: 0,
      bytes: 0,
      failed: 0,
      failures: [],
      damage: s.damage,
      exitCode: 0,
    };
    const report = (where: string, err: BlockFrameError): void => {
      result.failed++;
      if (result.failures.length < FAILURES_KEPT) result.failures.push({ path: where, code: err.code, message: err.message });
      result.exitCode = Math.max(result.exitCode, ERROR_CODES[err.code].exitCode);
      opts.onEntryError?.(where, err);
    };
    const batched = (opts.durability ?? 'batched') === 'batched';
    const writer = await TreeWriter.open(output, {
      force: opts.force,
      signal: opts.signal,
      fsync: batched,
      finishConcurrency: 16,
      onError: (path, err) => report(describePath(path), err),
    });
    let progressBytes = 0;
    let progressFiles = 0;
    const window: Item[] = [];
    let aheadBytes = 0;
    const items = bodyItems(s.reader, h, opts.signal);
    let ended = false;
    // Without a filter: the entries under the path and the directories above it. With one, a directory that is not
    // itself wanted waits (a stack, one per level) until an entry below it is, and is written just before it.
    const inPath = (e: SnapshotEntry): boolean => underPrefix(ref.path, e.path) || (e.type === 'dir' && isAncestor(e.path, ref.path));
    const waiting: Item[] = [];
    const keepAncestorsOf = (path: Buffer): void => {
      while (waiting.length && !isAncestor((waiting[waiting.length - 1] as { entry: SnapshotEntry }).entry.path, path)) waiting.pop();
    };
    /** The items to queue for `it` (none, it, or the waiting directories above it and it). */
    const admit = (it: Item & { entry: SnapshotEntry }): Item[] => {
      const e = it.entry;
      if (!inPath(e)) return [];
      if (filter.empty) return [it];
      keepAncestorsOf(e.path);
      if (!underPrefix(ref.path, e.path) || !filter.wants(e.path)) {
        if (e.type === 'dir') waiting.push(it);
        return [];
      }
      return [...waiting.splice(0), it];
    };
    const fill = async (): Promise<void> => {
      while (!ended && window.length < AHEAD_ENTRIES && aheadBytes < AHEAD_BYTES) {
        const n = await items.next();
        if (n.done) {
          ended = true;
          return;
        }
        const it = n.value;
        if ('entry' in it) {
          const queue = admit(it);
          if (queue.length === 0) continue;
          const e = it.entry;
          if (e.type === 'file' && e.size > 0 && e.size <= PREFETCH_MAX_BYTES) {
            it.data = s.reader.read(e.blob);
            it.data.catch(() => undefined); // reported when its turn comes
            it.bytes = e.size;
            aheadBytes += e.size;
          }
          window.push(...queue);
          continue;
        } else if (ref.path.length > 0 && !it.whole) {
          continue; // a bad line outside the path is not this restore's business
        }
        window.push(it);
      }
    };
    try {
      for (;;) {
        await fill();
        const it = window.shift();
        if (!it) break;
        if (!('entry' in it)) {
          report(it.where, it.failure);
          continue;
        }
        aheadBytes -= it.bytes;
        const e = it.entry;
        const content =
          e.type !== 'file' || e.size === 0
            ? undefined
            : it.data
              ? async function* () {
                  yield await it.data!;
                }
              : () => s.reader.stream(e.blob) as AsyncIterable<Buffer>;
        const ok = await writer.add(e, content);
        if (ok && e.type === 'file') {
          progressFiles++;
          progressBytes += e.size;
          opts.onFiles?.({ files: progressFiles, bytes: progressBytes, totalBytes: h.bytes });
          opts.onProgress?.(progressBytes, h.bytes);
        }
      }
    } finally {
      await items.return(undefined);
      for (const w of window) if ('data' in w && w.data) await w.data.catch(() => undefined);
      const sum = await writer.close();
      Object.assign(result, { dirs: sum.dirs, files: sum.files, symlinks: sum.symlinks, bytes: sum.bytes });
    }
    return result;
  });
}
