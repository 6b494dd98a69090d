// The pack writer (docs/FORMAT.md §13.2): blobs appended to a local spool file, sealed into format-v3 packs (blob table, one Tier 3 stripe) and published on every store.
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { BlockFrameError, fromSystemError } from '../errors.js';
import type { ComputePool } from '../compute/pool.js';
import { createBlake3Stream } from '../integrity/blake3.js';
import { DEFAULT_CHUNK_SIZE } from '../layout/chunks.js';
import { packDir } from '../layout/keys.js';
import { serializeManifest, type Manifest } from '../layout/manifest.js';
import { EMPTY_BLOB, encodeBlobTable, packFacts, PACK_MAX_BLOBS, PACK_NAME, PACK_TARGET, PACK_THRESHOLD, tableLine, type BlobEntry } from '../layout/pack.js';
import { buildManifest, planPack } from '../layout/plan.js';
import { pathStores } from '../layout/placement.js';
import { openInput, type InputFile } from '../io/input.js';
import { checkAborted } from '../flow.js';
import { Staging } from './publish.js';
import type { Repository } from './repo.js';
import { spoolFor } from './shards.js';
import { withArchiveLock } from './lock.js';
import { hasArchiveKeys, removeArchive } from './remove.js';
import { writeShards } from './write/shard-writer.js';
import type { Spool } from '../store/spool.js';

/** Bytes read per step by add(). */
const READ_STEP = 1024 * 1024;

export interface PackWriterOptions {
  /** The compute pool that codes and hashes the shards. */
  pool: ComputePool;
  /** Seal before the stored stream (blobs and table) would pass this many bytes (default PACK_TARGET, 64 MiB; tests use less). */
  target?: number;
  /** Seal at this many blobs (default PACK_MAX_BLOBS, 65,536; at most that). */
  maxBlobs?: number;
  signal?: AbortSignal;
  /** `generator` of the pack manifests ("blockframe X.Y.Z"). */
  generator: string;
  /** The time written as `created_at` (ISO 8601); default now. */
  now?: () => string;
}

/** A pack the writer sealed and published. */
export interface SealedPack {
  /** The pack id: BLAKE3 of its stored stream (64 hex). */
  pack: string;
  /** Its archive directory on the stores, `packs/{p[0:2]}/pack_{p}`. */
  dir: string;
  /** Its blob table, in offset order. */
  blobs: BlobEntry[];
  /** Bytes of the stored stream (blobs and table). */
  size: number;
  /** 'exists' when a pack with the same stream was already published (the same bytes: nothing written). */
  status: 'published' | 'exists';
  manifest: Manifest;
}

/** What commitBlob() and add() did: whether the blob went into the open pack, and the packs sealed meanwhile. */
export interface AddResult {
  /** false when the blob is empty or this writer holds it already (its bytes were cut back off the spool). */
  added: boolean;
  sealed: SealedPack[];
}

/**
 * Packs blobs (1 byte to PACK_THRESHOLD - 1) into format-v3 packs. Memory stays bounded: blob bytes go straight
 * to a local spool file (never whole files in RAM); only the open pack's table (about 90 bytes per blob) is held.
 *
 * Two ways to feed it:
 * - add(hash, size, input): reads the input in 1 MiB steps, checks the hash, and appends it;
 * - beginBlob(size), append(chunk)…, then commitBlob(hash) or cancelBlob(): a commit hashes while it appends, in
 *   one read pass, and cuts the spool back (cancelBlob) when the hash turns out to be known.
 *
 * A pack is sealed when the next blob would take the stream past the target, at `maxBlobs` blobs, and by flush()
 * (the last, shorter pack of a commit): its blob table is appended, its shards are coded (one Tier 3 stripe with
 * the store set's code) and published at packDir(p) on every store (placement as FORMAT.md §11). Call flush() at
 * the end, then close(). Not safe for concurrent calls: one blob at a time.
 */
export class PackWriter {
  private entries: BlobEntry[] = [];
  private tableBytes = 0;
  private length = 0;
  private current: { start: number; declared: number } | null = null;
  private readonly known = new Set<string>();
  private readonly target: number;
  private readonly maxBlobs: number;

  private constructor(
    private readonly repo: Repository,
    private readonly opts: PackWriterOptions,
    private readonly spool: Spool,
    private readonly fh: FileHandle,
    private readonly streamPath: string,
  ) {
    this.target = opts.target ?? PACK_TARGET;
    this.maxBlobs = Math.min(opts.maxBlobs ?? PACK_MAX_BLOBS, PACK_MAX_BLOBS);
  }

  /**
   * A writer for `repo`, its spool in the first store's staging directory (or the local scratch directory).
   * @throws BlockFrameError BF_USAGE for a target below 4 KiB or maxBlobs below 1; the spool's I/O errors.
   */
  static async open(repo: Repository, opts: PackWriterOptions): Promise<PackWriter> {
    if (opts.target !== undefined && (!Number.isSafeInteger(opts.target) || opts.target < 4096)) throw new BlockFrameError('BF_USAGE', `invalid pack target ${opts.target}: at least 4096 bytes`, { field: 'target' });
    if (opts.maxBlobs !== undefined && (!Number.isSafeInteger(opts.maxBlobs) || opts.maxBlobs < 1)) throw new BlockFrameError('BF_USAGE', `invalid pack blob count ${opts.maxBlobs}: at least 1`, { field: 'maxBlobs' });
    await repo.prepareStaging();
    const { spool } = await spoolFor(repo, 0);
    const path = join(spool.dir, 'pack-stream');
    try {
      const fh = await open(path, 'w+', 0o600);
      return new PackWriter(repo, opts, spool, fh, path);
    } catch (err) {
      await spool.discard();
      throw fromSystemError(err, path, 'creating the pack spool');
    }
  }

  /** Blobs in the open (unsealed) pack. */
  get openBlobs(): number {
    return this.entries.length;
  }

  /** Has this writer packed blob `hash` (in a sealed pack or the open one)? */
  has(hash: string): boolean {
    return this.known.has(hash);
  }

  /**
   * Start a blob of `size` bytes (what the caller stat'ed: used to seal the open pack first when the blob would
   * not fit). Returns the packs sealed for it (zero or one).
   * @throws BlockFrameError BF_USAGE for a size outside 1 to PACK_THRESHOLD - 1 (empty blobs are not stored;
   * large ones get their own archive, §13.1), BF_INTERNAL when a blob is already open.
   */
  async beginBlob(size: number): Promise<SealedPack[]> {
    if (this.current) throw new BlockFrameError('BF_INTERNAL', 'pack writer: a blob is already open');
    if (!Number.isSafeInteger(size) || size < 1 || size >= PACK_THRESHOLD) throw new BlockFrameError('BF_USAGE', `a packed blob has 1 to ${PACK_THRESHOLD - 1} bytes, not ${size}`, { field: 'size' });
    const sealed: SealedPack[] = [];
    // The worst line for this blob: a 64-hex hash and the largest offset and size it can have.
    const line = tableLine({ hash: EMPTY_BLOB, offset: this.length, size }).length;
    if (this.entries.length > 0 && this.length + size + this.tableBytes + line > this.target) sealed.push(...(await this.seal()));
    this.current = { start: this.length, declared: size };
    return sealed;
  }

  /** Append the open blob's next bytes to the spool (written before it resolves; the chunk may be reused after). */
  async append(chunk: Uint8Array): Promise<void> {
    if (!this.current) throw new BlockFrameError('BF_INTERNAL', 'pack writer: append() without beginBlob()');
    try {
      let done = 0;
      while (done < chunk.length) {
        const { bytesWritten } = await this.fh.write(chunk, done, chunk.length - done, this.length + done);
        done += bytesWritten;
      }
    } catch (err) {
      throw fromSystemError(err, this.streamPath, 'writing the pack spool');
    }
    this.length += chunk.length;
  }

  /** Drop the open blob's bytes (cut the spool back to where the blob began). */
  async cancelBlob(): Promise<void> {
    if (!this.current) return;
    this.length = this.current.start;
    this.current = null;
    await this.fh.truncate(this.length).catch((err: unknown) => Promise.reject(fromSystemError(err, this.streamPath, 'truncating the pack spool')));
  }

  /**
   * End the open blob as `hash` (the BLAKE3 of the bytes appended, which the caller computed). A blob this writer
   * already holds is cut back (added: false). Seals the pack when it reaches maxBlobs.
   * @throws BlockFrameError BF_USAGE when `hash` is not 64 lowercase hex digits.
   */
  async commitBlob(hash: string): Promise<AddResult> {
    const cur = this.current;
    if (!cur) throw new BlockFrameError('BF_INTERNAL', 'pack writer: commitBlob() without beginBlob()');
    if (!/^[0-9a-f]{64}$/.test(hash)) throw new BlockFrameError('BF_USAGE', `invalid blob hash ${JSON.stringify(hash)}: 64 lowercase hex digits`, { field: 'hash' });
    const size = this.length - cur.start;
    if (size === 0 || this.known.has(hash)) {
      await this.cancelBlob();
      return { added: false, sealed: [] };
    }
    const e = { hash, offset: cur.start, size };
    this.entries.push(e);
    this.tableBytes += tableLine(e).length;
    this.known.add(hash);
    this.current = null;
    return { added: true, sealed: this.entries.length >= this.maxBlobs ? await this.seal() : [] };
  }

  /**
   * Pack `size` bytes of `input` (from position 0) as blob `hash`: read in 1 MiB steps, hashed on the way.
   * @throws BlockFrameError BF_FILE_CHANGED when the bytes read are not `size` bytes hashing to `hash` (nothing is
   * kept of them), BF_ABORTED, the input's read errors; and those of beginBlob.
   */
  async add(hash: string, size: number, input: InputFile, inputPath = 'blob'): Promise<AddResult> {
    if (this.known.has(hash)) return { added: false, sealed: [] };
    const sealed = await this.beginBlob(size);
    try {
      const h = await createBlake3Stream();
      const buf = Buffer.allocUnsafe(Math.min(READ_STEP, size));
      let pos = 0;
      while (pos < size) {
        checkAborted(this.opts.signal);
        const n = await input.readAt(buf, Math.min(buf.length, size - pos), pos);
        if (n === 0) break;
        const chunk = buf.subarray(0, n);
        h.update(chunk);
        await this.append(chunk);
        pos += n;
      }
      const got = h.digestHex();
      if (pos !== size || got !== hash) throw new BlockFrameError('BF_FILE_CHANGED', `${inputPath}: read ${pos} bytes hashing to ${got}, expected ${size} bytes hashing to ${hash}`, { path: inputPath });
    } catch (err) {
      await this.cancelBlob();
      throw err;
    }
    const r = await this.commitBlob(hash);
    return { added: r.added, sealed: [...sealed, ...r.sealed] };
  }

  /** Seal and publish the open pack, if it holds any blob (the end of a commit). */
  async flush(): Promise<SealedPack[]> {
    if (this.current) throw new BlockFrameError('BF_INTERNAL', 'pack writer: flush() with a blob open');
    return this.entries.length ? this.seal() : [];
  }

  /** Remove the spool (unsealed blobs are dropped). */
  async close(): Promise<void> {
    await this.fh.close().catch(() => undefined);
    await this.spool.discard();
  }

  /** Append the table, code the stream as one stripe, publish it; then start the next pack on an empty spool. */
  private async seal(): Promise<SealedPack[]> {
    const table = encodeBlobTable(this.entries);
    const tableOffset = this.length;
    await this.append0(table, tableOffset);
    const size = tableOffset + table.length;
    try {
      await this.fh.sync();
    } catch (err) {
      throw fromSystemError(err, this.streamPath, 'syncing the pack spool');
    }
    const facts = packFacts(table, tableOffset, this.entries.length);
    const sealed = await this.publish(size, facts);
    const out: SealedPack = { ...sealed, blobs: this.entries, size };
    this.entries = [];
    this.tableBytes = 0;
    this.length = 0;
    await this.fh.truncate(0).catch((err: unknown) => Promise.reject(fromSystemError(err, this.streamPath, 'truncating the pack spool')));
    return [out];
  }

  private async append0(bytes: Uint8Array, at: number): Promise<void> {
    let done = 0;
    try {
      while (done < bytes.length) done += (await this.fh.write(bytes, done, bytes.length - done, at + done)).bytesWritten;
    } catch (err) {
      throw fromSystemError(err, this.streamPath, 'writing the pack spool');
    }
  }

  private async publish(size: number, facts: ReturnType<typeof packFacts>): Promise<Omit<SealedPack, 'blobs' | 'size'>> {
    const { repo, opts } = this;
    checkAborted(opts.signal);
    const plan = planPack(size, repo.storeCount, repo.failures);
    const where = pathStores(plan.geometry, repo.storeCount);
    const input = await openInput(this.streamPath);
    try {
      const staging = await Staging.create(repo, (rel) => where.get(rel) ?? 0);
      try {
        const hashes = await writeShards({ input, inputPath: this.streamPath, geometry: plan.geometry, chunkSize: DEFAULT_CHUNK_SIZE, staging, pool: opts.pool, signal: opts.signal, hashInput: true });
        const manifest = buildManifest(plan, hashes, {
          name: PACK_NAME,
          size,
          source: undefined,
          transformed: null,
          createdAt: opts.now?.() ?? new Date().toISOString(),
          generator: opts.generator,
          pack: facts,
        });
        const pack = hashes.original;
        const dir = packDir(pack);
        const status = await withArchiveLock(
          repo,
          dir,
          async () => {
            // The same stream is the same pack: keep a sound one; a leftover without a sound manifest is replaced.
            if (await hasArchiveKeys(repo, dir, opts.signal)) {
              const sound = await repo.loadManifest(dir, opts.signal).then((r) => !r.contradicted, () => false);
              if (sound) {
                await staging.discard();
                return 'exists' as const;
              }
              await removeArchive(repo, dir, opts.signal);
            }
            return staging.publish(dir, serializeManifest(manifest), opts.signal);
          },
          opts.signal,
        );
        return { pack, dir, status, manifest: status === 'published' ? manifest : await repo.readManifest(dir) };
      } catch (err) {
        await staging.discard();
        throw err;
      }
    } finally {
      await input.close();
    }
  }
}
