// S3 objects in packs (docs/FORMAT.md §13.9): small bodies group-committed as staging segments on every store, read back verified, and flushed into packs.
import { BlockFrameError } from '../errors.js';
import type { ComputePool } from '../compute/pool.js';
import { blake3Hex } from '../integrity/blake3.js';
import type { InputSource } from '../io/input.js';
import { stagingIdOf, stagingKey, S3_STAGING_PREFIX } from '../layout/keys.js';
import { EMPTY_BLOB, PACK_TARGET, PACK_THRESHOLD } from '../layout/pack.js';

export { PACK_THRESHOLD } from '../layout/pack.js';
import { encodeStagingHeader, parseStagingHeader, STAGING_MAX_BLOBS } from '../layout/staging.js';
import { BlobIndex, loadBlobIndex } from '../archive/blob-index.js';
import type { Repository } from '../archive/repo.js';
import type { RepoLockOptions } from '../archive/repo-lock.js';
import { bytesSource, getFully } from '../store/backend.js';
import { readBlob } from './blob-read.js';
import { flushSegments, type FlushReport } from './s3-flush.js';

/** A group commit takes at most this many objects… (FORMAT.md §13.9) */
export const BATCH_OBJECTS = 16;
/** …or this many bytes (one larger object still makes a segment of its own)… */
export const BATCH_BYTES = 8 * 1024 * 1024;
/** …or what arrived within this many ms of the first waiting body. */
export const BATCH_WAIT_MS = 10;
/** A flush runs once the oldest segment is this old (ms). */
export const FLUSH_AGE_MS = 60_000;
/** Bodies read into memory for staging at once, in bytes (a body above it waits for the others to be staged). */
const STAGE_MEMORY = 32 * 1024 * 1024;

export interface S3StagingOptions {
  pool: ComputePool;
  /** Flush once staged blob bytes reach this (default PACK_TARGET, 64 MiB). */
  flushBytes?: number;
  /** Flush once the oldest segment is this old, in ms (default FLUSH_AGE_MS); 0 turns the timer off. */
  flushAgeMs?: number;
  /** Pack target of the flush's packs (default PACK_TARGET; tests use less). */
  packTarget?: number;
  /** Merge the index files when a flush finds more than this many (default 256; tests use less). */
  indexMergeAt?: number;
  /** Options of the shared lock a flush takes (tests). */
  lock?: Omit<RepoLockOptions, 'signal'>;
  log?: (line: string) => void;
}

/** A staged body: its blob hash; `release()` once its key record is written (or refused), so a flush may take its segment. */
export interface StagedBody {
  hash: string;
  size: number;
  release(): void;
}

interface Segment {
  id: string;
  /** Blobs by hash: where each is in the segment (offset from the segment's first byte). */
  blobs: Map<string, { at: number; size: number }>;
  bytes: number;
  created: number;
  /** Stage calls not yet released: a flush leaves the segment alone until every record naming it is written. */
  pending: number;
}

interface Waiting {
  hash: string;
  body: Buffer;
  done: { resolve: (s: Segment) => void; reject: (e: unknown) => void }[];
}

/**
 * The staging area of one S3 server (one writer process per store set, docs/s3.md). `stage()` puts a body below
 * PACK_THRESHOLD into a segment on every store (group commit: one put, so one fsync per store, per batch), then
 * resolves; `read()` gives verified bytes of a blob, staged or packed; flushes move segments into packs (under the
 * shared repository lock) by size, by age, on `flush()` and on `close()`. `open()` flushes what a previous run left.
 */
export class S3Staging {
  private readonly segments = new Map<string, Segment>();
  /** Blob hash → the segment holding it (the newest one staged). */
  private readonly staged = new Map<string, Segment>();
  private waiting: Waiting[] = [];
  private waitingBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> = Promise.resolve();
  private flushing: Promise<FlushReport | null> | null = null;
  private memory = 0;
  private readonly memoryWaiters: (() => void)[] = [];
  private ager: NodeJS.Timeout | null = null;
  private closed = false;

  private constructor(
    private readonly repo: Repository,
    private readonly opts: S3StagingOptions,
    /** The blob index as of the last flush (or open): where packed blobs are. */
    private index: BlobIndex,
  ) {}

  /**
   * The staging area of `repo`: registers every segment found under `.s3/staging/` and flushes them (a flush that
   * cannot take the lock, say during a prune, leaves them staged and readable; the age timer retries).
   * @throws store errors listing or reading segments; BF_STAGING_INVALID is logged and the segment left alone.
   */
  static async open(repo: Repository, opts: S3StagingOptions): Promise<S3Staging> {
    const { index } = await loadBlobIndex(repo);
    const s = new S3Staging(repo, opts, index);
    for await (const o of repo.set.listEach(S3_STAGING_PREFIX)) {
      const id = stagingIdOf(o.key);
      if (o.prefix || !id) continue;
      try {
        const bytes = await s.readSegment(id, o.size);
        s.register(id, parseStagingHeader(bytes, stagingKey(id)), bytes.length, 0);
      } catch (err) {
        s.log(`blockframe s3: staging segment ${id} left alone: ${(err as Error).message}`);
      }
    }
    if (s.segments.size > 0) await s.flush();
    const age = opts.flushAgeMs ?? FLUSH_AGE_MS;
    if (age > 0) {
      s.ager = setInterval(() => s.flushIfOld(age), Math.max(50, Math.min(5000, age / 4)));
      s.ager.unref();
    }
    return s;
  }

  /** Blob bytes staged and not yet flushed. */
  get stagedBytes(): number {
    let n = 0;
    for (const seg of this.segments.values()) n += seg.bytes;
    return n;
  }

  /** Segments on the stores not yet flushed. */
  get segmentCount(): number {
    return this.segments.size;
  }

  /**
   * Stage the `size` bytes of `input` (below PACK_THRESHOLD): read, hash (BLAKE3), and group-commit them with
   * the other bodies waiting into one segment, put on every store. Resolves once the segment is durable. An empty
   * body is never stored (its hash is EMPTY_BLOB). Call release() on the result once the key record is written.
   * @throws BlockFrameError BF_USAGE for a size of 16 MiB or more; BF_FILE_CHANGED when the input is not `size`
   * bytes; store errors of the segment's put (nothing is recorded then).
   */
  async stage(input: InputSource, size: number): Promise<StagedBody> {
    if (size >= PACK_THRESHOLD) throw new BlockFrameError('BF_USAGE', `a staged body has at most ${PACK_THRESHOLD - 1} bytes, not ${size}`, { field: 'size' });
    if (size === 0) return { hash: EMPTY_BLOB, size: 0, release: () => undefined };
    await this.reserve(size);
    try {
      const body = Buffer.allocUnsafe(size);
      const f = await input.open();
      let got = 0;
      try {
        while (got < size) {
          const n = await f.readAt(body.subarray(got), size - got, got);
          if (n === 0) break;
          got += n;
        }
      } finally {
        await f.close();
      }
      if (got !== size) throw new BlockFrameError('BF_FILE_CHANGED', `${input.path}: read ${got} of ${size} bytes`, { path: input.path });
      return await this.stageHeld(body);
    } finally {
      this.unreserve(size);
    }
  }

  /**
   * Stage `body` (held in memory; below PACK_THRESHOLD), as stage() does: CopyObject stages the source's bytes
   * again, so that no prune can drop the blob between the copy reading the source's record and writing its own.
   */
  async stageBytes(body: Buffer): Promise<StagedBody> {
    if (body.length >= PACK_THRESHOLD) throw new BlockFrameError('BF_USAGE', `a staged body has at most ${PACK_THRESHOLD - 1} bytes, not ${body.length}`, { field: 'size' });
    if (body.length === 0) return { hash: EMPTY_BLOB, size: 0, release: () => undefined };
    await this.reserve(body.length);
    try {
      return await this.stageHeld(body);
    } finally {
      this.unreserve(body.length);
    }
  }

  private async stageHeld(body: Buffer): Promise<StagedBody> {
    const hash = blake3Hex(body);
    const seg = await new Promise<Segment>((resolve, reject) => this.enqueue(hash, body, { resolve, reject }));
    let released = false;
    return {
      hash,
      size: body.length,
      release: () => {
        if (released) return;
        released = true;
        seg.pending--;
      },
    };
  }

  /** Is blob `hash` in a segment (not yet flushed)? */
  isStaged(hash: string): boolean {
    return this.staged.has(hash);
  }

  /**
   * Verified bytes [start, end) of blob `hash` (at most 16 MiB - 1): from a segment when staged (the whole blob read
   * from any store whose copy matches its hash), else through the blob index (engine/blob-read.ts: verified,
   * self-healing, the next location when one fails; the index is reloaded once when none works, in case a prune
   * moved the blob).
   * @throws BlockFrameError BF_BLOB_MISSING, BF_RANGE_NOT_SATISFIABLE, BF_INVALID_RANGE.
   */
  async read(hash: string, start: number, end: number): Promise<Buffer> {
    if (hash === EMPTY_BLOB) return Buffer.alloc(0);
    const seg = this.staged.get(hash);
    if (seg) {
      const where = seg.blobs.get(hash)!;
      const whole = await this.readStaged(seg.id, hash, where.at, where.size).catch(() => null);
      if (whole) return whole.subarray(start, end);
      // Flushed meanwhile (the segment is gone): the blob is in a pack now.
    }
    try {
      return await readBlob(this.repo, this.index, hash, start, end, { pool: this.opts.pool });
    } catch (err) {
      if (!(err instanceof BlockFrameError) || err.code !== 'BF_BLOB_MISSING') throw err;
      this.index = (await loadBlobIndex(this.repo)).index;
      return readBlob(this.repo, this.index, hash, start, end, { pool: this.opts.pool });
    }
  }

  /**
   * Move every segment whose records are all written into packs (FORMAT.md §13.9), under the shared lock: see
   * flushSegments. One flush at a time; a second call waits for the first and then runs. Returns null when the lock
   * is held by a prune (BF_REPO_LOCKED: the segments stay, readable; the age timer retries).
   */
  async flush(): Promise<FlushReport | null> {
    // Wait for the flush running and the segment put in flight; checked again after each wait, so that of two callers
    // woken together only one starts (the other waits for it).
    for (;;) {
      while (this.flushing) await this.flushing.catch(() => undefined);
      await this.writing;
      if (!this.flushing) break;
    }
    const run = this.flushOnce();
    this.flushing = run;
    try {
      return await run;
    } finally {
      this.flushing = null;
    }
  }

  /** Stop the timers and flush what is staged (at shutdown). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ager) clearInterval(this.ager);
    if (this.timer) clearTimeout(this.timer);
    await this.cut();
    await this.writing;
    await this.flush().catch((err) => this.log(`blockframe s3: flush at shutdown failed (the segments stay, flushed at the next start): ${(err as Error).message}`));
  }

  private async flushOnce(): Promise<FlushReport | null> {
    const ready = [...this.segments.values()].filter((s) => s.pending === 0);
    if (ready.length === 0) return null;
    try {
      const r = await flushSegments(this.repo, ready.map((s) => s.id), (id) => this.readSegment(id), {
        pool: this.opts.pool,
        packTarget: this.opts.packTarget,
        lock: this.opts.lock,
        mergeAt: this.opts.indexMergeAt,
      });
      this.index = r.index;
      for (const id of r.flushed) this.unregister(id);
      for (const f of r.failed) this.log(`blockframe s3: staging segment ${f.id} not flushed: ${f.message}`);
      return r;
    } catch (err) {
      if (err instanceof BlockFrameError && err.code === 'BF_REPO_LOCKED') {
        this.log(`blockframe s3: flush postponed: ${err.message}`);
        return null;
      }
      throw err;
    }
  }

  private flushIfOld(age: number): void {
    if (this.flushing || this.closed) return;
    const now = Date.now();
    if (![...this.segments.values()].some((s) => now - s.created >= age)) return;
    this.flush().catch((err) => this.log(`blockframe s3: flush failed (the segments stay staged): ${(err as Error).message}`));
  }

  private enqueue(hash: string, body: Buffer, done: Waiting['done'][number]): void {
    const same = this.waiting.find((w) => w.hash === hash);
    if (same) same.done.push(done);
    else {
      this.waiting.push({ hash, body, done: [done] });
      this.waitingBytes += body.length;
    }
    if (this.waiting.length >= BATCH_OBJECTS || this.waitingBytes >= BATCH_BYTES) void this.cut();
    else this.timer ??= setTimeout(() => void this.cut(), BATCH_WAIT_MS);
  }

  /** Take the waiting bodies as one batch and write it after the batch before (one segment put at a time). */
  private cut(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.waiting.length === 0) return this.writing;
    const batch = this.waiting.splice(0, STAGING_MAX_BLOBS);
    this.waitingBytes = this.waiting.reduce((n, w) => n + w.body.length, 0);
    this.writing = this.writing.then(() => this.writeSegment(batch));
    return this.writing;
  }

  private async writeSegment(batch: Waiting[]): Promise<void> {
    try {
      const { header, entries } = encodeStagingHeader(batch.map((w) => ({ hash: w.hash, size: w.body.length })));
      const bytes = Buffer.concat([header, ...batch.map((w) => w.body)]);
      const id = blake3Hex(bytes);
      await this.repo.set.put(stagingKey(id), bytesSource(bytes));
      const seg = this.register(id, { blobs: entries, bodyStart: header.length, size: bytes.length }, bytes.length, 0);
      // Counted before anyone can flush: each staged body holds its segment until its record is written.
      for (const w of batch) for (const d of w.done) {
        seg.pending++;
        d.resolve(seg);
      }
    } catch (err) {
      for (const w of batch) for (const d of w.done) d.reject(err);
      return;
    }
    if (this.stagedBytes >= (this.opts.flushBytes ?? PACK_TARGET) && !this.flushing && !this.closed) {
      this.flush().catch((err) => this.log(`blockframe s3: flush failed (the segments stay staged): ${(err as Error).message}`));
    }
  }

  private register(id: string, h: { blobs: { hash: string; offset: number; size: number }[]; bodyStart: number; size?: number }, bytes: number, pending: number): Segment {
    const had = this.segments.get(id);
    if (had) return had;
    const seg: Segment = { id, blobs: new Map(), bytes, created: Date.now(), pending };
    for (const b of h.blobs) {
      seg.blobs.set(b.hash, { at: h.bodyStart + b.offset, size: b.size });
      this.staged.set(b.hash, seg);
    }
    this.segments.set(id, seg);
    return seg;
  }

  private unregister(id: string): void {
    const seg = this.segments.get(id);
    if (!seg) return;
    this.segments.delete(id);
    for (const h of seg.blobs.keys()) if (this.staged.get(h) === seg) this.staged.delete(h);
  }

  /** The whole segment `id` from the first store whose copy hashes to `id`. @throws BF_STAGING_INVALID, store errors. */
  private async readSegment(id: string, size?: number): Promise<Buffer> {
    const key = stagingKey(id);
    let firstErr: unknown;
    for (let d = 0; d < this.repo.set.domains.length; d++) {
      try {
        const bytes = await this.repo.set.on(d, async (b) => {
          const st = size ?? (await b.stat(key))?.size;
          if (st === undefined) throw new BlockFrameError('BF_STORE_KEY_MISSING', `${key}: missing`, { key });
          const buf = Buffer.allocUnsafe(st);
          return buf.subarray(0, await getFully(b, key, buf, 0));
        });
        if (blake3Hex(bytes) === id) return bytes;
        firstErr ??= new BlockFrameError('BF_STAGING_INVALID', `${key} on store ${d + 1} does not hash to its name`, { key, store: String(d + 1) });
      } catch (err) {
        firstErr ??= err;
      }
    }
    throw firstErr;
  }

  /** Blob `hash` ([at, at + size) of segment `id`) from the first store whose bytes match the hash. */
  private async readStaged(id: string, hash: string, at: number, size: number): Promise<Buffer> {
    const key = stagingKey(id);
    for (let d = 0; d < this.repo.set.domains.length; d++) {
      const buf = Buffer.allocUnsafe(size);
      const n = await this.repo.set.on(d, (b) => getFully(b, key, buf, at)).catch(() => -1);
      if (n === size && blake3Hex(buf) === hash) return buf;
    }
    throw new BlockFrameError('BF_STAGING_INVALID', `blob ${hash} of ${key} reads from no store`, { key });
  }

  private async reserve(size: number): Promise<void> {
    while (this.memory > 0 && this.memory + size > STAGE_MEMORY) await new Promise<void>((r) => this.memoryWaiters.push(r));
    this.memory += size;
  }

  private unreserve(size: number): void {
    this.memory -= size;
    for (const w of this.memoryWaiters.splice(0)) w();
  }

  private log(line: string): void {
    (this.opts.log ?? ((l: string) => process.stderr.write(`${l}\n`)))(line);
  }
}
