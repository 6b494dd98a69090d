// The in-memory backend: a Map of keys to byte arrays, for tests and for trying the engine without a disk.
import { checkKey, storeError, throwIfAborted, type Backend, type BackendCaps, type ListOptions, type ObjectInfo, type PutSource } from './backend.js';

export class MemBackend implements Backend {
  readonly caps: BackendCaps = { atomicRename: false, randomWrite: false };
  private readonly objects = new Map<string, Uint8Array>();

  constructor(readonly label = 'mem:') {}

  async get(key: string, into: Uint8Array, offset: number, signal?: AbortSignal): Promise<number> {
    checkKey(this, key);
    throwIfAborted(this, key, signal);
    const obj = this.objects.get(key);
    if (!obj) throw storeError('BF_STORE_KEY_MISSING', this, key, 'no such key');
    const n = Math.max(0, Math.min(into.length, obj.length - offset));
    into.set(obj.subarray(offset, offset + n));
    return n;
  }

  async put(key: string, source: PutSource, signal?: AbortSignal): Promise<void> {
    checkKey(this, key);
    throwIfAborted(this, key, signal);
    // Assemble first, then swap in: readers never see part of an object.
    const out = new Uint8Array(source.size);
    let at = 0;
    for await (const chunk of source.open()) {
      if (signal?.aborted) throw storeError('BF_ABORTED', this, key, 'cancelled');
      const c = chunk as Uint8Array;
      if (at + c.length > out.length) throw storeError('BF_INTERNAL', this, key, `source gave more than ${source.size} bytes`);
      out.set(c, at);
      at += c.length;
    }
    if (at !== source.size) throw storeError('BF_INTERNAL', this, key, `source gave ${at} bytes, expected ${source.size}`);
    this.objects.set(key, out);
  }

  async stat(key: string, signal?: AbortSignal): Promise<ObjectInfo | null> {
    checkKey(this, key);
    throwIfAborted(this, key, signal);
    const obj = this.objects.get(key);
    return obj ? { key, size: obj.length } : null;
  }

  async *list(prefix: string, opts: ListOptions = {}): AsyncIterable<ObjectInfo> {
    checkKey(this, prefix, true);
    throwIfAborted(this, prefix, opts.signal);
    const seen = new Set<string>();
    for (const key of [...this.objects.keys()].sort()) {
      if (!key.startsWith(prefix)) continue;
      throwIfAborted(this, prefix, opts.signal);
      const slash = opts.delimiter ? key.indexOf('/', prefix.length) : -1;
      if (slash >= 0) {
        const p = key.slice(0, slash + 1);
        if (!seen.has(p)) yield { key: p, size: -1, prefix: true };
        seen.add(p);
      } else {
        yield { key, size: this.objects.get(key)!.length };
      }
    }
  }

  async delete(key: string, signal?: AbortSignal): Promise<void> {
    checkKey(this, key);
    throwIfAborted(this, key, signal);
    this.objects.delete(key);
  }

  async close(): Promise<void> {}
}
