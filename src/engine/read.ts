// Verified reads: byte ranges, range streams and whole-file streams over the self-healing ArchiveReader.
import { Readable } from 'node:stream';
import { BlockFrameError } from '../errors.js';
import type { ComputePool } from '../compute/pool.js';
import { isEncrypted, type Manifest } from '../layout/manifest.js';
import { ComputePool as Pool } from '../compute/pool.js';
import { Repository } from '../archive/repo.js';
import type { OperationOptions } from './context.js';
import { resolveArchive } from './find.js';
import { ArchiveReader, type Damage } from '../archive/read/reader.js';
import { loadSecrets, openContent, type Content } from '../archive/keyring.js';
import { ReadAhead, type Window } from '../archive/read/read-ahead.js';

export type { Window } from '../archive/read/read-ahead.js';

/**
 * Bytes of the read budget shared by the library's and CLI's reads in one process (restore, cat, read,
 * createReadStream): about what one restore held before it (7 windows of 4 MiB plus 3 stored batches), now a bound
 * for all of them together.
 */
export const LIBRARY_READ_BUDGET = 48 * 1024 * 1024;
let processReadAhead: ReadAhead | undefined;

/** The read-ahead a read runs through: the caller's (opts.readAhead), else one per process, made on first use. */
export function readAheadFor(opts: ReadOptions): ReadAhead {
  return opts.readAhead ?? (processReadAhead ??= new ReadAhead(LIBRARY_READ_BUDGET));
}

/** Verified windows of [offset, offset + length) of an open archive, released one by one (before the next). */
function windowsOf(a: OpenArchive, opts: ReadOptions, offset: number, length: number, signal?: AbortSignal): AsyncGenerator<Window> {
  return readAheadFor(opts).windows(a, offset, length, { ahead: 3, hold: 1, signal: signal ?? opts.signal });
}

export interface ReadOptions extends OperationOptions {
  /** Called once per damaged file found while reading, when the archive is closed (the bytes returned are still correct and verified). */
  onDamage?: (d: Damage) => void;
  /** Called at once, the first time each damaged file is seen (a server logs it). */
  onDamageSeen?: (d: Damage) => void;
  /** Keep shard files open between reads for a short while (a long-lived reader such as the server). */
  holdFiles?: boolean;
  /**
   * Refuse (BF_NOT_ENCRYPTED, before any byte is read) an archive that is not encrypted when keys were given. Who can
   * rewrite every manifest copy and hash can swap in a plain archive of their choosing under any name; only a reader
   * that expects encryption notices (docs/FORMAT.md §12.4.1, "What tampering can and cannot do"). Default false.
   */
  requireEncrypted?: boolean;
  /** Called with the archive directory when keys were given but the archive opened is not encrypted (the keys go unused). */
  onUnencrypted?: (dir: string) => void;
  /**
   * The read-ahead (and its memory budget) to read through; default one shared by every read of this process
   * (LIBRARY_READ_BUDGET bytes). Pass a server's to count a read against its budget.
   */
  readAhead?: ReadAhead;
}

/** An open archive for reading: its reader plus the pool it runs on; close() releases both. */
export interface OpenArchive {
  reader: ArchiveReader;
  manifest: Manifest;
  pool: ComputePool;
  /** The file's name, hash and transforms (opened with the caller's key when encrypted). */
  content: Content;
  /** Verified bytes [offset, offset + length), reusing this open archive (no manifest or index reload). */
  read(offset: number, length: number): Promise<Buffer>;
  /** `err`, or when it says data is missing while stores are absent: BF_STORE_NOT_MOUNTED naming the stores to plug in. */
  explain(err: unknown): unknown;
  close(): Promise<void>;
}

/** Codes that mean "not enough shards could be read". */
const TOO_FEW = new Set(['BF_UNRECOVERABLE', 'BF_RS_TOO_FEW_SHARDS', 'BF_STORE_UNAVAILABLE', 'BF_MANIFEST_MISSING', 'BF_SHARD_MISSING']);

/**
 * A read that failed for want of shards while some stores are absent (not mounted) fails with BF_STORE_NOT_MOUNTED
 * instead, naming the stores to plug in: the data is not lost, it is on a disk that is not there.
 */
function explainAbsent(repo: Repository, err: unknown): unknown {
  const absent = repo.absentStores();
  if (!absent.length || !(err instanceof BlockFrameError) || !TOO_FEW.has(err.code)) return err;
  const names = absent.map((d) => `store ${d + 1} (${repo.storeLabel(d)})`).join(', ');
  return new BlockFrameError('BF_STORE_NOT_MOUNTED', `${err.context.archive ?? 'this data'} needs ${names}, which ${absent.length === 1 ? 'is' : 'are'} not mounted: plug ${absent.length === 1 ? 'it' : 'them'} in and try again`, { ...err.context, stores: absent.map((d) => d + 1) }, { cause: err });
}

export async function openArchive(query: string, opts: ReadOptions = {}): Promise<OpenArchive> {
  const repo = await Repository.open(opts);
  let reader: ArchiveReader;
  let pool: ComputePool | undefined;
  let content: Content;
  try {
    const secrets = await loadSecrets(opts.keys);
    const dir = await resolveArchive(repo, query, secrets);
    const manifest = await repo.readManifest(dir);
    content = await openContent(dir, manifest, secrets);
    if (secrets.length > 0 && !isEncrypted(manifest)) {
      if (opts.requireEncrypted) {
        throw new BlockFrameError('BF_NOT_ENCRYPTED', `archive ${dir} is not encrypted, but a key was given: refusing to read it (someone who can rewrite the manifests may have swapped in a plain archive; --allow-unencrypted reads it anyway)`, { archive: dir });
      }
      opts.onUnencrypted?.(dir);
    }
    pool = opts.pool ?? Pool.start();
    reader = new ArchiveReader(repo, dir, manifest, pool, opts.signal, opts.onDamageSeen, opts.holdFiles, true);
  } catch (err) {
    if (pool && !opts.pool) await pool.close();
    const e = explainAbsent(repo, err);
    await repo.close();
    throw e;
  }
  const manifest = reader.manifest;
  const archive: OpenArchive = {
    reader,
    manifest,
    pool: pool!,
    content,
    read: (offset, length) => readFrom(archive, opts, offset, length).catch((err: unknown) => Promise.reject(explainAbsent(repo, err))),
    explain: (err) => explainAbsent(repo, err),
    async close() {
      if (opts.onDamage) for (const d of reader.damage.values()) opts.onDamage(d);
      await reader.close();
      if (!opts.pool) await pool!.close();
      await repo.close();
    },
  };
  return archive;
}

function checkRange(m: Manifest, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new BlockFrameError('BF_INVALID_RANGE', `invalid range: offset ${offset}, length ${length}`, { field: 'range' });
  }
  if (offset > m.size || (length > 0 && offset >= m.size)) {
    throw new BlockFrameError('BF_RANGE_NOT_SATISFIABLE', `offset ${offset} is outside the file (${m.size} bytes)`, { field: 'range', size: m.size });
  }
}

/** Read `length` verified bytes at `offset` (clamped to the end of the file). Only overlapping segments are read. */
export async function read(query: string, offset: number, length: number, opts: ReadOptions = {}): Promise<Buffer> {
  const a = await openArchive(query, opts);
  try {
    return await a.read(offset, length);
  } finally {
    await a.close();
  }
}

async function readFrom(a: OpenArchive, opts: ReadOptions, offset: number, length: number): Promise<Buffer> {
  checkRange(a.manifest, offset, length);
  const n = Math.max(0, Math.min(length, a.manifest.size - offset));
  const out = Buffer.allocUnsafe(n);
  let pos = 0;
  for await (const w of windowsOf(a, opts, offset, n)) {
    out.set(w.buf, pos);
    pos += w.buf.length;
    w.release();
  }
  return out;
}

/** A Readable of verified bytes [start, end] (end inclusive, like fs.createReadStream); the whole file by default. */
export function createReadStream(query: string, range: { start?: number; end?: number } = {}, opts: ReadOptions = {}): Readable {
  const controller = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, controller.signal]) : controller.signal;
  async function* gen(): AsyncGenerator<Buffer> {
    const a = await openArchive(query, { ...opts, signal });
    try {
      const start = range.start ?? 0;
      const end = Math.min(range.end ?? a.manifest.size - 1, a.manifest.size - 1);
      // An explicit start past the end is an error, as for read() and `cat --range`; an empty file streams nothing.
      if (range.start !== undefined && range.start >= a.manifest.size) checkRange(a.manifest, start, 1);
      if (end < start) return;
      checkRange(a.manifest, start, end - start + 1);
      try {
        for await (const w of windowsOf(a, opts, start, end - start + 1, signal)) {
          const copy = Buffer.from(w.buf); // a copy: the window is reused
          w.release();
          yield copy;
        }
      } catch (err) {
        throw a.explain(err);
      }
    } finally {
      await a.close();
    }
  }
  const stream = Readable.from(gen(), { objectMode: false });
  // Destroying the stream (a client going away) stops shard reads at the next window.
  stream.once('close', () => controller.abort());
  return stream;
}
