// A store slot whose store is not there (not mounted, or holding another set's marker): every call fails, nothing is written.
import { BlockFrameError } from '../errors.js';
import type { Backend, BackendCaps, ListOptions, ObjectInfo, PutSource } from './backend.js';

/**
 * Stands in for store `inner` after the identity check found it absent: every call fails with `err`
 * (BF_STORE_NOT_MOUNTED or BF_STORE_FOREIGN) without touching `inner`, so no directory is created and no byte is
 * written where the store should be. Only close() reaches `inner`. Readers treat the slot like a store that does not
 * answer (they rebuild from the others); writers fail with the error, which names the store and what to do.
 */
export class AbsentBackend implements Backend {
  readonly caps: BackendCaps;
  readonly label: string;

  constructor(
    readonly inner: Backend,
    /** The error every call fails with (its message names the store and what to do). */
    readonly err: BlockFrameError,
  ) {
    this.caps = inner.caps;
    this.label = inner.label;
  }

  private fail(key: string): Promise<never> {
    return Promise.reject(new BlockFrameError(this.err.code, this.err.message, { ...this.err.context, key }));
  }

  get(key: string, _into: Uint8Array, _offset: number): Promise<number> {
    return this.fail(key);
  }
  stat(key: string): Promise<ObjectInfo | null> {
    return this.fail(key);
  }
  put(key: string, _source: PutSource): Promise<void> {
    return this.fail(key);
  }
  delete(key: string): Promise<void> {
    return this.fail(key);
  }
  async *list(prefix: string, _opts?: ListOptions): AsyncIterable<ObjectInfo> {
    await this.fail(prefix);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
