// The blob index (docs/FORMAT.md §13.5): writing index files to every store, and loading them all into a compact in-memory table from blob hash to its locations.
import { BlockFrameError } from '../errors.js';
import { blake3Hex } from '../integrity/blake3.js';
import { bytesSource, getAll } from '../store/backend.js';
import { INDEX_PREFIX, indexIdOf, indexKey } from '../layout/keys.js';
import { encodeIndexFile, parseIndexFile, type BlobEntry, type IndexFile } from '../layout/pack.js';
import type { Repository } from './repo.js';

/** An index file larger than this is refused as damaged (about 85 bytes per blob: some 6 million blobs). */
export const INDEX_FILE_MAX_BYTES = 512 * 1024 * 1024;

/** Where a blob may be: bytes [offset, offset + size) of pack `pack`'s stored stream, or a large blob's own archive. */
export type BlobLocation = { kind: 'pack'; pack: string; offset: number; size: number } | { kind: 'archive'; hash: string; size: number };

/** An index file (or one store's copy of it) that load skipped, and why. */
export interface DamagedIndexFile {
  key: string;
  /** The store (0-based) whose copy is bad; undefined when no store answered with any copy. */
  store?: number;
  reason: 'hash-mismatch' | 'invalid' | 'unreadable';
  error?: BlockFrameError;
}

const HASH = 32;

/**
 * Blob hash → locations, for every pack and large blob of the loaded index files. Packed blobs cost about 52 bytes
 * each: the hash (32 bytes) in one Buffer, the offset (Float64Array), size (Uint32Array), pack number
 * (Uint32Array, pack ids interned once per pack) and one sort slot (Uint32Array). Duplicates are kept (a blob in
 * several packs has several locations, tried in order). Add everything, then lookup(): the first lookup after an
 * add sorts (O(n log n)); each lookup is a binary search.
 */
export class BlobIndex {
  private hashes = Buffer.alloc(0);
  private offsets = new Float64Array(0);
  private sizes = new Uint32Array(0);
  private packNo = new Uint32Array(0);
  private order: Uint32Array | null = new Uint32Array(0);
  private n = 0;
  private readonly packs: string[] = [];
  private readonly packIds = new Map<string, number>();
  private readonly archives = new Map<string, number>();

  /** Packed blob entries held (duplicates counted). */
  get blobEntries(): number {
    return this.n;
  }

  /** Distinct packs named. */
  get packCount(): number {
    return this.packs.length;
  }

  /** Bytes the packed-blob table holds in typed memory now (hashes, offsets, sizes, pack numbers, sort order). */
  get heldBytes(): number {
    return this.hashes.length + this.offsets.byteLength + this.sizes.byteLength + this.packNo.byteLength + (this.order?.byteLength ?? this.n * 4);
  }

  /** Give back the spare room that growing left (loadBlobIndex calls it when every file is in). */
  trim(): void {
    if (this.sizes.length === this.n) return;
    this.hashes = Buffer.from(this.hashes.subarray(0, this.n * HASH));
    this.offsets = this.offsets.slice(0, this.n);
    this.sizes = this.sizes.slice(0, this.n);
    this.packNo = this.packNo.slice(0, this.n);
  }

  /** Add pack `pack`'s blobs (its table, or an index file's copy of it). */
  addPack(pack: string, blobs: readonly BlobEntry[]): void {
    let p = this.packIds.get(pack);
    if (p === undefined) {
      p = this.packs.length;
      this.packs.push(pack);
      this.packIds.set(pack, p);
    }
    this.grow(this.n + blobs.length);
    for (const b of blobs) {
      this.hashes.write(b.hash, this.n * HASH, HASH, 'hex');
      this.offsets[this.n] = b.offset;
      this.sizes[this.n] = b.size;
      this.packNo[this.n] = p;
      this.n++;
    }
    this.order = null;
  }

  /** Add a large blob (its archive is `blobs/{h[0:2]}/blob_{h}`). */
  addArchive(hash: string, size: number): void {
    this.archives.set(hash, size);
  }

  /** Add everything an index file lists. */
  addFile(f: IndexFile): void {
    for (const p of f.packs) this.addPack(p.pack, p.blobs);
    for (const a of f.archives) this.addArchive(a.archive, a.size);
  }

  /** Every location of blob `hash` (64 hex): packs in load order, then its own archive; [] when unknown. */
  lookup(hash: string): BlobLocation[] {
    const out: BlobLocation[] = [];
    const key = Buffer.from(hash, 'hex');
    if (key.length === HASH) {
      const order = this.sorted();
      let lo = 0;
      let hi = this.n;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (this.compareAt(order[mid]!, key) < 0) lo = mid + 1;
        else hi = mid;
      }
      for (let i = lo; i < this.n && this.compareAt(order[i]!, key) === 0; i++) {
        const j = order[i]!;
        out.push({ kind: 'pack', pack: this.packs[this.packNo[j]!]!, offset: this.offsets[j]!, size: this.sizes[j]! });
      }
    }
    const size = this.archives.get(hash);
    if (size !== undefined) out.push({ kind: 'archive', hash, size });
    return out;
  }

  /** Is blob `hash` listed anywhere? (A listed blob may still be missing: see engine/blob-read.ts.) */
  has(hash: string): boolean {
    return this.lookup(hash).length > 0;
  }

  /**
   * Every location held, in load order: each packed entry (duplicates included), then each large blob. For a pass
   * over the whole index (prune, verify) without a second parse of the index files; the hash is built per entry.
   */
  *entries(): Generator<{ hash: string; loc: BlobLocation }> {
    for (let j = 0; j < this.n; j++) {
      const hash = this.hashes.toString('hex', j * HASH, (j + 1) * HASH);
      yield { hash, loc: { kind: 'pack', pack: this.packs[this.packNo[j]!]!, offset: this.offsets[j]!, size: this.sizes[j]! } };
    }
    for (const [hash, size] of this.archives) yield { hash, loc: { kind: 'archive', hash, size } };
  }

  private compareAt(j: number, key: Buffer): number {
    // Entry j's hash against `key` (<0: below it).
    return this.hashes.compare(key, 0, HASH, j * HASH, (j + 1) * HASH);
  }

  private sorted(): Uint32Array {
    if (this.order) return this.order;
    const order = new Uint32Array(this.n);
    for (let i = 0; i < this.n; i++) order[i] = i;
    // Ties keep load order (a stable sort), so locations come back in the order their files were added.
    order.sort((a, b) => this.hashes.compare(this.hashes, b * HASH, (b + 1) * HASH, a * HASH, (a + 1) * HASH) || a - b);
    this.order = order;
    return order;
  }

  private grow(need: number): void {
    if (need <= this.sizes.length) return;
    const cap = Math.max(need, Math.ceil(this.sizes.length * 1.5), 1024);
    const hashes = Buffer.alloc(cap * HASH);
    this.hashes.copy(hashes);
    this.hashes = hashes;
    const offsets = new Float64Array(cap);
    offsets.set(this.offsets);
    this.offsets = offsets;
    const sizes = new Uint32Array(cap);
    sizes.set(this.sizes);
    this.sizes = sizes;
    const packNo = new Uint32Array(cap);
    packNo.set(this.packNo);
    this.packNo = packNo;
  }
}

/**
 * Write index file `f` (§13.5) whole and atomically to every store, as `index/{blake3 of its bytes}.jsonl`.
 * Writing the same content twice writes the same key (harmless).
 * @returns the file's id (64 hex) and key.
 * @throws the stores' errors (BF_STORE_UNAVAILABLE, BF_NO_SPACE…) when any store fails: an index needs every store.
 */
export async function writeIndexFile(repo: Repository, f: IndexFile, signal?: AbortSignal): Promise<{ id: string; key: string }> {
  const bytes = encodeIndexFile(f);
  const id = blake3Hex(bytes);
  const key = indexKey(id);
  await repo.set.put(key, bytesSource(bytes), signal);
  return { id, key };
}

/**
 * Load every index file of the stores (the union of their `index/` listings) into one BlobIndex. Each file is
 * read from the first store whose copy hashes to its name and parses; a copy that does not is reported in
 * `damaged` (with its store) and the next store is tried; a file with no good copy is skipped and reported.
 * Memory: the table (about 52 bytes per blob) plus one file's bytes at a time. `loaded`: the keys of the files
 * loaded (a good copy found), sorted.
 * @throws BF_STORE_UNAVAILABLE when no store can be listed; BF_ABORTED.
 */
export async function loadBlobIndex(repo: Repository, opts: { signal?: AbortSignal } = {}): Promise<{ index: BlobIndex; files: number; damaged: DamagedIndexFile[]; loaded: string[] }> {
  const index = new BlobIndex();
  const damaged: DamagedIndexFile[] = [];
  const keys: string[] = [];
  for await (const o of repo.set.listEach(INDEX_PREFIX, { signal: opts.signal })) if (!o.prefix && indexIdOf(o.key)) keys.push(o.key);
  keys.sort();
  let files = 0;
  const loadedKeys: string[] = [];
  for (const key of keys) {
    const id = indexIdOf(key)!;
    let loaded = false;
    for (let d = 0; d < repo.set.size && !loaded; d++) {
      let bytes: Uint8Array | null;
      try {
        bytes = await repo.set.on(d, (b) => getAll(b, key, INDEX_FILE_MAX_BYTES, opts.signal));
      } catch (err) {
        if (err instanceof BlockFrameError && err.code === 'BF_ABORTED') throw err;
        damaged.push({ key, store: d, reason: 'unreadable', ...(err instanceof BlockFrameError && { error: err }) });
        continue;
      }
      if (bytes === null) continue;
      if (blake3Hex(bytes) !== id) {
        damaged.push({ key, store: d, reason: 'hash-mismatch' });
        continue;
      }
      try {
        index.addFile(parseIndexFile(bytes, key));
        loaded = true;
        files++;
        loadedKeys.push(key);
      } catch (err) {
        if (!(err instanceof BlockFrameError)) throw err;
        damaged.push({ key, store: d, reason: 'invalid', error: err });
      }
    }
    if (!loaded && !damaged.some((x) => x.key === key)) damaged.push({ key, reason: 'unreadable' });
  }
  index.trim();
  return { index, files, damaged, loaded: loadedKeys };
}
