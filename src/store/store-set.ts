// A set of stores (failure domains): each shard lives on one of them, small metadata objects on all of them.
// A store that stops answering is skipped (a circuit breaker) until a probe finds it back, so one dead store
// costs a process or a server one timeout, not one per call.
import { BlockFrameError } from '../errors.js';
import { isTransient, storeError, throwIfAborted, type Backend, type BackendCaps, type ListOptions, type ObjectInfo, type PutSource } from './backend.js';
import { PROBE_KEY } from '../layout/keys.js';
import { LocalBackend } from './local.js';
import { WrappedBackend } from './wrap.js';

/**
 * The breaker. A call to a store that fails with BF_STORE_UNAVAILABLE (after the store's own retries, within its
 * timeout) opens the breaker: every later call to that store fails at once with that error, for as long as the
 * process or server finds it down. Every PROBE_MS a probe (a stat of PROBE_KEY, which need not exist; at most one
 * in flight, bounded by the store's own timeout) is sent in the background, so no caller ever waits on a dead
 * store again. Any answer, even "no such key" or "access denied", closes the breaker, as does any call that
 * succeeds. Access denied never opens it: that store answers, and each call says so itself.
 */
export const PROBE_MS = 2000;
export { PROBE_KEY };
/**
 * A store that answers but misbehaves (context.misbehaving: a listing that would not end, a page too large) is
 * probed by listing its top level instead, as a stat would succeed, and less often, as a misbehaving listing costs
 * this side up to the store's whole listing deadline each time.
 */
export const LIST_PROBE_MS = 30_000;

interface Open {
  err: BlockFrameError;
  how: 'stat' | 'list';
  timer: NodeJS.Timeout;
  probe?: AbortController;
}

export class StoreSet implements Backend {
  readonly caps: BackendCaps = { atomicRename: false, randomWrite: false };
  readonly label: string;
  private readonly open = new Map<number, Open>();
  private closed = false;

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

  /** Is store `d` being skipped after failing (its breaker open)? */
  isDown(d: number): boolean {
    return this.open.has(d);
  }

  /**
   * Is store `d` there now? Resolves when it answers; throws BF_STORE_UNAVAILABLE when its breaker is open, when it
   * does not answer a stat of PROBE_KEY (within its timeout), or, for a local directory, when the directory is
   * missing or not a directory (a disk not mounted). Other answers (access denied) count as there. Writes nothing.
   */
  async check(d: number, signal?: AbortSignal): Promise<void> {
    let b: Backend = this.domains[d]!;
    while (b instanceof WrappedBackend) b = b.inner;
    if (b instanceof LocalBackend && !(await b.present())) {
      throw storeError('BF_STORE_UNAVAILABLE', b, '', `store ${d + 1} (${b.label}): the directory is missing (a disk not mounted?)`);
    }
    if (b instanceof LocalBackend && !(await b.markerPresent())) {
      throw storeError('BF_STORE_NOT_MOUNTED', b, '', `store ${d + 1} (${b.label}): its store marker is missing (a disk not mounted?); nothing is written there until it is back`);
    }
    try {
      await this.on(d, (x) => x.stat(PROBE_KEY, signal));
    } catch (err) {
      if (isTransient(err) || (err instanceof BlockFrameError && err.code === 'BF_ABORTED')) throw err;
    }
  }

  /**
   * Store `d` carries the marker `key` (docs/FORMAT.md §14): a local directory refuses writes from now on while it
   * is missing (LocalBackend.requireMarker), and check() reports it. Object stores cannot be unmounted: no-op.
   */
  requireMarker(d: number, key: string): void {
    let b: Backend = this.domains[d]!;
    while (b instanceof WrappedBackend) b = b.inner;
    if (b instanceof LocalBackend) b.requireMarker(key);
  }

  /** Run `fn` against store `d`: fails at once while its breaker is open; a transient failure opens it. */
  async on<T>(d: number, fn: (b: Backend) => Promise<T>): Promise<T> {
    const s = this.open.get(d);
    if (s) throw s.err;
    try {
      const out = await fn(this.domains[d]!);
      this.reset(d);
      return out;
    } catch (err) {
      if (isTransient(err)) this.trip(d, err, err instanceof BlockFrameError && err.context.misbehaving === true ? 'list' : 'stat');
      throw err;
    }
  }

  private trip(d: number, cause: unknown, how: Open['how']): void {
    if (this.open.has(d) || this.closed) return;
    const b = this.domains[d]!;
    const err = storeError('BF_STORE_UNAVAILABLE', b, '', `store ${d + 1} (${b.label}) is not answering; skipped until it answers again`, cause);
    const s: Open = { err, how, timer: setInterval(() => this.probe(d, s), how === 'list' ? LIST_PROBE_MS : PROBE_MS) };
    // A process whose work is done does not stay alive for a probe.
    s.timer.unref();
    this.open.set(d, s);
  }

  /** One background probe of store `d`, unless one is still in flight: any answer closes its breaker. */
  private probe(d: number, s: Open): void {
    if (s.probe) return;
    const ctl = (s.probe = new AbortController());
    const b = this.domains[d]!;
    const call = s.how === 'stat' ? b.stat(PROBE_KEY, ctl.signal) : (async () => {
      for await (const _ of b.list('', { delimiter: '/', signal: ctl.signal }));
    })();
    call.then(
      () => {
        if (this.open.get(d) === s) this.reset(d);
      },
      (err: unknown) => {
        if (s.probe === ctl) s.probe = undefined;
        if (!isTransient(err) && this.open.get(d) === s) this.reset(d);
      },
    );
  }

  private reset(d: number): void {
    const s = this.open.get(d);
    if (!s) return;
    clearInterval(s.timer);
    s.probe?.abort();
    this.open.delete(d);
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

  /**
   * The first store, in order, that answers; missing everywhere is BF_STORE_KEY_MISSING, else the first error. A
   * store known to be absent (not mounted, or another set's disk) is a state, not an answer: when every store that is
   * there says missing, the key is missing (mirrored writes reach every store, so none is only on the absent one).
   */
  private async first<T>(key: string, fn: (b: Backend) => Promise<T>): Promise<T> {
    let firstErr: unknown;
    let absentErr: unknown;
    let missing = false;
    for (let d = 0; d < this.domains.length; d++) {
      try {
        return await this.on(d, fn);
      } catch (err) {
        if (err instanceof BlockFrameError && err.code === 'BF_ABORTED') throw err;
        if (err instanceof BlockFrameError && err.code === 'BF_STORE_KEY_MISSING') missing = true;
        else if (err instanceof BlockFrameError && (err.code === 'BF_STORE_NOT_MOUNTED' || err.code === 'BF_STORE_FOREIGN')) absentErr ??= err;
        else firstErr ??= err;
      }
    }
    throw firstErr ?? (missing ? undefined : absentErr) ?? storeError('BF_STORE_KEY_MISSING', this, key, 'no such key in any store');
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
  list(prefix: string, opts?: ListOptions): AsyncIterable<ObjectInfo> {
    return this.listEach(prefix, opts);
  }

  /**
   * list(), and `onError(d, err)` for each store whose listing failed (it is left out of the union), so a command
   * can say which store it could not list and why. Each store's listing is held in memory before any of it is
   * yielded, so a listing that fails part-way adds nothing: its size is bounded by the stores' TimeoutBackend.
   */
  async *listEach(prefix: string, opts?: ListOptions, onError?: (d: number, err: unknown) => void): AsyncIterable<ObjectInfo> {
    const seen = new Set<string>();
    let answered = 0;
    let firstErr: unknown;
    for (let d = 0; d < this.domains.length; d++) {
      let got: ObjectInfo[] = [];
      try {
        await this.on(d, async (b) => {
          for await (const o of b.list(prefix, opts)) got.push(o);
        });
        answered++;
      } catch (err) {
        if (opts?.signal?.aborted || (err instanceof BlockFrameError && err.code === 'BF_ABORTED')) throw err;
        got = [];
        firstErr ??= err;
        onError?.(d, err);
        continue;
      }
      // One store lists each key once: the set of keys seen is only kept when another store's listing follows.
      const more = d < this.domains.length - 1;
      for (const o of got) {
        throwIfAborted(this, prefix, opts?.signal);
        if (seen.has(o.key)) continue;
        if (more) seen.add(o.key);
        yield o;
      }
    }
    if (answered === 0 && firstErr) throw firstErr;
  }

  /** Stop this set's probes without closing its stores (another set took them over). */
  release(): void {
    this.closed = true;
    for (const d of [...this.open.keys()]) this.reset(d);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const d of [...this.open.keys()]) this.reset(d);
    await Promise.all(this.domains.map((b) => b.close().catch(() => undefined)));
  }
}
