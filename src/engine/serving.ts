// What every frontend that serves archives shares: one repository (its open stores), one compute pool, one cache
// of open archives and one read-ahead budget. The file server and the S3 API open one, or share another's.
import { ComputePool } from '../compute/pool.js';
import { Repository } from '../archive/repo.js';
import { ReadAhead } from '../archive/read/read-ahead.js';
import type { KeyInput } from '../archive/keyring.js';
import type { StoreOptions } from '../store/config.js';
import { ArchiveCache } from './archive-cache.js';

export interface Serving {
  repo: Repository;
  pool: ComputePool;
  cache: ArchiveCache;
  /** The one read-ahead and its memory budget, shared by every response of every frontend on this Serving. */
  windows: ReadAhead;
  /** Close the cache, the pool and the stores (once; later calls wait for the first). */
  close(): Promise<void>;
}

export interface ServingOptions extends StoreOptions {
  /** Keys for encrypted archives, taken at start-up (a request never supplies one). */
  keys?: KeyInput[];
  /** Bytes of read windows all responses may hold at once (default 64 MiB). */
  windowBudget?: number;
}

/** Open the stores `opts` names (BF_STORE_CONFIG, BF_ARCHIVE_ROOT_MISSING…) and start a pool, a cache and a budget. */
export function openServing(opts: ServingOptions = {}): Serving {
  const repo = Repository.openSync(opts);
  const pool = ComputePool.start();
  const cache = new ArchiveCache(repo, pool, undefined, undefined, opts.keys ?? []);
  const windows = new ReadAhead(opts.windowBudget);
  let closing: Promise<void> | undefined;
  return {
    repo,
    pool,
    cache,
    windows,
    close() {
      closing ??= (async () => {
        await cache.close();
        await pool.close();
        await repo.close();
      })();
      return closing;
    },
  };
}
