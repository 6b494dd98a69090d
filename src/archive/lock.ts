// Per-archive locks: mutating operations (repair, a commit that rewrites, delete) on one archive run one at a time.
// A lock is a file created with O_EXCL holding its owner's pid and host; a dead owner's lock is taken over.
import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { BlockFrameError, fromSystemError } from '../errors.js';
import { pidAlive } from '../store/local.js';
import type { Repository } from './repo.js';

/** How long an operation waits for another to finish before giving up (BLOCKFRAME_LOCK_WAIT_MS overrides). */
function waitMs(): number {
  const v = Number(process.env.BLOCKFRAME_LOCK_WAIT_MS);
  return Number.isFinite(v) && v >= 0 ? v : 10 * 60_000;
}

/**
 * Where the locks of a repository live: a directory of the local temp directory named after its stores, outside
 * the archive root (taking a lock changes nothing in the archive). So processes on one machine serialize; two
 * machines sharing a store do not (see docs/FORMAT.md §9.1).
 */
function lockDir(repo: Repository): string {
  return join(tmpdir(), 'blockframe-locks', createHash('sha256').update(repo.localRoot ?? repo.set.label).digest('hex').slice(0, 16));
}

/**
 * Locks held by the current async call chain: re-entrant there (a commit that heals an archive calls repair under
 * its own lock), while another request of the same process still waits like any other process.
 */
const held = new AsyncLocalStorage<ReadonlySet<string>>();

/**
 * The lock file's name for archive `dir`: a fixed-length hash of the directory name ("{32 hex}.lock"), never the
 * name itself, which may already use the whole 255-byte component limit of common file systems.
 */
export function lockFileName(dir: string): string {
  return `${createHash('sha256').update(dir, 'utf8').digest('hex').slice(0, 32)}.lock`;
}

/** Run `fn` holding the lock of archive `dir`: waits while another live process holds it; takes over a dead one's. */
export async function withArchiveLock<T>(repo: Repository, dir: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  const base = lockDir(repo);
  const path = join(base, lockFileName(dir));
  const mine = held.getStore() ?? new Set<string>();
  if (mine.has(path)) return fn();
  const me = JSON.stringify({ pid: process.pid, host: hostname(), archive: dir });
  const deadline = Date.now() + waitMs();
  try {
    await mkdir(base, { recursive: true });
  } catch (err) {
    throw fromSystemError(err, base, 'creating the lock directory');
  }
  for (;;) {
    try {
      const fh = await open(path, 'wx', 0o644);
      await fh.writeFile(me);
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fromSystemError(err, path, 'taking the archive lock');
    }
    let owner: { pid?: number; host?: string } = {};
    try {
      owner = JSON.parse(await readFile(path, 'utf8'));
    } catch {
      // being written this instant, or garbage: look again shortly
    }
    if (owner.host === hostname() && owner.pid !== undefined && !pidAlive(owner.pid)) {
      await unlink(path).catch(() => undefined);
      continue;
    }
    if (Date.now() > deadline) {
      throw new BlockFrameError('BF_ARCHIVE_BUSY', `archive ${dir} is busy: process ${owner.pid ?? '?'} on ${owner.host ?? '?'} holds it (lock ${path})`, { archive: dir });
    }
    if (signal?.aborted) throw new BlockFrameError('BF_ABORTED', 'operation cancelled');
    await sleep(100);
  }
  try {
    return await held.run(new Set([...mine, path]), fn);
  } finally {
    await unlink(path).catch(() => undefined);
  }
}
