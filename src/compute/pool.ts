// The compute pool: worker threads that hash and erasure-code shared-memory buffers, so every core works.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { BlockFrameError, ERROR_CODES, type ErrorCode } from '../errors.js';
import type { ChunkCv, Envelope, Reply, Request, SharedView } from './protocol.js';
import type { FrameParams } from '../transform/frame-codec.js';
import { WASM } from '../wasm.js';

/** A BLAKE3 stream pinned to one worker, so its updates are applied in order. */
export interface HashHandle {
  readonly stream: number;
  readonly worker: number;
}

interface Pending {
  resolve: (v: string | undefined) => void;
  reject: (e: Error) => void;
  cost: number;
}

/** Work a request queues on its worker, in bytes it must process (a small constant for bookkeeping ops). */
function costOf(req: Request): number {
  switch (req.op) {
    case 'hashUpdate':
    case 'chunkHashes':
      return req.data.length;
    case 'encode':
      return req.data.reduce((n, d) => n + d.length, 0);
    case 'reconstruct':
      return req.out.reduce((n, d) => n + d.length, 0) * req.k;
    case 'xor':
      return req.into.reduce((n, d) => n + d.length, 0);
    case 'frameEncode':
      return req.plain.length * 2;
    case 'frameDecode':
      return req.out.length * 2;
    default:
      return 1;
  }
}

export class ComputePool {
  private readonly workers: Worker[];
  private readonly pending = new Map<number, Pending>();
  /** Bytes of queued work per worker: leastBusy() balances on this, not on message counts. */
  private readonly inflight: number[];
  private nextId = 1;
  private nextStream = 1;
  private closed = false;

  private constructor(size: number) {
    this.workers = [];
    this.inflight = new Array(size).fill(0);
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL('./worker.js', import.meta.url));
      w.on('message', (r: Reply) => this.settle(i, r));
      w.on('error', (err) => this.failAll(err));
      w.unref();
      this.workers.push(w);
    }
  }

  /** Start `size` workers (default: one per core). */
  static start(size = Math.max(1, availableParallelism())): ComputePool {
    return new ComputePool(size);
  }

  get size(): number {
    return this.workers.length;
  }

  private settle(worker: number, r: Reply): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    this.inflight[worker]! -= p.cost;
    if (this.pending.size === 0) for (const w of this.workers) w.unref();
    if (r.ok) p.resolve(r.value);
    // A coded error from a worker (BF_FRAME_INVALID, BF_RS_INVALID, …) is rethrown as the BlockFrameError it was.
    else if (r.code && r.code in ERROR_CODES) p.reject(new BlockFrameError(r.code as ErrorCode, r.message));
    else p.reject(Object.assign(new Error(r.message), r.code ? { code: r.code } : {}));
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.inflight.fill(0);
  }

  private send(worker: number, req: Request): Promise<string | undefined> {
    if (this.closed) return Promise.reject(new BlockFrameError('BF_INTERNAL', 'compute pool is closed'));
    const id = this.nextId++;
    const env: Envelope = { id, req };
    return new Promise((resolve, reject) => {
      // Idle workers are unref'd so an idle pool never holds the process open; busy ones keep it alive.
      if (this.pending.size === 0) for (const w of this.workers) w.ref();
      const cost = costOf(req);
      this.pending.set(id, { resolve, reject, cost });
      this.inflight[worker]! += cost;
      this.workers[worker]!.postMessage(env);
    });
  }

  /** The worker with the least queued work. */
  private leastBusy(): number {
    let best = 0;
    for (let i = 1; i < this.inflight.length; i++) if (this.inflight[i]! < this.inflight[best]!) best = i;
    return best;
  }

  /** Open a hash stream; `worker` pins it (taken modulo the pool size), otherwise the least busy worker. */
  openHash(worker?: number): HashHandle {
    const w = worker === undefined ? this.leastBusy() : worker % this.workers.length;
    const h = { stream: this.nextStream++, worker: w };
    void this.send(w, { op: 'hashOpen', stream: h.stream }).catch(() => undefined);
    return h;
  }

  update(h: HashHandle, data: SharedView): Promise<void> {
    return this.send(h.worker, { op: 'hashUpdate', stream: h.stream, data }).then(() => undefined);
  }

  async digest(h: HashHandle): Promise<string> {
    return (await this.send(h.worker, { op: 'hashDigest', stream: h.stream }))!;
  }

  /**
   * The chunk hash of each chunkSize piece of `data` (the last may be short), 32 bytes each into `out`: plain BLAKE3
   * (format v1), or with `cv` the chaining values of format v2 (docs/FORMAT.md §12.1).
   */
  chunkHashes(data: SharedView, chunkSize: number, out: SharedView, cv?: ChunkCv): Promise<void> {
    return this.send(this.leastBusy(), { op: 'chunkHashes', data, chunkSize, out, ...(cv && { cv }) }).then(() => undefined);
  }

  /** Reed-Solomon parity of k data views into m parity views (all shared memory, equal length). */
  encode(k: number, m: number, data: SharedView[], parity: SharedView[], worker?: number): Promise<void> {
    const w = worker === undefined ? this.leastBusy() : worker % this.workers.length;
    return this.send(w, { op: 'encode', k, m, data, parity }).then(() => undefined);
  }

  /** Rebuild the null entries of `shards` into `out` (one view per missing shard, in index order). */
  reconstruct(k: number, m: number, shards: (SharedView | null)[], out: SharedView[]): Promise<void> {
    return this.send(this.leastBusy(), { op: 'reconstruct', k, m, shards, out }).then(() => undefined);
  }

  /** The Reed-Solomon kernel worker `worker` encodes and reconstructs with ('native', 'simd' or 'portable'). */
  async codecKernel(worker = 0): Promise<string> {
    return (await this.send(worker % this.workers.length, { op: 'codecKernel' }))!;
  }

  /** into[i] ^= from[i] for each pair (shared memory, byte by byte over the shorter of the two). */
  xor(into: SharedView[], from: SharedView[]): Promise<void> {
    return this.send(this.leastBusy(), { op: 'xor', into, from }).then(() => undefined);
  }

  /**
   * Encode plaintext frames first, first+1, … (`plain` holds whole frames but the file's last) into `out`,
   * packed. Returns each frame's stored length and flag.
   */
  async encodeFrames(plain: SharedView, first: number, frameSize: number, params: FrameParams, out: SharedView): Promise<{ length: number; compressed: boolean }[]> {
    const r = (await this.send(this.leastBusy(), { op: 'frameEncode', plain, first, frameSize, params, out }))!;
    return r.split(',').map((x) => {
      const [len, flag] = x.split(':');
      return { length: Number(len), compressed: flag === '1' };
    });
  }

  /** Decode consecutive stored frames from `stored` into `out` (the plaintext, packed). Errors: BF_FRAME_INVALID. */
  async decodeFrames(stored: SharedView, first: number, frames: [number, number, boolean][], params: FrameParams, out: SharedView, what: string): Promise<void> {
    await this.send(this.leastBusy(), { op: 'frameDecode', stored, first, frames, params, out, what });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new BlockFrameError('BF_ABORTED', 'compute pool closed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/**
 * Slabs given back by disposed pools, by size, for later pools to reuse (at most SPARE_BYTES in all). Shared
 * memory is only freed when the garbage collector gets to it, which under a stream of commits in one process (a
 * server) lags far behind: without reuse, every commit's 30-40 MiB of slabs piled up until the next full GC.
 */
const spare = new Map<number, Uint8Array[]>();
const SPARE_BYTES = 64 * 1024 * 1024;
let spareBytes = 0;

/**
 * Shared memory whose first byte is page-aligned: V8 reserves a WebAssembly memory with the platform's page
 * allocator (mmap), while a SharedArrayBuffer comes from malloc (on glibc 16 bytes past a page boundary). Direct
 * writes (O_DIRECT, store/spool.ts) need aligned addresses; where they are not, the kernel refuses the write and it
 * goes through the page cache, so this alignment is an optimisation, never a requirement.
 */
export function alignedShared(size: number): Uint8Array {
  const pages = Math.max(1, Math.ceil(size / 65536));
  try {
    if (WASM) return new Uint8Array(new WASM.Memory({ initial: pages, maximum: pages, shared: true }).buffer, 0, size);
  } catch {
    // Out of address space for another reservation (V8 reserves guard regions around each memory): unaligned.
  }
  return new Uint8Array(new SharedArrayBuffer(size));
}

/** Spares are kept apart by size and by alignment (negative keys: page-aligned slabs). */
const spareKey = (size: number, aligned: boolean) => (aligned ? -size : size);
const isAligned = new WeakSet<Uint8Array>();

/** A zeroed slab of `size` bytes: a spare one when there is one (zeroed again, as a new one would be), else new. */
function takeSlab(size: number, aligned = false): Uint8Array {
  const s = spare.get(spareKey(size, aligned))?.pop();
  if (!s) {
    if (!aligned) return new Uint8Array(new SharedArrayBuffer(size));
    const a = alignedShared(size);
    isAligned.add(a);
    return a;
  }
  spareBytes -= size;
  return s.fill(0);
}

/** Bytes of slabs now kept for reuse (tests). */
export const spareSlabBytes = (): number => spareBytes;

/** A fixed set of equal-size shared-memory buffers; acquire() waits while all are in use (this bounds memory). */
export class SlabPool {
  private readonly free: Uint8Array[] = [];
  private readonly waiters: ((s: Uint8Array) => void)[] = [];
  private disposed = false;
  constructor(
    count: number,
    readonly slabSize: number,
    /** Page-aligned slabs, for buffers written with O_DIRECT (alignedShared). */
    readonly aligned = false,
  ) {
    for (let i = 0; i < count; i++) this.free.push(takeSlab(slabSize, aligned));
  }

  acquire(): Promise<Uint8Array> {
    const s = this.free.pop();
    if (s) return Promise.resolve(s);
    // A straggler after dispose() gets a slab of its own rather than waiting for ones that went to the spares.
    if (this.disposed) return Promise.resolve(takeSlab(this.slabSize, this.aligned));
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(s: Uint8Array): void {
    if (this.disposed) return keepSpare(s);
    const w = this.waiters.shift();
    if (w) w(s);
    else this.free.push(s);
  }

  /**
   * Done with this pool: its free slabs go to the spares for later pools, and so do slabs still out when they are
   * released (a server's response gives its last window back once the socket has taken it). Release a slab only
   * once nothing reads or writes it any more, as always.
   */
  dispose(): void {
    this.disposed = true;
    for (const s of this.free.splice(0)) keepSpare(s);
  }
}

function keepSpare(s: Uint8Array): void {
  if (spareBytes + s.byteLength > SPARE_BYTES) return;
  const key = spareKey(s.byteLength, isAligned.has(s));
  const list = spare.get(key) ?? [];
  list.push(s);
  spare.set(key, list);
  spareBytes += s.byteLength;
}
