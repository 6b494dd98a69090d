// Repository locks on the stores (docs/FORMAT.md §13.6 "Locks"): `locks/{random}.json` on every store, shared
// (commit, delete, S3 flush) or exclusive (prune); acquire, refresh on a timer, release; stale locks taken over.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { BlockFrameError } from '../errors.js';
import { lockKey, LOCKS_PREFIX, parseLockKey } from '../layout/keys.js';
import { getAll, textSource } from '../store/backend.js';
import { pidAlive } from '../store/local.js';
import type { Repository } from './repo.js';

/** A lock not refreshed for this long is stale (docs/FORMAT.md §13.6): 30 minutes. */
export const LOCK_STALE_MS = 30 * 60_000;
/** A held lock is rewritten this often (docs/FORMAT.md §13.6): 5 minutes. */
export const LOCK_REFRESH_MS = 5 * 60_000;
/** No lock file is plausibly larger than this. */
const LOCK_MAX_BYTES = 64 * 1024;

export type LockKind = 'shared' | 'exclusive';

/** A lock file's fields (docs/FORMAT.md §13.6): times are ISO 8601 UTC. */
export interface LockFile {
  kind: LockKind;
  pid: number;
  host: string;
  started: string;
  refreshed: string;
}

const lockSchema = z.object({
  kind: z.enum(['shared', 'exclusive']),
  pid: z.number().int().positive(),
  host: z.string().min(1),
  started: z.iso.datetime(),
  refreshed: z.iso.datetime(),
});

/** One lock found on the stores: its key, and its fields (absent when the file is unreadable or invalid). */
export interface LockSeen {
  key: string;
  lock?: LockFile;
}

/** Options of acquireShared / acquireExclusive. Every clock and interval is injectable for tests. */
export interface RepoLockOptions {
  /** Milliseconds since the epoch (default Date.now). */
  now?: () => number;
  /** How often the held lock is rewritten, in ms (default LOCK_REFRESH_MS); 0 turns the timer off. */
  refreshMs?: number;
  /** Age of `refreshed` past which a lock is stale, in ms (default LOCK_STALE_MS). */
  staleMs?: number;
  /** This machine's name (default os.hostname()): a lock of this host whose pid is dead is stale. */
  host?: string;
  /** The pid written in the lock (default process.pid). */
  pid?: number;
  /** Is `pid` running on this host? (default: signal 0). */
  pidAlive?: (pid: number) => boolean;
  /** Wait between writing the lock and listing again, in ms (default 0; for stores whose listings lag). */
  settleMs?: number;
  /** Keep trying for this long while another lock blocks, in ms (default 0: refuse at once). */
  waitMs?: number;
  /** Cancels the acquisition; once the lock is held, aborting releases it. */
  signal?: AbortSignal;
  /** Hears refresh failures (the lock stays held; a lock not refreshed for staleMs may be taken over). */
  onRefreshError?: (err: unknown) => void;
}

/** A held repository lock. Release it when done (a `finally`); the refresh timer never keeps the process alive. */
export class RepoLock {
  private timer?: NodeJS.Timeout;
  private released = false;
  /** The refresh under way, if any: release waits for it, so a late put never brings the lock back. */
  private inflight?: Promise<void>;
  private readonly onAbort = (): void => void this.release().catch(() => undefined);

  constructor(
    private readonly repo: Repository,
    /** The lock's key on every store (`locks/{random}.json`). */
    readonly key: string,
    /** The fields last written. */
    public file: LockFile,
    private readonly o: RepoLockOptions,
  ) {
    const every = o.refreshMs ?? LOCK_REFRESH_MS;
    if (every > 0) {
      this.timer = setInterval(() => void this.refresh().catch((err: unknown) => o.onRefreshError?.(err)), every);
      this.timer.unref();
    }
    o.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  get kind(): LockKind {
    return this.file.kind;
  }

  /**
   * True once a refresh found the lock gone from every store (another process took it over as stale: this one was
   * not refreshed for too long). The holder should stop: a prune may be running.
   */
  lost = false;

  /**
   * Rewrite the lock with `refreshed` = now on every store. A lock found gone from every store is not written back:
   * `lost` is set, the timer stops, and BF_REPO_LOCKED is thrown. Errors: that; store errors (after every store settled).
   */
  async refresh(): Promise<void> {
    if (this.released || this.lost) return;
    await this.inflight?.catch(() => undefined);
    if (this.released || this.lost) return;
    if ((await this.repo.set.stat(this.key).catch(() => undefined)) === null) {
      this.lost = true;
      clearInterval(this.timer);
      throw new BlockFrameError('BF_REPO_LOCKED', `repository lock ${this.key} was removed by another process (taken over as stale): stop, a prune may be running`, { lock: this.key, lost: true });
    }
    const next = { ...this.file, refreshed: new Date((this.o.now ?? Date.now)()).toISOString() };
    const p = putEverywhere(this.repo, this.key, next);
    this.inflight = p;
    try {
      await p;
      this.file = next;
    } finally {
      if (this.inflight === p) this.inflight = undefined;
    }
  }

  /** Stop refreshing and delete the lock from every store. Idempotent. Errors: store errors (after every store settled). */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    clearInterval(this.timer);
    this.o.signal?.removeEventListener('abort', this.onAbort);
    await this.inflight?.catch(() => undefined);
    await deleteEverywhere(this.repo, this.key);
  }
}

async function settleAll(ps: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(ps);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

function putEverywhere(repo: Repository, key: string, lock: LockFile): Promise<void> {
  const text = `${JSON.stringify(lock)}\n`;
  return settleAll(repo.set.domains.map((_, d) => repo.set.on(d, (b) => b.put(key, textSource(text)))));
}

function deleteEverywhere(repo: Repository, key: string): Promise<void> {
  return settleAll(repo.set.domains.map((_, d) => repo.set.on(d, (b) => b.delete(key))));
}

/**
 * Every lock on the stores: the union of each store's listing of `locks/`, each read from the first store that has
 * it. A file that cannot be read or fails the schema has no `lock` (stale by isStale). Errors: the store error when
 * no store answers; BF_ABORTED.
 */
export async function listLocks(repo: Repository, signal?: AbortSignal): Promise<LockSeen[]> {
  const keys: string[] = [];
  for await (const o of repo.set.listEach(LOCKS_PREFIX, { signal })) if (!o.prefix && parseLockKey(o.key) !== null) keys.push(o.key);
  const out: LockSeen[] = [];
  for (const key of keys.sort()) {
    let v: unknown = null;
    try {
      const bytes = await getAll(repo.set, key, LOCK_MAX_BYTES, signal);
      if (bytes === null) continue; // released between the listing and the read
      v = JSON.parse(new TextDecoder().decode(bytes));
    } catch (err) {
      if (err instanceof BlockFrameError && err.code === 'BF_ABORTED') throw err;
    }
    const r = lockSchema.safeParse(v);
    out.push(r.success ? { key, lock: r.data } : { key });
  }
  return out;
}

/**
 * Is this lock stale (docs/FORMAT.md §13.6)? Unreadable or invalid; `refreshed` older than `staleMs` before now (or
 * in the future by more than that: a broken clock); or written on this host by a pid that is no longer running.
 */
export function isStale(seen: LockSeen, o: Pick<RepoLockOptions, 'now' | 'staleMs' | 'host' | 'pidAlive'> = {}): boolean {
  const l = seen.lock;
  if (!l) return true;
  const age = (o.now ?? Date.now)() - Date.parse(l.refreshed);
  if (Math.abs(age) > (o.staleMs ?? LOCK_STALE_MS)) return true;
  return l.host === (o.host ?? hostname()) && !(o.pidAlive ?? pidAlive)(l.pid);
}

/** "process 123 on host h (exclusive lock since …, locks/….json)": who holds a lock, for errors. */
function holder(s: LockSeen): string {
  return s.lock ? `process ${s.lock.pid} on ${s.lock.host} (${s.lock.kind} lock since ${s.lock.started}, ${s.key})` : s.key;
}

function lockedError(kind: LockKind, by: LockSeen): BlockFrameError {
  const what = kind === 'exclusive' ? 'an exclusive lock (prune) needs the repository to itself' : 'a prune holds the repository';
  return new BlockFrameError('BF_REPO_LOCKED', `repository is locked: ${what}; held by ${holder(by)}`, {
    lock: by.key,
    ...(by.lock ? { holder: { kind: by.lock.kind, pid: by.lock.pid, host: by.lock.host, started: by.lock.started, refreshed: by.lock.refreshed } } : {}),
  });
}

/** The first fresh lock other than `mine` that keeps a `kind` lock out: any for exclusive, an exclusive for shared. */
function blocker(locks: LockSeen[], kind: LockKind, mine: string | undefined, o: RepoLockOptions): LockSeen | undefined {
  return locks.find((s) => s.key !== mine && !isStale(s, o) && (kind === 'exclusive' || s.lock!.kind === 'exclusive'));
}

/**
 * Take a `kind` lock: list the locks (an exclusive acquirer removes stale ones), refuse while a fresh one blocks,
 * write ours to every store, wait `settleMs`, list again, and back off (remove ours) if a blocking lock appeared
 * meanwhile. Two exclusive acquirers racing both see each other on the second listing, so at most one wins.
 */
async function acquire(repo: Repository, kind: LockKind, o: RepoLockOptions): Promise<RepoLock> {
  repo.requireAllStores();
  const now = o.now ?? Date.now;
  const deadline = now() + (o.waitMs ?? 0);
  for (let attempt = 0; ; attempt++) {
    if (o.signal?.aborted) throw new BlockFrameError('BF_ABORTED', 'cancelled while taking the repository lock');
    let locks = await listLocks(repo, o.signal);
    if (kind === 'exclusive') {
      for (const s of locks.filter((x) => isStale(x, o))) await deleteEverywhere(repo, s.key);
      locks = locks.filter((x) => !isStale(x, o));
    }
    let by = blocker(locks, kind, undefined, o);
    if (!by) {
      const key = lockKey(randomBytes(16).toString('hex'));
      const t = new Date(now()).toISOString();
      const file: LockFile = { kind, pid: o.pid ?? process.pid, host: o.host ?? hostname(), started: t, refreshed: t };
      try {
        await putEverywhere(repo, key, file);
        if (o.settleMs) await sleep(o.settleMs, undefined, { signal: o.signal }).catch(() => undefined);
        by = blocker(await listLocks(repo, o.signal), kind, key, o);
      } catch (err) {
        await deleteEverywhere(repo, key).catch(() => undefined);
        throw err;
      }
      if (!by) return new RepoLock(repo, key, file, o);
      await deleteEverywhere(repo, key);
    }
    if (now() >= deadline) throw lockedError(kind, by);
    // Back off for a random while, so two racing acquirers do not meet again in step.
    await sleep(50 + Math.floor(Math.random() * 200) * Math.min(attempt + 1, 5), undefined, { signal: o.signal }).catch(() => undefined);
  }
}

/**
 * Take a shared lock (commit, delete, an S3 flush): refused while a fresh exclusive lock exists.
 * Errors: BF_REPO_LOCKED (names the holder: `context.holder`), BF_STORE_NOT_MOUNTED / BF_STORE_FOREIGN (every store
 * must be there), store errors, BF_ABORTED.
 */
export function acquireShared(repo: Repository, o: RepoLockOptions = {}): Promise<RepoLock> {
  return acquire(repo, 'shared', o);
}

/**
 * Take the exclusive lock (prune): removes stale locks (see isStale), then is refused while any other fresh lock
 * exists. Errors: as acquireShared.
 */
export function acquireExclusive(repo: Repository, o: RepoLockOptions = {}): Promise<RepoLock> {
  return acquire(repo, 'exclusive', o);
}
