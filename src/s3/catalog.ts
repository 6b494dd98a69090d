// The S3 catalogue: the bucket table and each bucket's key index, replicated under `.s3/` and held in memory.
import { createHash } from 'node:crypto';
import { BlockFrameError } from '../errors.js';
import type { Backend } from '../store/backend.js';
import { openRecords, S3_BUCKETS_KEY, S3_KEYS_PREFIX, S3_META_PREFIX, S3_OBJECTS_PREFIX, s3ObjectBucket, s3ObjectKey, s3RecordBucket, s3RecordKey, type RecordStore } from '../engine/records.js';
import { s3Error } from './errors.js';
import { compareUtf8, KeyedMutex, lowerBound } from './names.js';

/** Prefix of every catalogue object on the stores: archive readers skip names starting with '.'. */
export const META_PREFIX = S3_META_PREFIX;
/** No catalogue record is plausibly larger (a key record with 2 KiB of user metadata is ~4 KiB). */
const MAX_RECORD_BYTES = 1024 * 1024;
/** Records read at once while loading. */
const LOAD_PARALLEL = 16;

export interface BucketRecord {
  name: string;
  /** Access key of the user who created it. */
  owner: string;
  /** ISO 8601. */
  created: string;
  /** Anonymous GET/HEAD of objects (and listing) allowed (x-amz-acl: public-read). */
  publicRead?: boolean;
}

/**
 * One object: where its bytes are, and the S3 metadata the archive's manifest does not keep. Exactly one of `dir`
 * (an archive: objects from 16 MiB, and every object a version-2 server wrote) and `blob` (format v3, FORMAT.md
 * §13.9: a blob in a staging segment or a pack) is present.
 */
export interface ObjectRecord {
  key: string;
  /** Archive directory under the root (manifest name "{bucket}/{key}", or another key's with the same bytes). */
  dir?: string;
  /** BLAKE3 (64 hex) of the object's bytes, a format-v3 blob (below 16 MiB). */
  blob?: string;
  size: number;
  /** Quoted ETag as sent: "md5" or "md5-of-part-md5s-N". */
  etag: string;
  /** ISO 8601 with milliseconds. */
  lastModified: string;
  /** Access key of the writer. */
  owner: string;
  contentType?: string;
  /** Cache-Control, Content-Disposition, Content-Encoding, Content-Language, Expires as sent on PUT. */
  headers?: Record<string, string>;
  /** x-amz-meta-* (names lower-case, without the prefix). */
  meta?: Record<string, string>;
  /** Verified x-amz-checksum-* of the whole body (single PUT only). */
  checksums?: Record<string, string>;
  /** Multipart objects: part sizes, for partNumber reads and the ETag's -N. */
  parts?: number[];
}

interface BucketState {
  rec: BucketRecord;
  objects: Map<string, ObjectRecord>;
  /** Keys in UTF-8 byte order; null when it must be rebuilt. */
  sorted: string[] | null;
}

/** The store key of a version-2 record (`.s3/keys/`): bucket, then the SHA-256 of the key (keys may be 1024 bytes of anything). */
export function recordKey(bucket: string, key: string): string {
  return s3RecordKey(bucket, createHash('sha256').update(key, 'utf8').digest('hex'));
}

/** The store key of a version-3 record (`.s3/objects/`, FORMAT.md §13.9), one naming a blob. */
export function objectRecordKey(bucket: string, key: string): string {
  return s3ObjectKey(bucket, createHash('sha256').update(key, 'utf8').digest('hex'));
}

/** Where record `rec` of `bucket` is kept: `.s3/objects/` for a blob, `.s3/keys/` for an archive. */
function storeKeyOf(bucket: string, rec: ObjectRecord): string {
  return rec.blob !== undefined ? objectRecordKey(bucket, rec.key) : recordKey(bucket, rec.key);
}

/**
 * Buckets and key records, loaded once from `store` (a StoreSet mirror: every write goes to every store) and
 * then kept in memory, so lookups and listings never read manifests. One server process owns the catalogue of a
 * store set: two processes writing the same buckets would each miss the other's keys until restarted.
 * Record writes are atomic puts; the memory is updated only after the store accepted them.
 */
export class Catalog {
  private readonly buckets = new Map<string, BucketState>();
  private readonly refs = new Map<string, number>();
  /** Archive directory → bucket → how many of its keys refer to it (for bucketsOf). */
  private readonly owners = new Map<string, Map<string, number>>();
  private readonly keyLock = new KeyedMutex();

  private constructor(private readonly store: RecordStore) {}

  /** The catalogue of store set `set`, read whole into memory. @throws store errors, BF_IO for an oversized record. */
  static async load(set: Backend, signal?: AbortSignal): Promise<Catalog> {
    const store = openRecords(set);
    const c = new Catalog(store);
    const table = await store.read(S3_BUCKETS_KEY, MAX_RECORD_BYTES, signal);
    const list = table ? (JSON.parse(new TextDecoder().decode(table)) as BucketRecord[]) : [];
    for (const rec of list) c.buckets.set(rec.name, { rec, objects: new Map(), sorted: null });
    // Version-2 records first, then version-3 ones: a key with both (a crash between writing one and deleting the
    // other) takes the version-3 record (FORMAT.md §13.9).
    for (const [prefix, bucketOf] of [[S3_KEYS_PREFIX, s3RecordBucket], [S3_OBJECTS_PREFIX, s3ObjectBucket]] as const) {
      const keys: string[] = [];
      for await (const k of store.keys(prefix, signal)) if (k.endsWith('.json')) keys.push(k);
      let next = 0;
      const worker = async () => {
        while (next < keys.length) {
          const k = keys[next++]!;
          const bytes = await store.read(k, MAX_RECORD_BYTES, signal);
          if (!bytes) continue;
          const bucket = bucketOf(k);
          const b = c.buckets.get(bucket);
          if (!b) continue; // a record left behind by a bucket deleted mid-way
          const rec = JSON.parse(new TextDecoder().decode(bytes)) as ObjectRecord;
          const old = b.objects.get(rec.key);
          b.objects.set(rec.key, rec);
          c.ref(bucket, rec.dir, 1);
          if (old) c.ref(bucket, old.dir, -1);
        }
      };
      await Promise.all(Array.from({ length: LOAD_PARALLEL }, worker));
    }
    return c;
  }

  private ref(bucket: string, dir: string | undefined, delta: number): void {
    if (dir === undefined) return;
    const n = (this.refs.get(dir) ?? 0) + delta;
    if (n <= 0) this.refs.delete(dir);
    else this.refs.set(dir, n);
    const by = this.owners.get(dir) ?? new Map<string, number>();
    const m = (by.get(bucket) ?? 0) + delta;
    if (m <= 0) by.delete(bucket);
    else by.set(bucket, m);
    if (by.size === 0) this.owners.delete(dir);
    else this.owners.set(dir, by);
  }

  /** The buckets with at least one key referring to archive `dir` (none: not an object's archive). */
  bucketsOf(dir: string): string[] {
    return [...(this.owners.get(dir)?.keys() ?? [])];
  }

  /** How many keys (in all buckets) refer to archive `dir`. */
  references(dir: string): number {
    return this.refs.get(dir) ?? 0;
  }

  private async saveBuckets(): Promise<void> {
    const list = [...this.buckets.values()].map((b) => b.rec).sort((a, b) => compareUtf8(a.name, b.name));
    await this.store.write(S3_BUCKETS_KEY, `${JSON.stringify(list, null, 1)}\n`);
  }

  listBuckets(): BucketRecord[] {
    return [...this.buckets.values()].map((b) => b.rec).sort((a, b) => compareUtf8(a.name, b.name));
  }

  bucket(name: string): BucketRecord | undefined {
    return this.buckets.get(name)?.rec;
  }

  /** The bucket or NoSuchBucket. */
  requireBucket(name: string): BucketRecord {
    const b = this.bucket(name);
    if (!b) throw s3Error('NoSuchBucket', 'The specified bucket does not exist', { bucket: name });
    return b;
  }

  async createBucket(rec: BucketRecord): Promise<void> {
    const had = this.buckets.get(rec.name);
    if (had) {
      throw had.rec.owner === rec.owner
        ? s3Error('BucketAlreadyOwnedByYou', 'Your previous request to create the named bucket succeeded and you already own it.', { bucket: rec.name })
        : s3Error('BucketAlreadyExists', 'The requested bucket name is not available.', { bucket: rec.name });
    }
    this.buckets.set(rec.name, { rec, objects: new Map(), sorted: [] });
    await this.saveBuckets().catch((err) => {
      this.buckets.delete(rec.name);
      throw err;
    });
  }

  async updateBucket(rec: BucketRecord): Promise<void> {
    const b = this.buckets.get(rec.name);
    if (!b) throw s3Error('NoSuchBucket', 'The specified bucket does not exist', { bucket: rec.name });
    const old = b.rec;
    b.rec = rec;
    await this.saveBuckets().catch((err) => {
      b.rec = old;
      throw err;
    });
  }

  /** Remove an empty bucket (BucketNotEmpty otherwise; `hasUploads` counts as not empty too). */
  async deleteBucket(name: string, hasUploads: boolean): Promise<void> {
    const b = this.buckets.get(name);
    if (!b) throw s3Error('NoSuchBucket', 'The specified bucket does not exist', { bucket: name });
    if (b.objects.size > 0 || hasUploads) throw s3Error('BucketNotEmpty', 'The bucket you tried to delete is not empty', { bucket: name });
    this.buckets.delete(name);
    await this.saveBuckets().catch((err) => {
      this.buckets.set(name, b);
      throw err;
    });
  }

  get(bucket: string, key: string): ObjectRecord | undefined {
    return this.buckets.get(bucket)?.objects.get(key);
  }

  /**
   * Record `rec` (replacing any record of its key); returns the record it replaced. Writes of one key run one
   * at a time, so the record on the stores, the one in memory and the reference counts always agree.
   * `check`, when given, sees the key's current record inside that one-at-a-time section and may refuse the write
   * by throwing (conditional writes: of many concurrent ones, exactly one can win).
   */
  put(bucket: string, rec: ObjectRecord, check?: (current: ObjectRecord | undefined) => void): Promise<ObjectRecord | undefined> {
    return this.keyLock.run(`${bucket}/${rec.key}`, async () => {
      const b = this.buckets.get(bucket);
      if (!b) throw s3Error('NoSuchBucket', 'The specified bucket does not exist', { bucket });
      check?.(b.objects.get(rec.key));
      await this.store.write(storeKeyOf(bucket, rec), `${JSON.stringify(rec)}\n`);
      const old = b.objects.get(rec.key);
      // The key changed format (a small object over a large one, or back): the other record goes, after the new one
      // is durable (a crash in between leaves both, and loading takes the version-3 one).
      if (old && (old.blob !== undefined) !== (rec.blob !== undefined)) await this.store.delete(storeKeyOf(bucket, old)).catch(() => undefined);
      b.objects.set(rec.key, rec);
      this.ref(bucket, rec.dir, 1);
      if (old) this.ref(bucket, old.dir, -1);
      else if (b.sorted) b.sorted.splice(lowerBound(b.sorted, rec.key), 0, rec.key);
      return old;
    });
  }

  /** Forget `key`; returns its record, or undefined when there was none. */
  delete(bucket: string, key: string): Promise<ObjectRecord | undefined> {
    return this.keyLock.run(`${bucket}/${key}`, async () => {
      const b = this.buckets.get(bucket);
      if (!b?.objects.has(key)) return undefined;
      const old = b.objects.get(key)!;
      await this.store.delete(storeKeyOf(bucket, old));
      // A version-3 record may have a stale version-2 one beside it (a crash while the key changed format): it must
      // not come back at the next start.
      if (old.blob !== undefined) await this.store.delete(recordKey(bucket, key));
      b.objects.delete(key);
      this.ref(bucket, old.dir, -1);
      if (b.sorted) {
        const i = lowerBound(b.sorted, key);
        if (b.sorted[i] === key) b.sorted.splice(i, 1);
      }
      return old;
    });
  }

  /** The bucket's keys in UTF-8 byte order (shared: do not modify). */
  sortedKeys(bucket: string): readonly string[] {
    const b = this.buckets.get(bucket);
    if (!b) throw new BlockFrameError('BF_INTERNAL', `no bucket ${bucket}`);
    b.sorted ??= [...b.objects.keys()].sort(compareUtf8);
    return b.sorted;
  }

  objectCount(bucket: string): number {
    return this.buckets.get(bucket)?.objects.size ?? 0;
  }
}
