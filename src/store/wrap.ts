// Backend wrappers, not built-ins: retry with backoff, a concurrency limit, per-call timeouts, and fault injection.
import { setTimeout as sleep } from 'node:timers/promises';
import { BlockFrameError, type ErrorCode } from '../errors.js';
import { Slots } from '../slots.js';
import { isTransient, storeError, type Backend, type ListOptions, type ObjectInfo, type PutSource } from './backend.js';

/** Forward everything to `inner`; subclasses override what they change. */
export abstract class WrappedBackend implements Backend {
  constructor(readonly inner: Backend) {}
  get label(): string {
    return this.inner.label;
  }
  get caps() {
    return this.inner.caps;
  }
  get(key: string, into: Uint8Array, offset: number, signal?: AbortSignal): Promise<number> {
    return this.inner.get(key, into, offset, signal);
  }
  dropHeld(prefix: string): void {
    this.inner.dropHeld?.(prefix);
  }
  /** A plain get() through this wrapper (so its retries, limits and faults apply) unless a subclass passes it on. */
  getHeld(key: string, into: Uint8Array, offset: number, signal?: AbortSignal): Promise<number> {
    return this.get(key, into, offset, signal);
  }
  put(key: string, source: PutSource, signal?: AbortSignal): Promise<void> {
    return this.inner.put(key, source, signal);
  }
  stat(key: string, signal?: AbortSignal): Promise<ObjectInfo | null> {
    return this.inner.stat(key, signal);
  }
  list(prefix: string, opts?: ListOptions): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix, opts);
  }
  delete(key: string, signal?: AbortSignal): Promise<void> {
    return this.inner.delete(key, signal);
  }
  get stagingDir(): (() => Promise<string>) | undefined {
    const inner = this.inner;
    return inner.stagingDir ? () => inner.stagingDir!() : undefined;
  }
  get adopt(): ((localDir: string, prefix: string) => Promise<'published' | 'exists'>) | undefined {
    const inner = this.inner;
    return inner.adopt ? (localDir, prefix) => inner.adopt!(localDir, prefix) : undefined;
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

export interface RetryPolicy {
  /** Tries in all, the first included. */
  attempts: number;
  /** First backoff; doubles each time, with full jitter, up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 100, maxDelayMs: 2000 };

/**
 * Was `err` a call this process cut off (no answer in time, a listing that would not end)? Such a failure is not
 * retried: the store is silent or misbehaving, and the store set's breaker takes it out (see StoreSet).
 */
export function isCutOff(err: unknown): boolean {
  return err instanceof BlockFrameError && err.context.cutOff === true;
}

/**
 * Retries transient failures (BF_STORE_UNAVAILABLE: refused, reset, 5xx, throttled) with exponential backoff and
 * full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter"). A cut-off call (isCutOff) is never
 * retried, nor is anything once the caller's signal has fired: put a TimeoutBackend outside this one, and all tries
 * of a call share its one deadline.
 */
export class RetryBackend extends WrappedBackend {
  constructor(
    inner: Backend,
    readonly policy: RetryPolicy = DEFAULT_RETRY,
  ) {
    super(inner);
  }
  private async retry<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (!isTransient(err) || isCutOff(err) || attempt >= this.policy.attempts || signal?.aborted) throw err;
        const cap = Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** (attempt - 1));
        await sleep(Math.random() * cap, undefined, { signal }).catch(() => undefined);
      }
    }
  }
  override get(key: string, into: Uint8Array, offset: number, signal?: AbortSignal): Promise<number> {
    return this.retry(() => this.inner.get(key, into, offset, signal), signal);
  }
  override put(key: string, source: PutSource, signal?: AbortSignal): Promise<void> {
    return this.retry(() => this.inner.put(key, source, signal), signal);
  }
  override stat(key: string, signal?: AbortSignal): Promise<ObjectInfo | null> {
    return this.retry(() => this.inner.stat(key, signal), signal);
  }
  override delete(key: string, signal?: AbortSignal): Promise<void> {
    return this.retry(() => this.inner.delete(key, signal), signal);
  }
  override async *list(prefix: string, opts?: ListOptions): AsyncIterable<ObjectInfo> {
    // A listing is retried from the start only while it has yielded nothing.
    for (let attempt = 1; ; attempt++) {
      let yielded = false;
      try {
        for await (const o of this.inner.list(prefix, opts)) {
          yielded = true;
          yield o;
        }
        return;
      } catch (err) {
        if (yielded || !isTransient(err) || isCutOff(err) || attempt >= this.policy.attempts || opts?.signal?.aborted) throw err;
        await sleep(Math.random() * Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** (attempt - 1)), undefined, { signal: opts?.signal }).catch(() => undefined);
      }
    }
  }
}

/** At most `max` calls in flight (a listing counts while it runs); the rest wait in order. */
export class LimitBackend extends WrappedBackend {
  private readonly slots: Slots;
  constructor(
    inner: Backend,
    readonly max: number,
  ) {
    super(inner);
    this.slots = new Slots(max);
  }
  private slot<T>(fn: () => Promise<T>): Promise<T> {
    return this.slots.run(fn);
  }
  override get(key: string, into: Uint8Array, offset: number, signal?: AbortSignal): Promise<number> {
    return this.slot(() => this.inner.get(key, into, offset, signal));
  }
  override put(key: string, source: PutSource, signal?: AbortSignal): Promise<void> {
    return this.slot(() => this.inner.put(key, source, signal));
  }
  override stat(key: string, signal?: AbortSignal): Promise<ObjectInfo | null> {
    return this.slot(() => this.inner.stat(key, signal));
  }
  override delete(key: string, signal?: AbortSignal): Promise<void> {
    return this.slot(() => this.inner.delete(key, signal));
  }
}

/** Bounds on one whole listing (TimeoutBackend): a store whose listing never ends is cut off, not followed. */
export interface ListBounds {
  /** Entries one listing may yield (bounds the memory of callers that collect it). */
  maxEntries: number;
  /** Milliseconds one listing may take from its first request to its end. */
  maxMs: number;
}

/** A million entries (about 200 MB held by a caller that collects them), and 6 call timeouts for the whole listing. */
export const LIST_MAX_ENTRIES = 1_000_000;
export const LIST_TIMEOUTS = 6;

/**
 * Every get, stat and delete must settle within `ms`, and a put within `ms` plus its size at 256 KiB/s, or it
 * fails as BF_STORE_UNAVAILABLE with context.cutOff (the call is abandoned, and aborted where the backend honours
 * signals). A listing must yield each entry within `ms`, and end within `list.maxMs` and `list.maxEntries`, or it
 * is cut off the same way: a store whose listing never ends (an endless chain of continuation tokens) is
 * misbehaving, and treated like one that does not answer. A hung disk or endpoint then costs a call `ms`, not forever.
 */
export class TimeoutBackend extends WrappedBackend {
  readonly listBounds: ListBounds;
  constructor(
    inner: Backend,
    readonly ms: number,
    list: Partial<ListBounds> = {},
  ) {
    super(inner);
    this.listBounds = { maxEntries: list.maxEntries ?? LIST_MAX_ENTRIES, maxMs: list.maxMs ?? LIST_TIMEOUTS * ms };
  }
  /** A call cut off here; `misbehaving` when the store answered, but not as a store should (a listing without end). */
  private cutOff(key: string, message: string, misbehaving = false): BlockFrameError {
    const e = storeError('BF_STORE_UNAVAILABLE', this, key, message);
    e.context.cutOff = true;
    if (misbehaving) e.context.misbehaving = true;
    return e;
  }
  private bounded<T>(key: string, fn: (signal: AbortSignal) => Promise<T>, outer?: AbortSignal, ms = this.ms): Promise<T> {
    const ctl = new AbortController();
    const signal = outer ? AbortSignal.any([outer, ctl.signal]) : ctl.signal;
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => {
        ctl.abort();
        reject(this.cutOff(key, `no answer within ${ms} ms`));
      }, ms);
      fn(signal).then(
        (v) => (clearTimeout(t), resolve(v)),
        (e) => (clearTimeout(t), reject(e)),
      );
    });
  }
  override get(key: string, into: Uint8Array, offset: number, signal?: AbortSignal): Promise<number> {
    return this.bounded(key, (s) => this.inner.get(key, into, offset, s), signal);
  }
  override getHeld(key: string, into: Uint8Array, offset: number, signal?: AbortSignal): Promise<number> {
    const inner = this.inner;
    return this.bounded(key, (s) => (inner.getHeld ? inner.getHeld(key, into, offset, s) : inner.get(key, into, offset, s)), signal);
  }
  override stat(key: string, signal?: AbortSignal): Promise<ObjectInfo | null> {
    return this.bounded(key, (s) => this.inner.stat(key, s), signal);
  }
  override delete(key: string, signal?: AbortSignal): Promise<void> {
    return this.bounded(key, (s) => this.inner.delete(key, s), signal);
  }
  override put(key: string, source: PutSource, signal?: AbortSignal): Promise<void> {
    return this.bounded(key, (s) => this.inner.put(key, source, s), signal, this.ms + Math.ceil(source.size / 262.144));
  }
  override async *list(prefix: string, opts: ListOptions = {}): AsyncIterable<ObjectInfo> {
    const ctl = new AbortController();
    const signal = opts.signal ? AbortSignal.any([opts.signal, ctl.signal]) : ctl.signal;
    const { maxEntries, maxMs } = this.listBounds;
    const end = Date.now() + maxMs;
    const it = this.inner.list(prefix, { ...opts, signal })[Symbol.asyncIterator]();
    const whole = () => this.cutOff(prefix, `the listing did not end within ${maxMs} ms (the store misbehaves)`, true);
    // One watchdog for the whole listing, re-armed per step (a timer and an AbortController per entry cost about
    // 1 KiB each of garbage: 100 MiB for a root of 100,000 archives). It fires when one step takes the per-call
    // limit (or, near the end, the rest of the listing's time: a step may overrun maxMs by at most one call limit).
    // Not unref'd: while a step waits on a store that never answers, this timer is what keeps the process alive
    // to cut it off (an unref'd one let the event loop end with the read pending).
    let fail: ((e: unknown) => void) | undefined;
    const watchdog = setTimeout(() => {
      // Only a step under way is cut off: the caller may take its time between entries.
      if (!fail) return;
      ctl.abort();
      fail?.(Date.now() >= end ? whole() : this.cutOff(prefix, `no answer within ${this.ms} ms`));
    }, this.ms);
    let n = 0;
    try {
      for (;;) {
        if (end - Date.now() <= 0) {
          ctl.abort();
          throw whole();
        }
        watchdog.refresh();
        const step = await new Promise<IteratorResult<ObjectInfo>>((resolve, reject) => {
          fail = reject;
          it.next().then(resolve, reject);
        });
        fail = undefined;
        if (step.done) return;
        if (++n > maxEntries) {
          ctl.abort();
          throw this.cutOff(prefix, `the listing did not end within ${maxEntries} entries (the store misbehaves)`, true);
        }
        yield step.value;
      }
    } finally {
      clearTimeout(watchdog);
      void it.return?.();
    }
  }
}

/** What a MeteredBackend reports of each call (store numbers are 0-based; bytes: read by get, written by put). */
export interface StoreCallObserver {
  call(store: number, op: FaultOp, seconds: number, ok: boolean, bytes: number): void;
}

/**
 * Reports every call's duration, outcome and bytes to an observer (the server's metrics). Put outermost, so a
 * call's time includes its retries and its wait for a slot; a listing is one call from its start to its end.
 */
export class MeteredBackend extends WrappedBackend {
  constructor(
    inner: Backend,
    readonly store: number,
    readonly observer: StoreCallObserver,
  ) {
    super(inner);
  }
  private async timed<T>(op: FaultOp, fn: () => Promise<T>, bytes: (v: T) => number): Promise<T> {
    const t0 = performance.now();
    try {
      const v = await fn();
      this.observer.call(this.store, op, (performance.now() - t0) / 1000, true, bytes(v));
      return v;
    } catch (err) {
      this.observer.call(this.store, op, (performance.now() - t0) / 1000, false, 0);
      throw err;
    }
  }
  override get(key: string, into: Uint8Array, offset: number, signal?: AbortSignal): Promise<number> {
    return this.timed('get', () => this.inner.get(key, into, offset, signal), (n) => n);
  }
  override getHeld(key: string, into: Uint8Array, offset: number, signal?: AbortSignal): Promise<number> {
    const inner = this.inner;
    return this.timed('get', () => (inner.getHeld ? inner.getHeld(key, into, offset, signal) : inner.get(key, into, offset, signal)), (n) => n);
  }
  override put(key: string, source: PutSource, signal?: AbortSignal): Promise<void> {
    return this.timed('put', () => this.inner.put(key, source, signal), () => source.size);
  }
  override stat(key: string, signal?: AbortSignal): Promise<ObjectInfo | null> {
    return this.timed('stat', () => this.inner.stat(key, signal), () => 0);
  }
  override delete(key: string, signal?: AbortSignal): Promise<void> {
    return this.timed('delete', () => this.inner.delete(key, signal), () => 0);
  }
  override async *list(prefix: string, opts?: ListOptions): AsyncIterable<ObjectInfo> {
    const t0 = performance.now();
    let ok = false;
    try {
      yield* this.inner.list(prefix, opts);
      ok = true;
    } finally {
      this.observer.call(this.store, 'list', (performance.now() - t0) / 1000, ok, 0);
    }
  }
}

export type FaultOp = 'get' | 'put' | 'stat' | 'list' | 'delete';

/** One injected fault: which calls it hits, and what happens to them. */
export interface FaultRule {
  ops?: FaultOp[];
  /** Keys it applies to (all when absent). */
  key?: RegExp;
  /** Fail with this code. */
  error?: ErrorCode;
  /** Never answer (until the caller's signal aborts). */
  hang?: boolean;
  /** Answer after this delay. */
  delayMs?: number;
  /** Flip one bit of what get() returns. */
  corrupt?: boolean;
  /** Apply to this many calls, then retire (default: every call). */
  times?: number;
}

/** Test-only: counts calls and bytes, and injects faults by rule. `down()` makes every call fail as a dead store. */
export class FaultBackend extends WrappedBackend {
  readonly rules: FaultRule[] = [];
  readonly calls: Record<FaultOp, number> = { get: 0, put: 0, stat: 0, list: 0, delete: 0 };
  bytesRead = 0;
  bytesWritten = 0;

  down(code: ErrorCode = 'BF_STORE_UNAVAILABLE'): void {
    this.rules.unshift({ error: code });
  }
  hang(): void {
    this.rules.unshift({ hang: true });
  }
  heal(): void {
    this.rules.length = 0;
  }

  private async apply(op: FaultOp, key: string, signal?: AbortSignal): Promise<FaultRule | undefined> {
    this.calls[op]++;
    const i = this.rules.findIndex((r) => (!r.ops || r.ops.includes(op)) && (!r.key || r.key.test(key)));
    if (i < 0) return undefined;
    const r = this.rules[i]!;
    if (r.times !== undefined && --r.times <= 0) this.rules.splice(i, 1);
    if (r.delayMs) await sleep(r.delayMs);
    if (r.hang) {
      await new Promise<void>((_, reject) => {
        if (signal?.aborted) reject(storeError('BF_ABORTED', this, key, 'cancelled'));
        signal?.addEventListener('abort', () => reject(storeError('BF_ABORTED', this, key, 'cancelled')), { once: true });
      });
    }
    if (r.error) throw new BlockFrameError(r.error, `injected ${r.error} on ${op} (store ${this.label}, key ${key})`, { store: this.label, key });
    return r;
  }

  override async get(key: string, into: Uint8Array, offset: number, signal?: AbortSignal): Promise<number> {
    const r = await this.apply('get', key, signal);
    const n = await this.inner.get(key, into, offset, signal);
    this.bytesRead += n;
    if (r?.corrupt && n > 0) into[0]! ^= 1;
    return n;
  }
  override async put(key: string, source: PutSource, signal?: AbortSignal): Promise<void> {
    await this.apply('put', key, signal);
    await this.inner.put(key, source, signal);
    this.bytesWritten += source.size;
  }
  override async stat(key: string, signal?: AbortSignal): Promise<ObjectInfo | null> {
    await this.apply('stat', key, signal);
    return this.inner.stat(key, signal);
  }
  override async delete(key: string, signal?: AbortSignal): Promise<void> {
    await this.apply('delete', key, signal);
    return this.inner.delete(key, signal);
  }
  override async *list(prefix: string, opts?: ListOptions): AsyncIterable<ObjectInfo> {
    await this.apply('list', prefix, opts?.signal);
    yield* this.inner.list(prefix, opts);
  }
}
