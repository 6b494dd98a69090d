// One archive's shards on the store set: their keys, which store holds each (placement), ranged reads and writes.
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { BlockFrameError } from '../errors.js';
import type { ComputePool } from '../compute/pool.js';
import { codeLayout, type CodeLayout } from '../layout/code.js';
import { archiveKey } from '../layout/keys.js';
import type { Manifest } from '../layout/manifest.js';
import { shardStores } from '../layout/placement.js';
import type { ObjectInfo } from '../store/backend.js';
import { Spool } from '../store/spool.js';
import type { Repository } from './repo.js';

export interface ArchiveCtx {
  repo: Repository;
  dir: string;
  manifest: Manifest;
  pool: ComputePool;
  code: CodeLayout;
  /** Store index of every shard, by shard id. */
  where: number[];
  signal?: AbortSignal;
  onBytes?: (n: number) => void;
  /** Awaited after each slab a check reads, with its size in bytes: a scrub's byte-rate limit (see engine/pacer.ts). */
  throttle?: (n: number) => Promise<void>;
  /** Read shards through the stores' getHeld() where they have it (a server's many small reads; see Backend.getHeld). */
  holdFiles?: boolean;
}

/** Stores the manifest says the archive spans; they must be exactly the stores given. */
export function archiveCtx(repo: Repository, dir: string, manifest: Manifest, pool: ComputePool, opts: { signal?: AbortSignal; onBytes?: (n: number) => void; throttle?: (n: number) => Promise<void>; holdFiles?: boolean } = {}): ArchiveCtx {
  const stores = manifest.placement?.stores ?? 1;
  if (stores !== repo.set.size) {
    throw new BlockFrameError(
      'BF_STORE_CONFIG',
      `archive ${dir} spans ${stores} store${stores === 1 ? '' : 's'}, but ${repo.set.size} ${repo.set.size === 1 ? 'is' : 'are'} given: name every store of its set, in order (--store … or the config file)`,
      { archive: dir, stores },
    );
  }
  const code = codeLayout(manifest);
  return { repo, dir, manifest, pool, code, where: shardStores(code, stores), ...opts };
}

export function shardKey(ctx: ArchiveCtx, n: number): string {
  return archiveKey(ctx.dir, ctx.code.shards[n]!.path);
}

/** Bytes [offset, offset + into.length) of shard `n` from its store (fewer at its end); errors are store errors. */
export function readShard(ctx: ArchiveCtx, n: number, into: Uint8Array, offset: number): Promise<number> {
  return ctx.repo.set.on(ctx.where[n]!, (b) => (ctx.holdFiles && b.getHeld ? b.getHeld(shardKey(ctx, n), into, offset, ctx.signal) : b.get(shardKey(ctx, n), into, offset, ctx.signal)));
}

export function statShard(ctx: ArchiveCtx, n: number): Promise<ObjectInfo | null> {
  return ctx.repo.set.on(ctx.where[n]!, (b) => b.stat(shardKey(ctx, n), ctx.signal));
}

/** The store (1-based number and label) that holds shard `n`, for messages. */
export function storeName(ctx: ArchiveCtx, n: number): string {
  const d = ctx.where[n]!;
  return ctx.repo.set.size === 1 ? ctx.repo.set.domains[0]!.label : `store ${d + 1} (${ctx.repo.set.domains[d]!.label})`;
}

/**
 * A spool for files that will land on store `d`: inside the store's own staging directory when it has one
 * (then put() moves the file with one rename), else in the local scratch directory (BLOCKFRAME_SPOOL or the
 * system temp directory), from which put() uploads it.
 */
export async function spoolFor(repo: Repository, d: number): Promise<{ spool: Spool; movable: boolean }> {
  const b = repo.set.domains[d]!;
  if (b.caps.atomicRename && b.stagingDir) return { spool: await Spool.create(await b.stagingDir()), movable: true };
  await Spool.cleanStale(scratchDir());
  return { spool: await Spool.create(scratchDir()), movable: false };
}

/**
 * The directory for uploads that outlive a request (S3 multipart parts): `.s3-uploads` beside the first store's
 * staging when it is a local directory (same file system, kept across restarts; hidden from archive listings),
 * else a directory in the scratch area named by a hash of the repository's label. Not created here.
 */
export async function longUploadsDir(repo: Repository): Promise<string> {
  const b = repo.set.domains[0]!;
  return b.caps.atomicRename && b.stagingDir
    ? join(dirname(await b.stagingDir()), '.s3-uploads')
    : join(scratchDir(), `s3-uploads-${createHash('sha256').update(repo.label).digest('hex').slice(0, 16)}`);
}

export function scratchDir(): string {
  return process.env.BLOCKFRAME_SPOOL ?? join(tmpdir(), 'blockframe-spool');
}

/**
 * Classify a failed shard read for verify and the reader: gone, something else in its place, a store that did not
 * answer, a store that refused our credentials (not an outage: nothing to replace), or unreadable.
 */
export function readFailure(err: unknown): 'missing' | 'not-a-file' | 'unavailable' | 'denied' | 'io' {
  if (!(err instanceof BlockFrameError)) throw err;
  switch (err.code) {
    case 'BF_ABORTED':
    case 'BF_INTERNAL':
      throw err;
    case 'BF_STORE_KEY_MISSING':
      return 'missing';
    case 'BF_STORE_NOT_A_FILE':
      return 'not-a-file';
    case 'BF_STORE_DENIED':
      return 'denied';
    case 'BF_STORE_UNAVAILABLE':
    case 'BF_STORE_NOT_MOUNTED':
    case 'BF_STORE_FOREIGN':
    case 'BF_STORE_CONFIG':
      return 'unavailable';
    default:
      return 'io';
  }
}
