// Where an object's bytes go (a staged blob below 16 MiB, else an archive), pointing a key at them, and retiring archives no key refers to.
import { commitInput } from '../engine/commit.js';
import type { InputSource } from '../io/input.js';
import { deleteArchive } from '../engine/delete.js';
import { isPublished } from '../engine/find.js';
import { PACK_THRESHOLD } from '../engine/s3-staging.js';
import type { ObjectRecord } from './catalog.js';
import type { S3Context } from './http.js';

/** The archive name of an object: "{bucket}/{key}" (the manifest keeps it; the directory name is sanitised). */
export const archiveName = (bucket: string, key: string): string => `${bucket}/${key}`;

/** Commits that run at once by default: one already keeps both pool workers busy, and each holds 30-40 MiB of slabs. */
export const DEFAULT_COMMIT_SLOTS = 1;
/**
 * Objects up to this size commit in a lane of their own, SMALL_COMMIT_SLOTS at a time: such a commit holds at
 * most about 4.5 MiB (its slabs are sized to the input: 6 data slabs and 3 parity buffers of RS(1,3); under
 * 0.5 MiB at 4 KiB) and spends its time waiting on small writes and fsyncs, which overlap, so one slot would
 * leave the disk and the cores idle (16 at once: at most about 72 MiB). Large commits keep their own slots.
 */
export const SMALL_OBJECT_BYTES = 256 * 1024;
export const SMALL_COMMIT_SLOTS = 16;

/**
 * Commit the verified body read from `input` (a spool file, or the staged parts) as the archive of bucket/key;
 * returns its directory. Commits take one of `ctx.commits`' slots (objects up to SMALL_OBJECT_BYTES: one of the
 * small-object lane's), so many concurrent uploads completing at once queue instead of each holding its own
 * commit buffers (peak memory stays bounded; throughput is the disk's).
 */
export async function commitObject(ctx: S3Context, input: InputSource, bucket: string, key: string, signal?: AbortSignal): Promise<string> {
  const lane = (await input.stat()).size > SMALL_OBJECT_BYTES ? ctx.commits : ctx.smallCommits;
  const r = await lane.run(() => commitInput(input, { name: archiveName(bucket, key), storeSet: ctx.repo.set, pool: ctx.pool, signal, cache: true }));
  return r.dir;
}

/** Where a stored body is: a blob (FORMAT.md §13.9), or an archive directory. */
export type StoredBody = { blob: string; dir?: undefined } | { dir: string; blob?: undefined };

/**
 * Store the verified body read from `input` (`size` bytes) of bucket/key: below PACK_THRESHOLD (16 MiB) as a blob,
 * staged (group-committed into a segment on every store, FORMAT.md §13.9) before it resolves; from 16 MiB as an
 * archive (commitObject). Call `release()` once the key's record is written or refused: until then a flush leaves
 * the blob's segment alone, so the blob is never packed-and-dropped before a record names it.
 */
export async function storeBody(ctx: S3Context, input: InputSource, size: number, bucket: string, key: string): Promise<{ where: StoredBody; release: () => void }> {
  if (size < Math.min(ctx.archiveFrom, PACK_THRESHOLD)) {
    const s = await ctx.staging.stage(input, size);
    return { where: { blob: s.hash }, release: s.release };
  }
  return { where: { dir: await commitObject(ctx, input, bucket, key) }, release: () => undefined };
}

async function exists(ctx: S3Context, dir: string): Promise<boolean> {
  return isPublished(ctx.repo, dir);
}

/**
 * Make `rec.key` of `bucket` name the archive `rec.dir` (already durable), then retire the archive it named
 * before if no key refers to it any more. Recording and retiring one directory are serialised, so a retire can
 * never remove an archive a new record points at: if `rec.dir` vanished meanwhile (retired just before, when
 * an equal body was deleted), `recommit` writes it again. Readers see the old object or the new, never a mix.
 * `check` is the write's condition, run against the key's record at the moment of recording (Catalog.put); when it
 * throws, nothing is recorded and `rec.dir` is retired unless another key names it.
 */
export async function recordObject(ctx: S3Context, bucket: string, rec: ObjectRecord, recommit?: () => Promise<string>, check?: (current: ObjectRecord | undefined) => void): Promise<ObjectRecord> {
  if (rec.dir === undefined) {
    // A blob: nothing to retire it (prune reclaims blobs no record or segment names), so no directory lock.
    const prev = await ctx.catalog.put(bucket, rec, check);
    if (prev?.dir !== undefined) await retireIfUnused(ctx, prev.dir);
    return rec;
  }
  let current = rec;
  for (let attempt = 0; ; attempt++) {
    const dir = current.dir!;
    let old: { prev: ObjectRecord | undefined } | null;
    try {
      old = await ctx.dirs.run(dir, async () => {
        if (!(await exists(ctx, dir))) return null;
        return { prev: await ctx.catalog.put(bucket, current, check) };
      });
    } catch (err) {
      // Refused (a condition lost its race, or the record could not be written): the archive committed for it
      // may be named by no key. Retired here, after the directory lock is released (retiring takes it again).
      await retireIfUnused(ctx, dir);
      throw err;
    }
    if (old) {
      if (old.prev?.dir !== undefined && old.prev.dir !== dir) await retireIfUnused(ctx, old.prev.dir);
      return current;
    }
    if (!recommit || attempt > 2) throw new Error(`archive ${dir} vanished before its key could be recorded`);
    current = { ...current, dir: await recommit() };
  }
}

/**
 * Forget bucket/key; retire its archive if nothing else refers to it. Returns the record, if there was one.
 * Dropping a reference needs no directory lock (it can only make an archive retirable, and retiring re-checks
 * under the lock); adding one always takes it (recordObject).
 */
export async function forgetObject(ctx: S3Context, bucket: string, key: string): Promise<ObjectRecord | undefined> {
  const gone = await ctx.catalog.delete(bucket, key);
  if (gone?.dir !== undefined) await retireIfUnused(ctx, gone.dir);
  return gone;
}

/**
 * Remove archive `dir` from every store when no key refers to it: under its archive lock, the manifests first
 * (so no reader opens a half-removed archive), then every other key of it. A failure leaves an orphan archive
 * (still a valid archive, listed by `blockframe list`), logged, never a broken object.
 */
export async function retireIfUnused(ctx: S3Context, dir: string): Promise<void> {
  await ctx.dirs.run(dir, async () => {
    if (ctx.catalog.references(dir) > 0) return;
    try {
      await deleteArchive(ctx.repo, dir);
      ctx.cache.invalidate(dir);
    } catch (err) {
      ctx.log(`blockframe s3: could not retire archive ${dir} (left as an orphan archive): ${(err as Error).message}`);
    }
  });
}
