// Rebuilding the S3 catalogue from the archives' manifests, for when `.s3/` is lost or out of step.
import { createHash } from 'node:crypto';
import type { ObjectRecord } from './catalog.js';
import type { S3Context } from './http.js';
import { checkBucketName, checkKey } from './names.js';

export interface RebuildReport {
  /** Buckets created because an archive named them (owned by `owner`). */
  bucketsCreated: string[];
  /** Keys added or repointed at an archive. */
  keysAdded: number;
  /** Keys whose archive no longer exists, dropped. */
  keysDropped: number;
  /** Archives whose names are not "bucket/key" with a valid bucket and key (left alone). */
  skipped: number;
}

/**
 * Make the catalogue agree with the archives: every archive named "{bucket}/{key}" (a valid bucket name and
 * key) becomes that key when the key is missing or names an archive that is gone; when several archives name
 * one key, the newest (manifest created_at) wins. Missing buckets are created for `owner`. Keys whose archive
 * is gone are dropped; records that name a blob (version 3, FORMAT.md §13.9) are kept as they are. What the manifests do not keep comes back as: ETag = MD5 of the bytes (read through the
 * verified reader, so a rebuild reads every added object once; a multipart object gets its single-PUT ETag),
 * Last-Modified = created_at, no Content-Type or user metadata. Reads every manifest: an admin operation.
 */
export async function rebuildCatalog(ctx: S3Context, owner: string): Promise<RebuildReport> {
  const report: RebuildReport = { bucketsCreated: [], keysAdded: 0, keysDropped: 0, skipped: 0 };
  const entries = await ctx.repo.list();
  const live = new Set(entries.filter((e) => e.manifest).map((e) => e.dir));
  for (const b of ctx.catalog.listBuckets()) {
    for (const key of [...ctx.catalog.sortedKeys(b.name)]) {
      const rec = ctx.catalog.get(b.name, key)!;
      // A version-3 record names a blob, not an archive (FORMAT.md §13.9): the archives say nothing about it.
      if (rec.dir === undefined || live.has(rec.dir)) continue;
      await ctx.catalog.delete(b.name, key);
      report.keysDropped++;
    }
  }
  const newest = new Map<string, { bucket: string; key: string; dir: string; created: string; size: number }>();
  for (const e of entries) {
    if (!e.manifest) continue;
    // An encrypted archive keeps its name sealed: it is not an S3 object this server wrote.
    const name = e.manifest.name ?? '';
    const slash = name.indexOf('/');
    const bucket = name.slice(0, slash);
    const key = name.slice(slash + 1);
    try {
      if (slash <= 0) throw new Error('no bucket');
      checkBucketName(bucket);
      checkKey(key);
    } catch {
      report.skipped++;
      continue;
    }
    const id = `${bucket}/${key}`;
    const had = newest.get(id);
    if (!had || had.created < e.manifest.created_at) newest.set(id, { bucket, key, dir: e.dir, created: e.manifest.created_at, size: e.manifest.size });
  }
  for (const c of newest.values()) {
    if (!ctx.catalog.bucket(c.bucket)) {
      await ctx.catalog.createBucket({ name: c.bucket, owner, created: new Date().toISOString() });
      report.bucketsCreated.push(c.bucket);
    }
    if (ctx.catalog.get(c.bucket, c.key)) continue;
    const rec: ObjectRecord = { key: c.key, dir: c.dir, size: c.size, etag: `"${await md5Of(ctx, c.dir, c.size)}"`, lastModified: c.created, owner };
    await ctx.catalog.put(c.bucket, rec);
    report.keysAdded++;
  }
  return report;
}

async function md5Of(ctx: S3Context, dir: string, size: number): Promise<string> {
  const h = createHash('md5');
  if (size === 0) return h.digest('hex');
  const lease = await ctx.cache.leaseDir(dir);
  try {
    for await (const w of ctx.windows.windows(lease.archive, 0, size)) {
      h.update(w.buf);
      w.release();
    }
  } finally {
    lease.release();
  }
  return h.digest('hex');
}
