// The stores' states while serving: a periodic check of each store, its state in the metrics, alerts on changes.
import type { Repository } from '../archive/repo.js';
import { BlockFrameError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { Notifier } from './notify.js';

export type StoreState = 'up' | 'down';

export interface StoreStatus {
  /** 1-based, as people count stores. */
  store: number;
  /** 'local' or 's3' (labels never carry a directory: metrics may be read by others). */
  kind: string;
  state: StoreState;
  /** Why it is down (one line), when it is. */
  reason?: string;
  /** ISO 8601 time of the last check. */
  checkedAt?: string;
  /** The last check's duration, in seconds. */
  seconds?: number;
}

export interface StoreWatchOptions {
  /** Milliseconds between checks (default 10 s); 0 checks only when asked (check()). */
  intervalMs?: number;
  /** One check of one store may take this long before it counts as down (default 5 s). */
  timeoutMs?: number;
}

export const DEFAULT_STORE_CHECK_MS = 10_000;

/**
 * Checks every store (Repository.checkStore) every `intervalMs`, in the background, one round at a time. Keeps
 * each store's state, exports it as `blockframe_store_up{store,kind}`, and tells the notifier on each change.
 */
export class StoreWatch {
  private readonly status: StoreStatus[];
  private timer?: NodeJS.Timeout;
  private round?: Promise<void>;
  private lastRound = 0;
  private readonly ctl = new AbortController();

  constructor(
    private readonly repo: Repository,
    kinds: string[],
    metrics: Metrics,
    private readonly notifier: Notifier,
    private readonly opts: StoreWatchOptions = {},
  ) {
    this.status = kinds.map((kind, d) => ({ store: d + 1, kind, state: 'up' }));
    metrics.register({
      name: 'blockframe_store_up',
      help: 'Whether a store answers (1) or not (0: it timed out, failed, or its directory is missing), by store number (1-based).',
      type: 'gauge',
      collect: () => this.snapshot().map((s) => ({ labels: { store: s.store, kind: s.kind }, value: s.state === 'up' ? 1 : 0 })),
    });
    metrics.register({
      name: 'blockframe_store_check_seconds',
      help: 'How long the last check of a store took, in seconds.',
      type: 'gauge',
      collect: () => this.status.filter((s) => s.seconds !== undefined).map((s) => ({ labels: { store: s.store, kind: s.kind }, value: s.seconds! })),
    });
    const every = opts.intervalMs ?? DEFAULT_STORE_CHECK_MS;
    if (every > 0) {
      this.timer = setInterval(() => void this.check(), every);
      this.timer.unref();
      void this.check();
    }
  }

  /** The stores' states now (a store whose breaker is open counts as down even between checks). */
  snapshot(): StoreStatus[] {
    return this.status.map((s, d) => (s.state === 'up' && this.repo.storeDown(d) ? { ...s, state: 'down', reason: 'not answering (skipped until it answers again)' } : { ...s }));
  }

  /**
   * Check every store now, unless a round ran within `freshMs` (then its result stands); concurrent callers share
   * one round. Resolves with the states.
   */
  async check(freshMs = 0): Promise<StoreStatus[]> {
    if (this.round) await this.round;
    else if (freshMs <= 0 || Date.now() - this.lastRound > freshMs) {
      this.round = this.runRound().finally(() => {
        this.round = undefined;
        this.lastRound = Date.now();
      });
      await this.round;
    }
    return this.snapshot();
  }

  private async runRound(): Promise<void> {
    await Promise.all(this.status.map((_, d) => this.checkOne(d)));
  }

  private async checkOne(d: number): Promise<void> {
    if (this.ctl.signal.aborted) return;
    const s = this.status[d]!;
    const ms = this.opts.timeoutMs ?? 5000;
    const signal = AbortSignal.any([this.ctl.signal, AbortSignal.timeout(ms)]);
    const t0 = performance.now();
    let reason: string | undefined;
    try {
      // The store's own timeout bounds its calls; this one also bounds a local directory that hangs (a dead mount).
      await Promise.race([
        this.repo.checkStore(d, signal),
        new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new BlockFrameError('BF_STORE_UNAVAILABLE', `no answer within ${ms} ms`)), { once: true })),
      ]);
    } catch (err) {
      if (this.ctl.signal.aborted) return;
      reason = err instanceof BlockFrameError ? err.message : String(err);
    }
    s.seconds = (performance.now() - t0) / 1000;
    s.checkedAt = new Date().toISOString();
    const next: StoreState = reason === undefined ? 'up' : 'down';
    const was = s.state;
    s.state = next;
    s.reason = reason;
    if (next === 'down') this.notifier.event({ kind: 'store-lost', store: s.store, detail: `store ${s.store} (${s.kind}) is not answering: ${reason}` });
    else if (was === 'down' || this.notifier.state('store', s.store) === 'lost') this.notifier.event({ kind: 'store-back', store: s.store, detail: `store ${s.store} (${s.kind}) answers again` });
  }

  /** Stop checking (a round in flight is abandoned). */
  close(): void {
    clearInterval(this.timer);
    this.ctl.abort();
  }
}
