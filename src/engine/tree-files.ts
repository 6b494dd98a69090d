// The per-file parts of a folder commit (docs/FORMAT.md §13.6, §13.7): one read of a file that hashes it (and packs it), the parent body's merge-join cursor, the spooled body, and the quick path's valid-location check.
import { open, type FileHandle } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { BlockFrameError, fromSystemError, isBlockFrameError } from '../errors.js';
import { createBlake3Stream } from '../integrity/blake3.js';
import { encodeEntryLine, type BodyTotals, type SnapshotEntry } from '../layout/snapshot.js';
import { comparePaths, describePath } from '../tree-path.js';
import type { PackWriter, SealedPack } from '../archive/pack-writer.js';
import type { Spool } from '../store/spool.js';
import { checkAborted } from '../flow.js';
import type { BlobIndex } from '../archive/blob-index.js';
import type { Repository } from '../archive/repo.js';
import { blobDir } from '../layout/keys.js';
import type { BlobEntry } from '../layout/pack.js';
import type { BlobReader } from './blob-read.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { isRacy, RACY_REREAD_DELAY_MS } from './tree-ahead.js';

/** Bytes read per step from a file being committed. */
const READ_STEP = 1024 * 1024;

/** What one read of a file saw: its identity before the read (what the snapshot records) and its hash. */
export interface FileRead {
  /** 'ok': read whole and unchanged; 'changed': its size, mtime, ctime or inode moved, or it was not `size` bytes. */
  status: 'ok' | 'changed';
  /** The file's stat taken through the open handle before reading (bigint: nanosecond times). */
  size: number;
  mode: number;
  mtimeNs: bigint;
  /** BLAKE3 of the bytes read (64 hex), when status is 'ok'. */
  hash?: string;
  /** When the bytes went into the writer's spool: the open blob is still pending (commitBlob or cancelBlob next). */
  pending: boolean;
  /** Packs the writer sealed to make room for this blob. */
  sealed: SealedPack[];
}

/**
 * Read the regular file at `fsPath` once (O_NOFOLLOW: a file swapped for a link is 'changed', never followed),
 * hashing every byte. With `writer` (the file is 1 byte to below the pack threshold), the bytes are appended to the
 * writer's open blob as they are read and the blob is left pending for the caller to commit or cancel; otherwise
 * (large or empty files) only hashed. The handle's stat before and after must agree (size, mtime, ctime, inode) and
 * the bytes read must be the size: otherwise 'changed' (and a pending blob is cancelled here).
 * @throws BlockFrameError for an open or read failure (BF_FILE_NOT_FOUND, BF_FILE_UNREADABLE, BF_IO…), BF_ABORTED.
 */
export async function readTreeFile(fsPath: Buffer, writer: PackWriter | null, signal?: AbortSignal): Promise<FileRead> {
  let fh: FileHandle;
  try {
    fh = await open(fsPath, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') return { status: 'changed', size: 0, mode: 0, mtimeNs: 0n, pending: false, sealed: [] };
    throw fromSystemError(err, fsPath.toString(), 'opening a file of the tree');
  }
  let pending = false;
  try {
    const startedNs = BigInt(Date.now()) * 1_000_000n;
    const s1 = await fh.stat({ bigint: true });
    const base = { size: Number(s1.size), mode: Number(s1.mode & 0o7777n), mtimeNs: s1.mtimeNs };
    if (!s1.isFile()) return { status: 'changed', ...base, pending: false, sealed: [] };
    const usePack = writer !== null && base.size > 0;
    const sealed = usePack ? await writer.beginBlob(base.size) : [];
    pending = usePack;
    const h = await createBlake3Stream();
    const buf = Buffer.allocUnsafe(Math.max(1, Math.min(READ_STEP, base.size + 1)));
    let pos = 0;
    for (;;) {
      checkAborted(signal);
      // Read one byte past the size: a file that grew is caught here, not only by its stat.
      const want = Math.min(buf.length, base.size + 1 - pos);
      if (want <= 0) break;
      const { bytesRead } = await fh.read(buf, 0, want, pos);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      h.update(chunk);
      if (usePack && pos + bytesRead <= base.size) await writer.append(chunk);
      pos += bytesRead;
    }
    const s2 = await fh.stat({ bigint: true });
    const same = pos === base.size && s2.size === s1.size && s2.mtimeNs === s1.mtimeNs && s2.ctimeNs === s1.ctimeNs && s2.ino === s1.ino;
    if (!same) {
      if (usePack) await writer.cancelBlob();
      pending = false;
      return { status: 'changed', ...base, pending: false, sealed };
    }
    const hash = h.digestHex();
    if (isRacy(s2.ctimeNs, startedNs) && !(await sameAgain(fh, base.size, hash, s1))) {
      // Changed within the racy window and a second read disagrees: it is being written (tree-ahead.ts isRacy).
      if (usePack) await writer.cancelBlob();
      pending = false;
      return { status: 'changed', ...base, pending: false, sealed };
    }
    pending = false;
    return { status: 'ok', ...base, hash, pending: usePack, sealed };
  } catch (err) {
    if (pending && writer) await writer.cancelBlob().catch(() => undefined);
    throw isBlockFrameError(err) ? err : fromSystemError(err, fsPath.toString(), 'reading a file of the tree');
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** Read the file once more, RACY_REREAD_DELAY_MS later (hash only), and say whether it is still `size` bytes hashing to `hash` with the stat of `s1`. */
async function sameAgain(fh: FileHandle, size: number, hash: string, s1: BigIntStats): Promise<boolean> {
  await sleep(RACY_REREAD_DELAY_MS);
  const h = await createBlake3Stream();
  const buf = Buffer.allocUnsafe(Math.max(1, Math.min(READ_STEP, size + 1)));
  let pos = 0;
  for (;;) {
    const want = Math.min(buf.length, size + 1 - pos);
    if (want <= 0) break;
    const { bytesRead } = await fh.read(buf, 0, want, pos);
    if (bytesRead === 0) break;
    h.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  const s3 = await fh.stat({ bigint: true });
  return pos === size && h.digestHex() === hash && s3.size === s1.size && s3.mtimeNs === s1.mtimeNs && s3.ctimeNs === s1.ctimeNs;
}

/**
 * The parent snapshot's body, read once in path order beside the walk (docs/FORMAT.md §13.7): `find(path)` skips
 * the parent's entries before `path` and returns the one at `path`, or null. Calls must come in path order (the
 * walk's). Memory: one body line. A body that fails to read ends the cursor (every later find is null: those files
 * are hashed) and is remembered in `error`.
 */
export class ParentCursor {
  private cur: SnapshotEntry | undefined;
  private done = false;
  error: unknown;

  constructor(private readonly body: AsyncGenerator<SnapshotEntry, BodyTotals> | null) {
    if (body === null) this.done = true;
  }

  async find(path: Uint8Array): Promise<SnapshotEntry | null> {
    while (!this.done) {
      if (this.cur === undefined) {
        try {
          const r = await this.body!.next();
          if (r.done) {
            this.done = true;
            return null;
          }
          this.cur = r.value;
        } catch (err) {
          this.error = err;
          this.done = true;
          return null;
        }
      }
      const c = comparePaths(this.cur.path, path);
      if (c < 0) {
        this.cur = undefined;
        continue;
      }
      return c === 0 ? this.cur : null;
    }
    return null;
  }

  /** Stop reading the body (closes its stream). */
  async close(): Promise<void> {
    this.done = true;
    await this.body?.return({ size: 0, entries: 0, bytes: 0 } as BodyTotals).catch(() => undefined);
  }
}

/** Bytes of body lines gathered before one write to the spool file. */
const BODY_BATCH = 256 * 1024;

/**
 * A snapshot body being written (docs/FORMAT.md §13.3 "Body"): lines appended in path order to a local spool file
 * (never all in memory: at most 256 KiB buffered), hashed as they go. `finish()` gives its path, size, BLAKE3,
 * entry count and file bytes.
 */
export class BodySpool {
  private batch: Buffer[] = [];
  private batched = 0;
  private size = 0;
  private entries = 0;
  private bytes = 0;
  private last: Buffer | null = null;

  private constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    private readonly hash: Awaited<ReturnType<typeof createBlake3Stream>>,
  ) {}

  static async create(spool: Spool): Promise<BodySpool> {
    const path = join(spool.dir, 'snapshot-body');
    try {
      const fh = await open(path, 'w', 0o600);
      return new BodySpool(fh, path, await createBlake3Stream());
    } catch (err) {
      throw fromSystemError(err, path, 'creating the snapshot body spool');
    }
  }

  /** Append `entry`'s line. Throws BF_INTERNAL if it is not after the previous entry in path order (a walk bug). */
  async add(entry: SnapshotEntry): Promise<void> {
    if (this.last && comparePaths(this.last, entry.path) >= 0) throw new BlockFrameError('BF_INTERNAL', `tree entries out of path order at ${describePath(entry.path)}`);
    this.last = entry.path;
    const line = encodeEntryLine(entry);
    this.hash.update(line);
    this.batch.push(line);
    this.batched += line.length;
    this.size += line.length;
    this.entries++;
    if (entry.type === 'file') this.bytes += entry.size;
    if (this.batched >= BODY_BATCH) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.batched === 0) return;
    const data = Buffer.concat(this.batch, this.batched);
    this.batch = [];
    this.batched = 0;
    try {
      let done = 0;
      while (done < data.length) done += (await this.fh.write(data, done, data.length - done)).bytesWritten;
    } catch (err) {
      throw fromSystemError(err, this.path, 'writing the snapshot body spool');
    }
  }

  /** Write what is buffered and close the file. */
  async finish(): Promise<{ path: string; size: number; hash: string; entries: number; bytes: number }> {
    await this.flush();
    await this.fh.close();
    return { path: this.path, size: this.size, hash: this.hash.digestHex(), entries: this.entries, bytes: this.bytes };
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }
}

/** Pack tables kept by ValidLocations (each a hash → entry map of one pack; a re-commit meets packs roughly in order). */
const LOCATION_TABLES_KEPT = 16;

/**
 * The quick path's "valid location" rule (docs/FORMAT.md §13.5, §13.7): a blob may be named unread only when some
 * index entry's pack exists and its verified blob table lists the same (hash, offset, size), or its large-blob
 * archive exists with that hash and size. Tables come from `reader` (a verified read, once per pack while it stays
 * among the last 16 used; a pack that cannot be read counts as no location). Memory: 16 tables.
 */
export class ValidLocations {
  private readonly tables = new Map<string, Map<string, BlobEntry> | null>();
  private readonly archives = new Map<string, boolean>();

  constructor(
    private readonly repo: Repository,
    private readonly index: Pick<BlobIndex, 'lookup'>,
    private readonly reader: Pick<BlobReader, 'table'>,
  ) {}

  /** Has `hash` a valid location? Store errors other than a missing or damaged pack are thrown (BF_ABORTED too). */
  async valid(hash: string): Promise<boolean> {
    for (const loc of this.index.lookup(hash)) {
      if (loc.kind === 'pack') {
        const e = (await this.table(loc.pack))?.get(hash);
        if (e && e.offset === loc.offset && e.size === loc.size) return true;
      } else if (await this.archive(loc.hash, loc.size)) return true;
    }
    return false;
  }

  private async table(pack: string): Promise<Map<string, BlobEntry> | null> {
    if (this.tables.has(pack)) {
      const t = this.tables.get(pack)!;
      this.tables.delete(pack);
      this.tables.set(pack, t); // most recently used last
      return t;
    }
    const t = await this.reader.table(pack).then(
      (rows) => new Map(rows.map((r) => [r.hash, r])),
      (err: unknown) => {
        if (isBlockFrameError(err) && UNUSABLE.has(err.code)) return null;
        throw err;
      },
    );
    if (this.tables.size >= LOCATION_TABLES_KEPT) this.tables.delete(this.tables.keys().next().value!);
    this.tables.set(pack, t);
    return t;
  }

  private async archive(hash: string, size: number): Promise<boolean> {
    const key = `${hash}:${size}`;
    let ok = this.archives.get(key);
    if (ok === undefined) {
      ok = await this.repo.readManifest(blobDir(hash)).then(
        (m) => m.original_hash === hash && m.size === size && !m.content,
        (err: unknown) => {
          if (isBlockFrameError(err) && UNUSABLE.has(err.code)) return false;
          throw err;
        },
      );
      this.archives.set(key, ok);
    }
    return ok;
  }
}

/** Errors that make a location unusable (gone, damaged beyond repair, not what it claims) rather than stop the commit. */
const UNUSABLE = new Set(['BF_MANIFEST_MISSING', 'BF_MANIFEST_INVALID', 'BF_UNRECOVERABLE', 'BF_RS_TOO_FEW_SHARDS', 'BF_SHARD_MISSING', 'BF_HASH_MISMATCH', 'BF_BLOB_MISSING']);
