// Small JSON records kept beside the archives on the store set (the S3 API's bucket table and key records): whole-
// object reads with a size cap, atomic puts to every store, listing by prefix. Keys come from layout/keys.ts.
import { getAll, textSource, type Backend } from '../store/backend.js';

/** Records on `store` (a StoreSet mirrors every put and delete to each of its stores). */
export class RecordStore {
  constructor(private readonly store: Backend) {}

  /** The record's bytes, or null when absent. @throws BF_IO (larger than `maxBytes`), store errors. */
  read(key: string, maxBytes: number, signal?: AbortSignal): Promise<Uint8Array | null> {
    return getAll(this.store, key, maxBytes, signal);
  }

  /** Is there a record `key`? */
  async has(key: string, signal?: AbortSignal): Promise<boolean> {
    return (await this.store.stat(key, signal)) !== null;
  }

  /** Write `text` as record `key`, atomically (readers see the old record or the new one). */
  write(key: string, text: string, signal?: AbortSignal): Promise<void> {
    return this.store.put(key, textSource(text), signal);
  }

  delete(key: string, signal?: AbortSignal): Promise<void> {
    return this.store.delete(key, signal);
  }

  /** The keys of the records under `prefix` (objects only, no common prefixes). */
  async *keys(prefix: string, signal?: AbortSignal): AsyncGenerator<string> {
    for await (const o of this.store.list(prefix, { signal })) if (!o.prefix) yield o.key;
  }
}
