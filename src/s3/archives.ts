// Objects as archives: commit a spooled body, point a key at its archive, and retire archives no key refers to.
import { commitInput } from '../engine/commit.js';
import type { InputSource } from '../store/input.js';
import { withArchiveLock } from '../archive/lock.js';
import { MANIFEST_FILE } from '../layout/manifest.js';
import type { ObjectRecord } from './catalog.js';
import type { S3Context } from './http.js';

/** The archive name of an object: "{bucket}/{key}" (the manifest keeps it; the directory name is sanitised). */
export const archiveName = (bucket: string, key: string): string => `${bucket}/${key}`;

/** Commits that run at once by default: one already keeps both pool workers busy, and each holds 30-40 MiB of slabs. */
export const DEFAULT_COMMIT_SLOTS = 1;

/** A counting semaphore: at most `size` holders at once, the others wait in arrival order. */
export class Slots {
  private busy = 0;
  private readonly queue: (() => void)[] = [];
  constructor(readonly size: number) {}

  /** Holders running now. */
  get running(): number {
    return this.busy;
  }

  /** Holders waiting for a slot. */
  get waiting(): number {
    return this.queue.length;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.busy >= this.size) await new Promise<void>((resolve) => this.queue.push(resolve));
    else this.busy++;
    try {
      return await fn();
    } finally {
      const next = this.queue.shift();
      if (next) next(); // the slot passes straight to the next waiter
      else this.busy--;
    }
  }
}

/**
 * Commit the verified body read from `input` (a spool file, or the staged parts) as the archive of bucket/key;
 * returns its directory. Commits take one of `ctx.commits`' slots, so many concurrent uploads completing at once
 * queue instead of each holding its own commit buffers (peak memory stays bounded; throughput is the disk's).
 */
export async function commitObject(ctx: S3Context, input: InputSource, bucket: string, key: string, signal?: AbortSignal): Promise<string> {
  const r = await ctx.commits.run(() => commitInput(input, { name: archiveName(bucket, key), storeSet: ctx.repo.set, pool: ctx.pool, signal }));
  return r.dir;
}

async function exists(ctx: S3Context, dir: string): Promise<boolean> {
  return (await ctx.repo.set.stat(`${dir}/${MANIFEST_FILE}`).catch(() => null)) !== null;
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
  let current = rec;
  for (let attempt = 0; ; attempt++) {
    const dir = current.dir;
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
      if (old.prev && old.prev.dir !== dir) await retireIfUnused(ctx, old.prev.dir);
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
  if (gone) await retireIfUnused(ctx, gone.dir);
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
      await withArchiveLock(ctx.repo, dir, async () => {
        await ctx.repo.set.delete(`${dir}/${MANIFEST_FILE}`);
        for (let d = 0; d < ctx.repo.set.size; d++) {
          await ctx.repo.set.on(d, async (b) => {
            const keys: string[] = [];
            for await (const o of b.list(`${dir}/`)) if (!o.prefix) keys.push(o.key);
            // Manifest copies and checksum before the shards: a reader never finds a shard set without a manifest it trusts.
            keys.sort((x, y) => Number(!x.includes('/manifest')) - Number(!y.includes('/manifest')));
            for (const k of keys) await b.delete(k);
          });
        }
      });
      ctx.cache.invalidate(dir);
    } catch (err) {
      ctx.log(`blockframe s3: could not retire archive ${dir} (left as an orphan archive): ${(err as Error).message}`);
    }
  });
}
