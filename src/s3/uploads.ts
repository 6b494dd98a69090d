// Multipart staging: uploads and their parts as local files until Complete or Abort, and expiry of abandoned ones.
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BlockFrameError, fromSystemError } from '../errors.js';
import { writeFileAtomic } from '../io/fsutil.js';
import { s3Error } from './errors.js';
import { compareUtf8, KeyedMutex } from './names.js';

/** Uploads not completed or aborted within this long are removed (S3 leaves this to lifecycle rules; we default it). */
export const DEFAULT_UPLOAD_EXPIRY_MS = 7 * 24 * 3600 * 1000;
/** Part numbers are 1 to 10,000 (Amazon S3 User Guide, "Multipart upload limits"). */
export const MAX_PARTS = 10_000;
/** Completed uploads remembered (in memory) to answer a retried Complete; older ones are forgotten first. */
export const MAX_COMPLETED_KEPT = 10_000;
/** Every part but the last must have at least 5 MiB. */
export const MIN_PART_BYTES = 5 * 1024 * 1024;

export interface UploadInfo {
  id: string;
  bucket: string;
  key: string;
  owner: string;
  /** ISO 8601. */
  initiated: string;
  contentType?: string;
  headers?: Record<string, string>;
  meta?: Record<string, string>;
  /** Set once completed: the object's ETag (kept in memory only, for retries of Complete). */
  completedEtag?: string;
}

export interface PartInfo {
  number: number;
  size: number;
  /** Lower-case hex MD5: the part's ETag without quotes. */
  md5: string;
  lastModified: string;
}

const ID = /^[0-9a-f]{40}$/;

/**
 * Staged multipart uploads under one directory: `{dir}/{uploadId}/upload.json`, `part-N` and `part-N.json`.
 * The directory is `.s3-uploads` inside the first store when it is a local directory (same filesystem, kept
 * across restarts; its name starts with '.', so archive readers skip it), else a directory of the spool area.
 * Upload ids are 40 random hex digits and are checked before any path is built from them.
 */
export class Uploads {
  private readonly uploads = new Map<string, UploadInfo>();
  /**
   * Completed uploads, in completion order, so that a retried Complete gets its answer again: in memory only (a
   * retry comes seconds later; after a restart it is NoSuchUpload), at most MAX_COMPLETED_KEPT, until they expire.
   */
  private readonly done = new Map<string, UploadInfo>();
  /** Part writes, Complete and Abort of one upload run one at a time. */
  readonly lock = new KeyedMutex();
  private timer?: NodeJS.Timeout;

  private constructor(
    readonly dir: string,
    private readonly expiryMs: number,
  ) {}

  /** Open (creating it) the upload directory `base` (see engine/upload-spool.ts uploadsDir), dropping torn uploads. */
  static async open(base: string, expiryMs = DEFAULT_UPLOAD_EXPIRY_MS): Promise<Uploads> {
    await mkdir(base, { recursive: true, mode: 0o700 }).catch((err) => Promise.reject(fromSystemError(err, base, 'creating the multipart staging directory')));
    // Never follow a link: what the server cleans here (expired or torn uploads) must be its own directory.
    const st = await lstat(base);
    if (!st.isDirectory() || (typeof process.getuid === 'function' && st.uid !== process.getuid())) {
      throw new BlockFrameError('BF_STORE_NOT_A_FILE', `the multipart staging directory ${base} is ${st.isSymbolicLink() ? 'a symbolic link' : st.isDirectory() ? "another user's directory" : 'not a directory'}; it is never followed or cleaned: remove it, and the server makes a new one`, { path: base });
    }
    const u = new Uploads(base, expiryMs);
    for (const name of await readdir(base)) {
      if (!ID.test(name)) continue;
      // An upload directory is a plain directory the server made; anything else (a link) is left alone, unread.
      if (!(await lstat(join(base, name))).isDirectory()) continue;
      try {
        u.uploads.set(name, JSON.parse(await readFile(join(base, name, 'upload.json'), 'utf8')) as UploadInfo);
      } catch {
        await rm(join(base, name), { recursive: true, force: true });
      }
    }
    await u.expire();
    u.timer = setInterval(() => void u.expire(), Math.min(3600_000, Math.max(1000, expiryMs / 4)));
    u.timer.unref();
    return u;
  }

  /** Remove uploads initiated more than the expiry age ago; returns how many. */
  async expire(now = Date.now()): Promise<number> {
    let n = 0;
    for (const u of [...this.done.values()]) if (now - Date.parse(u.initiated) > this.expiryMs) this.done.delete(u.id);
    for (const u of [...this.uploads.values()]) {
      if (now - Date.parse(u.initiated) > this.expiryMs) {
        await this.lock.run(u.id, () => this.remove(u.id));
        n++;
      }
    }
    return n;
  }

  close(): void {
    clearInterval(this.timer);
  }

  /** A new upload. Errors: BF_NO_SPACE (and other file-system codes, see fromSystemError); nothing is left behind. */
  async create(info: Omit<UploadInfo, 'id' | 'initiated'>): Promise<UploadInfo> {
    const id = randomBytes(20).toString('hex');
    const u: UploadInfo = { ...info, id, initiated: new Date().toISOString() };
    try {
      await mkdir(join(this.dir, id), { mode: 0o700 });
      await writeFileAtomic(join(this.dir, id, 'upload.json'), JSON.stringify(u));
    } catch (err) {
      await rm(join(this.dir, id), { recursive: true, force: true });
      throw fromSystemError(err, join(this.dir, id), 'creating a multipart upload');
    }
    this.uploads.set(id, u);
    return u;
  }

  /** The upload `id` of bucket/key, or NoSuchUpload. */
  get(id: string, bucket: string, key: string): UploadInfo {
    const u = ID.test(id) ? this.uploads.get(id) : undefined;
    if (!u || u.bucket !== bucket || u.key !== key) {
      throw s3Error('NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', { uploadId: id });
    }
    return u;
  }

  /**
   * The ETag of upload `id` of bucket/key if it was completed and the key still holds what it made; else undefined.
   * AWS answers a retried CompleteMultipartUpload of a completed upload with 200 and the same ETag.
   */
  completedEtag(id: string, bucket: string, key: string, current: string | undefined): string | undefined {
    const u = ID.test(id) ? this.done.get(id) : undefined;
    return u && u.bucket === bucket && u.key === key && u.completedEtag === current ? u.completedEtag : undefined;
  }

  /** Upload `id` was completed with the object's `etag`: delete everything staged, remember the answer for retries. */
  async complete(id: string, etag: string): Promise<void> {
    const u = this.uploads.get(id);
    await this.remove(id);
    if (!u) return;
    this.done.set(id, { ...u, completedEtag: etag });
    for (const old of this.done.keys()) {
      if (this.done.size <= MAX_COMPLETED_KEPT) break;
      this.done.delete(old);
    }
  }

  /** Uploads of a bucket in key order, then initiation order (ListMultipartUploads). */
  list(bucket: string): UploadInfo[] {
    return [...this.uploads.values()].filter((u) => u.bucket === bucket).sort((a, b) => compareUtf8(a.key, b.key) || a.initiated.localeCompare(b.initiated) || a.id.localeCompare(b.id));
  }

  hasAny(bucket: string): boolean {
    for (const u of this.uploads.values()) if (u.bucket === bucket) return true;
    return false;
  }

  /** A fresh path inside the upload's directory to spool a part into. */
  tempPath(id: string): string {
    return join(this.dir, id, `tmp-${randomBytes(8).toString('hex')}`);
  }

  partPath(id: string, n: number): string {
    return join(this.dir, id, `part-${n}`);
  }

  /**
   * Move a verified, fsynced spooled part into place (replacing any earlier part of that number), then record it
   * atomically: its JSON is written through a temp file, fsynced and renamed, and the directory fsynced (which
   * also makes the part's rename durable). After a crash a part is there with its record, or not at all: a 200
   * to UploadPart promises the part is stored (AWS S3 API Reference, UploadPart). An earlier record of part N goes
   * first, so no record ever describes another file's bytes; if anything fails (a full disk: BF_NO_SPACE), part N
   * is left not uploaded, its file removed, and the client may send it again.
   */
  async putPart(id: string, tmp: string, p: PartInfo): Promise<void> {
    const record = join(this.dir, id, `part-${p.number}.json`);
    try {
      await rm(record, { force: true });
      await rename(tmp, this.partPath(id, p.number));
      await writeFileAtomic(record, JSON.stringify(p));
    } catch (err) {
      await rm(record, { force: true }).catch(() => undefined);
      await rm(this.partPath(id, p.number), { force: true }).catch(() => undefined);
      throw fromSystemError(err, record, 'recording a multipart part');
    }
  }

  /** The parts uploaded so far, by part number; a record that can't be read (torn by a crash) counts as not uploaded. */
  async parts(id: string): Promise<PartInfo[]> {
    const out: PartInfo[] = [];
    for (const name of await readdir(join(this.dir, id)).catch(() => [] as string[])) {
      if (!/^part-\d+\.json$/.test(name)) continue;
      let p: PartInfo | null = null;
      try {
        p = JSON.parse(await readFile(join(this.dir, id, name), 'utf8')) as PartInfo;
      } catch {
        continue;
      }
      if (p && Number.isSafeInteger(p.number) && Number.isSafeInteger(p.size) && typeof p.md5 === 'string') out.push(p);
    }
    return out.sort((a, b) => a.number - b.number);
  }

  /** Forget the upload and delete everything staged for it. */
  async remove(id: string): Promise<void> {
    this.uploads.delete(id);
    if (ID.test(id)) await rm(join(this.dir, id), { recursive: true, force: true });
  }
}
