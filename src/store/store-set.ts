// A set of stores (failure domains): each shard lives on one of them, small metadata objects on all of them.
// A store that stops answering is skipped for a while (a circuit breaker), so one dead store slows nothing down.
import { BlockFrameError } from '../errors.js';
import { isTransient, storeError, throwIfAborted, type Backend, type BackendCaps, type ListOptions, type ObjectInfo, type PutSource } from './backend.js';

/** How long a store that failed with BF_STORE_UNAVAILABLE is skipped before it is tried again. */
const BREAKER_MS = 5000;

/**
 * N backends, addressed by domain index. As a Backend itself it is a mirror: put and delete go to every store,
 * get and stat are answered by the first store that has the key, list is the union. Archives use the mirror for
 * their manifest set and chunk index, and `on(d, …)` for each shard's own store.
 */
export class StoreSet implements Backend {
  readonly caps: BackendCaps = { atomicRename: false, randomWrite: false };
  readonly label: string;
  private readonly downUntil = new Map<number, { until: number; err: BlockFrameError }>();

  constructor(
    readonly domains: Backend[],
    /** How many whole stores an archive written to this set must survive losing. */
    readonly failures: number,
  ) {
    if (domains.length === 0) throw new BlockFrameError('BF_STORE_CONFIG', 'no store given');
    this.label = domains.length === 1 ? domains[0]!.label : `${domains.length} stores (${domains.map((d) => d.label).join(', ')})`;
  }

  get size(): number {
    return this.domains.length;
  }

  /** Is store `d` being skipped after failing? */
  isDown(d: number): boolean {
    const s = this.downUntil.get(d);
    return s !== undefined && s.until > Date.now();
  }

  /** Run `fn` against store `d`: fails fast while the store is marked down; a transient failure marks it down. */
  async on<T>(d: number, fn: (b: Backend) => Promise<T>): Promise<T> {
    const s = this.downUntil.get(d);
    if (s && s.until > Date.now()) throw s.err;
    try {
      const out = await fn(this.domains[d]!);
      this.downUntil.delete(d);
      return out;
    } catch (err) {
      if (isTransient(err)) {
        const b = this.domains[d]!;
        this.downUntil.set(d, { until: Date.now() + BREAKER_MS, err: storeError('BF_STORE_UNAVAILABLE', b, '', `store ${d + 1} (${b.label}) is not answering; skipped for now`, err) });
      }
      throw err;
    }
  }

  dropHeld(prefix: string): void {
    for (const d of this.domains) d.dropHeld?.(prefix);
  }

  async get(key: string, into: Uint8Array, offset: number, signal?: AbortSignal): Promise<number> {
    return this.first(key, (b) => b.get(key, into, offset, signal));
  }

  async stat(key: string, signal?: AbortSignal): Promise<ObjectInfo | null> {
    try {
      return await this.first(key, async (b) => {
        const st = await b.stat(key, signal);
        if (!st) throw storeError('BF_STORE_KEY_MISSING', b, key, 'no such key');
        return st;
      });
    } catch (err) {
      if (err instanceof BlockFrameError && err.code === 'BF_STORE_KEY_MISSING') return null;
      throw err;
    }
  }

  /** The first store, in order, that answers; missing everywhere is BF_STORE_KEY_MISSING, else the first error. */
  private async first<T>(key: string, fn: (b: Backend) => Promise<T>): Promise<T> {
    let firstErr: unknown;
    for (let d = 0; d < this.domains.length; d++) {
      try {
        return await this.on(d, fn);
      } catch (err) {
        if (err instanceof BlockFrameError && err.code === 'BF_ABORTED') throw err;
        if (!(err instanceof BlockFrameError && err.code === 'BF_STORE_KEY_MISSING')) firstErr ??= err;
      }
    }
    throw firstErr ?? storeError('BF_STORE_KEY_MISSING', this, key, 'no such key in any store');
  }

  /** To every store; fails (after all have settled) if any store failed. A movable file is copied, not moved. */
  async put(key: string, source: PutSource, signal?: AbortSignal): Promise<void> {
    const copy: PutSource = { size: source.size, open: source.open };
    await this.all((d) => this.on(d, (b) => b.put(key, copy, signal)));
  }

  async delete(key: string, signal?: AbortSignal): Promise<void> {
    await this.all((d) => this.on(d, (b) => b.delete(key, signal)));
  }

  private async all(fn: (d: number) => Promise<unknown>): Promise<void> {
    const results = await Promise.allSettled(this.domains.map((_, d) => fn(d)));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  /** The union of every answering store's listing (each key once); fails only when no store answers. */
  async *list(prefix: string, opts?: ListOptions): AsyncIterable<ObjectInfo> {
    const seen = new Set<string>();
    let answered = 0;
    let firstErr: unknown;
    for (let d = 0; d < this.domains.length; d++) {
      const got: ObjectInfo[] = [];
      try {
        await this.on(d, async (b) => {
          for await (const o of b.list(prefix, opts)) got.push(o);
        });
        answered++;
      } catch (err) {
        if (opts?.signal?.aborted) throw err;
        firstErr ??= err;
        continue;
      }
      for (const o of got) {
        throwIfAborted(this, prefix, opts?.signal);
        if (seen.has(o.key)) continue;
        seen.add(o.key);
        yield o;
      }
    }
    if (answered === 0 && firstErr) throw firstErr;
  }

  async close(): Promise<void> {
    await Promise.all(this.domains.map((b) => b.close().catch(() => undefined)));
  }
}
