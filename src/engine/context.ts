// Shared plumbing for operations: the store, the compute pool, cancellation and progress reporting.
import { ComputePool } from '../compute/pool.js';
import type { StoreOptions } from '../store/config.js';
import type { KeyInput } from '../archive/keyring.js';

export interface Progress {
  /** Bytes processed so far and the total expected. */
  (done: number, total: number): void;
}

/** Where the archives are (`archive`, `stores`, `config` or an open `storeSet`; see StoreOptions) and how to run. */
export interface OperationOptions extends StoreOptions {
  signal?: AbortSignal;
  onProgress?: Progress;
  /** Reuse a compute pool across operations; otherwise one is started and stopped per call. */
  pool?: ComputePool;
  /** Keys for encrypted archives (format v2): passphrases, key files or key bytes. verify and repair never need one. */
  keys?: KeyInput[];
}

/** Run `fn` with the caller's pool or a temporary one that is always closed afterwards. */
export async function withPool<T>(opts: OperationOptions, fn: (pool: ComputePool) => Promise<T>): Promise<T> {
  if (opts.pool) return fn(opts.pool);
  const pool = ComputePool.start();
  try {
    return await fn(pool);
  } finally {
    await pool.close();
  }
}

export { checkAborted, FirstError, settleAll } from '../flow.js';
