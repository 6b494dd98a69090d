// What every frontend that serves archives shares: one repository (its open stores), one compute pool, one cache
// of open archives and one read-ahead budget. The file server and the S3 API open one, or share another's.
import { ComputePool } from '../compute/pool.js';
import { BlockFrameError } from '../errors.js';
import { Repository } from '../archive/repo.js';
import { ReadAhead } from '../archive/read/read-ahead.js';
import type { KeyInput } from '../archive/keyring.js';
import type { StoreOptions } from '../store/config.js';
import { ArchiveCache } from './archive-cache.js';
import { createServeMetrics, type ServeMetrics } from './serve-metrics.js';
import { Notifier } from './notify.js';
import { StoreWatch, type StoreWatchOptions } from './store-watch.js';

export interface Serving {
  repo: Repository;
  pool: ComputePool;
  cache: ArchiveCache;
  /** The one read-ahead and its memory budget, shared by every response of every frontend on this Serving. */
  windows: ReadAhead;
  /** The process's metrics (src/metrics.ts): the frontends count requests, the stores their calls; others add theirs. */
  metrics: ServeMetrics;
  /** Alerts on state changes (a store lost or back, damage found…), deduplicated. */
  notifier: Notifier;
  /** Each store's state, checked in the background (metrics, alerts, /readyz). */
  stores: StoreWatch;
  /**
   * A frontend tells that reading archive `archive` failed with `err`: when it is damage beyond repair
   * (BF_UNRECOVERABLE, BF_RS_TOO_FEW_SHARDS) it is counted, and alerted unless a store is down (then the stores'
   * state is the news, and the data may come back with them).
   */
  readFailed(archive: string | undefined, err: unknown): void;
  /** Close the cache, the pool and the stores (once; later calls wait for the first). */
  close(): Promise<void>;
}

export interface ServingOptions extends StoreOptions {
  /** Keys for encrypted archives, taken at start-up (a request never supplies one). */
  keys?: KeyInput[];
  /** Bytes of read windows all responses may hold at once (default 64 MiB). */
  windowBudget?: number;
  /** The notifier for alerts (default: one that sends nothing). */
  notifier?: Notifier;
  /** How often the stores are checked in the background (see StoreWatch). */
  storeWatch?: StoreWatchOptions;
  /** Where the server's stderr lines go (default stderr). */
  log?: (line: string) => void;
}

/** Open the stores `opts` names (BF_STORE_CONFIG, BF_ARCHIVE_ROOT_MISSING…) and start a pool, a cache and a budget. */
export function openServing(opts: ServingOptions = {}): Serving {
  const metrics = createServeMetrics();
  const repo = Repository.openSync({ ...opts, observe: metrics.storeCalls });
  const notifier = opts.notifier ?? new Notifier();
  const pool = ComputePool.start();
  const cache = new ArchiveCache(repo, pool, undefined, opts.log, opts.keys ?? []);
  cache.onHeal = (dir, d) => {
    metrics.healsOnRead.inc();
    // A file on a store that did not answer, or whose directory is gone, may be fine: that is the store's state
    // (StoreWatch tells it), not damage. So the store is checked before damage is alerted.
    if (d.cause !== undefined) return;
    void (async () => {
      const states = await stores.check();
      if (d.store !== undefined && states[d.store - 1]?.state === 'down') return;
      notifier.event({ kind: 'damage-found', archive: dir, store: d.store, detail: `${d.kind} ${d.path} in archive ${dir}${d.store === undefined ? '' : ` on store ${d.store}`}: rebuilt from parity on read (run blockframe repair)` });
    })();
  };
  cache.onCleared = (dir) => notifier.event({ kind: 'damage-cleared', archive: dir, detail: `archive ${dir} was repaired or rewritten` });
  const windows = new ReadAhead(opts.windowBudget);
  const kinds = repo.storeKinds();
  const stores = new StoreWatch(repo, kinds, metrics.metrics, notifier, opts.storeWatch);
  metrics.metrics.register({
    name: 'blockframe_read_window_bytes',
    help: 'Bytes of verified read windows the responses may hold in all (state="total") and of them free now (state="free").',
    type: 'gauge',
    collect: () => [
      { labels: { state: 'total' }, value: windows.budgetTotal },
      { labels: { state: 'free' }, value: windows.budgetFree },
    ],
  });
  metrics.metrics.register({ name: 'blockframe_alerts_sent_total', help: 'Alerts delivered (per target).', type: 'counter', collect: () => [{ value: notifier.sent }] });
  metrics.metrics.register({ name: 'blockframe_alerts_failed_total', help: 'Alerts not delivered after every try, or dropped from a full queue.', type: 'counter', collect: () => [{ value: notifier.failed }] });
  let closing: Promise<void> | undefined;
  return {
    repo,
    pool,
    cache,
    windows,
    metrics,
    notifier,
    stores,
    readFailed(archive, err) {
      if (!(err instanceof BlockFrameError) || (err.code !== 'BF_UNRECOVERABLE' && err.code !== 'BF_RS_TOO_FEW_SHARDS')) return;
      metrics.unrecoverableReads.inc();
      void (async () => {
        const states = await stores.check(1000);
        if (states.some((x) => x.state === 'down')) return;
        notifier.event({ kind: 'damage-unrepairable', archive, detail: `archive ${archive ?? '(unknown)'} cannot be read: ${err.message}` });
      })();
    },
    close() {
      closing ??= (async () => {
        stores.close();
        await cache.close();
        await pool.close();
        await repo.close();
      })();
      return closing;
    },
  };
}
