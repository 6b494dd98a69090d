// Blob reads (docs/FORMAT.md §13.8): verified, self-healing byte ranges of a format-v3 blob from the first valid location the index names (a pack's range, or a large blob's archive).
import { Readable } from 'node:stream';
import { BlockFrameError } from '../errors.js';
import type { ComputePool } from '../compute/pool.js';
import { createBlake3Stream } from '../integrity/blake3.js';
import { blobDir, packDir } from '../layout/keys.js';
import type { Manifest } from '../layout/manifest.js';
import { EMPTY_BLOB, parseBlobTable, type BlobEntry } from '../layout/pack.js';
import type { Repository } from '../archive/repo.js';
import { ArchiveReader, type Damage } from '../archive/read/reader.js';
import { readStored } from '../archive/read/plain.js';
import type { ReadAhead } from '../archive/read/read-ahead.js';
import type { BlobIndex, BlobLocation } from '../archive/blob-index.js';
import { openContent } from '../archive/keyring.js';
import { readAheadFor } from './read.js';

/** Pack tables kept by one BlobReader (each at most 7 MiB, usually a few KB). */
const TABLES_KEPT = 16;
/** read() returns at most this many bytes; stream() has no limit. */
export const BLOB_READ_MAX = 64 * 1024 * 1024;

/** Codes after which the next location is tried: the location is gone, damaged beyond repair, or lies. */
const NEXT = new Set(['BF_MANIFEST_MISSING', 'BF_MANIFEST_INVALID', 'BF_UNRECOVERABLE', 'BF_RS_TOO_FEW_SHARDS', 'BF_SHARD_MISSING', 'BF_STORE_UNAVAILABLE', 'BF_STORE_NOT_MOUNTED', 'BF_HASH_MISMATCH', 'BF_BLOB_MISSING']);

export interface BlobReadOptions {
  /** The compute pool that verifies (and rebuilds) chunks. */
  pool: ComputePool;
  signal?: AbortSignal;
  /** The read-ahead (memory budget) stream() reads through; default the process's (engine/read.ts). */
  readAhead?: ReadAhead;
  /** Each damaged shard file seen while reading, with the archive (pack or large blob) it belongs to; the bytes returned are still correct. */
  onDamage?: (dir: string, d: Damage) => void;
}

/**
 * Reads blobs of a format-v3 repository through its loaded index (archive/blob-index.ts). Every byte is verified
 * (chunk hashes to the Merkle root, rebuilt from parity when damaged, as any archive read); a whole-blob read also
 * checks the BLAKE3 of the result against the blob's hash. A location is used only when its pack exists and its
 * verified blob table lists the same (hash, offset, size); otherwise the next is tried. Several reads may run at
 * once (each pack's table and reader is loaded once). Close it when done, after the reads settle.
 */
export class BlobReader {
  private readonly tables = new Map<string, Map<string, BlobEntry>>();
  private readonly readers = new Map<string, ArchiveReader>();
  private readonly pendingTables = new Map<string, Promise<Map<string, BlobEntry>>>();
  private readonly pendingReaders = new Map<string, Promise<ArchiveReader>>();

  constructor(
    private readonly repo: Repository,
    private readonly index: Pick<BlobIndex, 'lookup'>,
    private readonly opts: BlobReadOptions,
  ) {}

  /**
   * Verified bytes [start, end) of blob `hash` (end defaults to the blob's size; at most BLOB_READ_MAX bytes).
   * @throws BlockFrameError BF_BLOB_MISSING when no location works (context: hash, tried); BF_RANGE_NOT_SATISFIABLE
   * / BF_INVALID_RANGE for a bad range; BF_ABORTED.
   */
  async read(hash: string, start = 0, end?: number): Promise<Buffer> {
    if (hash === EMPTY_BLOB) return checkRange(0, start, end ?? 0) && Buffer.alloc(0);
    return this.attempt(hash, async (loc, reader) => {
      const to = end ?? loc.size;
      checkRange(loc.size, start, to);
      if (to - start > BLOB_READ_MAX) throw new BlockFrameError('BF_INVALID_RANGE', `a blob read returns at most ${BLOB_READ_MAX} bytes; use stream()`, { field: 'range' });
      const base = loc.kind === 'pack' ? loc.offset : 0;
      const out = Buffer.allocUnsafe(to - start);
      await readStored(reader, base + start, out);
      if (start === 0 && to === loc.size) await checkWhole(hash, [out], reader.dir);
      return out;
    });
  }

  /**
   * A Readable of verified bytes [start, end) of blob `hash` (end defaults to its size), window by window through
   * the read-ahead. The location is chosen (and the range checked) before the first byte; a whole-blob stream
   * checks BLAKE3 at the end and fails with BF_HASH_MISMATCH (after the bytes went out: as any streamed restore).
   */
  stream(hash: string, start = 0, end?: number): Readable {
    const self = this;
    async function* gen(): AsyncGenerator<Buffer> {
      if (hash === EMPTY_BLOB) {
        checkRange(0, start, end ?? 0);
        return;
      }
      const { loc, reader } = await self.attempt(hash, async (l, r) => {
        checkRange(l.size, start, end ?? l.size);
        return { loc: l, reader: r };
      });
      const to = end ?? loc.size;
      const base = loc.kind === 'pack' ? loc.offset : 0;
      const whole = start === 0 && to === loc.size ? await createBlake3Stream() : null;
      const src = { reader, manifest: reader.manifest, pool: self.opts.pool, content: await openContent(reader.dir, reader.manifest, []) };
      for await (const w of readAheadFor({ readAhead: self.opts.readAhead }).windows(src, base + start, to - start, { ahead: 3, hold: 1, signal: self.opts.signal })) {
        const copy = Buffer.from(w.buf);
        w.release();
        whole?.update(copy);
        yield copy;
      }
      if (whole && whole.digestHex() !== hash) throw new BlockFrameError('BF_HASH_MISMATCH', `blob ${hash} read from ${reader.dir} does not match its hash`, { archive: reader.dir, blob: hash });
    }
    return Readable.from(gen(), { objectMode: false });
  }

  /**
   * The verified blob table of pack `p` (64 hex), read through the pack's erasure coding and checked as FORMAT.md
   * §13.2 says. Kept for the next reads (up to 16 tables).
   * @throws BlockFrameError BF_MANIFEST_MISSING (no such pack), BF_MANIFEST_INVALID (not a pack, or a bad table),
   * BF_UNRECOVERABLE, BF_STORE_UNAVAILABLE.
   */
  async table(p: string): Promise<BlobEntry[]> {
    return [...(await this.tableMap(p)).values()];
  }

  /** Release the open archive readers. */
  async close(): Promise<void> {
    for (const [dir, r] of this.readers) {
      if (this.opts.onDamage) for (const d of r.damage.values()) this.opts.onDamage(dir, d);
      await r.close();
    }
    this.readers.clear();
  }

  /** One table read per pack even when several reads ask at once (a restore keeps several files in flight). */
  private tableMap(p: string): Promise<Map<string, BlobEntry>> {
    const hit = this.tables.get(p);
    if (hit) return Promise.resolve(hit);
    let pending = this.pendingTables.get(p);
    if (!pending) {
      pending = this.loadTable(p).finally(() => this.pendingTables.delete(p));
      this.pendingTables.set(p, pending);
    }
    return pending;
  }

  private async loadTable(p: string): Promise<Map<string, BlobEntry>> {
    const reader = await this.readerFor(packDir(p));
    const facts = reader.manifest.pack;
    if (!facts) throw new BlockFrameError('BF_MANIFEST_INVALID', `${packDir(p)}: not a pack (no "pack" field)`, { archive: packDir(p), field: 'pack' });
    const bytes = Buffer.allocUnsafe(facts.table_size);
    await readStored(reader, facts.table_offset, bytes);
    const map = new Map(parseBlobTable(bytes, facts, packDir(p)).map((e) => [e.hash, e]));
    if (this.tables.size >= TABLES_KEPT) this.tables.delete(this.tables.keys().next().value!);
    this.tables.set(p, map);
    return map;
  }

  /** One reader per archive even when several reads open it at once. */
  private readerFor(dir: string): Promise<ArchiveReader> {
    const r = this.readers.get(dir);
    if (r) return Promise.resolve(r);
    let pending = this.pendingReaders.get(dir);
    if (!pending) {
      pending = (async () => {
        const m: Manifest = await this.repo.readManifest(dir);
        const made = new ArchiveReader(this.repo, dir, m, this.opts.pool, this.opts.signal, this.opts.onDamage && ((d) => this.opts.onDamage!(dir, d)));
        this.readers.set(dir, made);
        return made;
      })().finally(() => this.pendingReaders.delete(dir));
      this.pendingReaders.set(dir, pending);
    }
    return pending;
  }

  /** Run `fn` on the first valid location of `hash`; BF_BLOB_MISSING when none works. */
  private async attempt<T>(hash: string, fn: (loc: BlobLocation, reader: ArchiveReader) => Promise<T>): Promise<T> {
    const locs = this.index.lookup(hash);
    const tried: { where: string; code: string }[] = [];
    for (const loc of locs) {
      const dir = loc.kind === 'pack' ? packDir(loc.pack) : blobDir(loc.hash);
      try {
        if (loc.kind === 'pack') {
          const e = (await this.tableMap(loc.pack)).get(hash);
          if (!e || e.offset !== loc.offset || e.size !== loc.size) throw new BlockFrameError('BF_BLOB_MISSING', `${dir} does not list blob ${hash} at ${loc.offset} (+${loc.size})`, { archive: dir });
        }
        const reader = await this.readerFor(dir);
        if (loc.kind === 'archive' && (reader.manifest.size !== loc.size || reader.manifest.original_hash !== hash)) throw new BlockFrameError('BF_BLOB_MISSING', `${dir} is not blob ${hash} of ${loc.size} bytes`, { archive: dir });
        return await fn(loc, reader);
      } catch (err) {
        if (!(err instanceof BlockFrameError) || !NEXT.has(err.code)) throw err;
        tried.push({ where: dir, code: err.code });
      }
    }
    const why = tried.length ? `; tried ${tried.map((t) => `${t.where} (${t.code})`).join(', ')}` : ': the index lists no location';
    throw new BlockFrameError('BF_BLOB_MISSING', `blob ${hash} is missing${why}`, { blob: hash, tried: tried.map((t) => t.where) });
  }
}

function checkRange(size: number, start: number, end: number): true {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new BlockFrameError('BF_INVALID_RANGE', `invalid range [${start}, ${end})`, { field: 'range' });
  }
  if (end > size || (start >= size && end > start)) throw new BlockFrameError('BF_RANGE_NOT_SATISFIABLE', `range [${start}, ${end}) is outside the blob (${size} bytes)`, { field: 'range', size });
  return true;
}

async function checkWhole(hash: string, parts: Uint8Array[], dir: string): Promise<void> {
  const h = await createBlake3Stream();
  for (const p of parts) h.update(p);
  if (h.digestHex() !== hash) throw new BlockFrameError('BF_HASH_MISMATCH', `blob ${hash} read from ${dir} does not match its hash`, { archive: dir, blob: hash });
}

/**
 * Verified bytes [start, end) of blob `hash` (see BlobReader.read): a one-off read that opens and closes its own
 * readers. Reading many blobs, keep one BlobReader instead (it keeps pack tables).
 * @throws BlockFrameError BF_BLOB_MISSING, BF_RANGE_NOT_SATISFIABLE, BF_INVALID_RANGE, BF_ABORTED.
 */
export async function readBlob(repo: Repository, index: BlobIndex, hash: string, start: number, end: number | undefined, opts: BlobReadOptions): Promise<Buffer> {
  const r = new BlobReader(repo, index, opts);
  try {
    return await r.read(hash, start, end);
  } finally {
    await r.close();
  }
}

/**
 * The verified blob table of pack `p` (see BlobReader.table).
 * @throws BlockFrameError BF_MANIFEST_MISSING, BF_MANIFEST_INVALID, BF_UNRECOVERABLE, BF_STORE_UNAVAILABLE.
 */
export async function readPackTable(repo: Repository, p: string, opts: BlobReadOptions): Promise<BlobEntry[]> {
  const r = new BlobReader(repo, { lookup: () => [] }, opts);
  try {
    return await r.table(p);
  } finally {
    await r.close();
  }
}
