// Verified read windows for the server: one server-wide pool of shared-memory slabs for the reads, and one
// server-wide byte budget that every window a response holds counts against (the one being written, the one being
// read, and read-ahead), so memory stays bounded however many clients read and however slowly.
import { SlabPool } from '../compute/pool.js';
import type { ArchiveReader } from '../engine/reader.js';
import { READ_WINDOW } from '../engine/reader.js';
import type { Geometry } from '../layout/geometry.js';
import { windowJobs, type WindowJob } from '../engine/read.js';
import { manifestGeometry } from '../layout/manifest.js';

const geometries = new WeakMap<ArchiveReader, Geometry>();
/** The smallest window, and the alignment of every window edge (a multiple of any chunk size, at most 256 KiB). */
const SMALL = 256 * 1024;
/** A response's one window outside the budget when the budget is exhausted (a paused client holds this much). */
const TINY = 64 * 1024;

function jobs(reader: ArchiveReader, offset: number, length: number): Generator<WindowJob> {
  let g = geometries.get(reader);
  if (!g) geometries.set(reader, (g = manifestGeometry(reader.manifest)));
  return windowJobs(g, offset, length);
}

/** A byte budget that never blocks: tryTake() succeeds only when the bytes are free; give() returns them. */
class Budget {
  private free: number;
  constructor(readonly total: number) {
    this.free = total;
  }
  get available(): number {
    return this.free;
  }
  /** Take `bytes` now if they are free; false otherwise. */
  tryTake(bytes: number): boolean {
    if (bytes > this.free) return false;
    this.free -= bytes;
    return true;
  }
  give(bytes: number): void {
    this.free += bytes;
  }
}

/** A window handed to a response: its bytes, and release() once the socket has taken them (the buffer is reused). */
export interface Window {
  buf: Buffer;
  release(): void;
}

export class WindowReader {
  private readonly slabs: SlabPool;
  private readonly budget: Budget;
  /** Released window buffers by size, reused so a busy server does not churn garbage; at most a quarter of the budget idle. */
  private readonly free = new Map<number, Buffer[]>();
  private freeBytes = 0;
  constructor(
    slabCount = 8,
    /** Bytes of windows all responses may hold at once (in hand, being read, read ahead). */
    budgetBytes = 64 * 1024 * 1024,
  ) {
    this.slabs = new SlabPool(slabCount, READ_WINDOW);
    this.budget = new Budget(Math.max(budgetBytes, READ_WINDOW));
  }

  /** Bytes of the budget not held by any response (for tests and metrics). */
  get budgetFree(): number {
    return this.budget.available;
  }

  /** One window: a shared slab for the verified read, then a private copy (the slab goes straight back). */
  private async readOne(reader: ArchiveReader, j: WindowJob): Promise<Buffer> {
    const slab = await this.slabs.acquire();
    try {
      const view = slab.subarray(0, j.to - j.from);
      await reader.readInto(j.seg, j.from, j.to, view);
      const copy = this.alloc(view.length);
      copy.set(view);
      return copy;
    } finally {
      this.slabs.release(slab);
    }
  }

  private alloc(n: number): Buffer {
    const list = this.free.get(n);
    const b = list?.pop();
    if (b) {
      this.freeBytes -= n;
      return b;
    }
    return Buffer.allocUnsafeSlow(n);
  }

  private recycle(b: Buffer): void {
    if (this.freeBytes + b.length > this.budget.total / 4) return;
    const list = this.free.get(b.length) ?? [];
    list.push(b);
    this.free.set(b.length, list);
    this.freeBytes += b.length;
  }

  /**
   * Verified bytes of [offset, offset + length) in order, in windows that start at 256 KiB and double up to
   * READ_WINDOW as the client keeps reading. Every window is charged to the server-wide budget, except a
   * response's one window in hand when the budget is exhausted: that one is 64 KiB, so a paused client holds
   * little and never makes another response wait. Read-ahead (up to `ahead` windows) happens only within
   * the budget. Leaving the loop early (a client gone) waits for the reads in flight, returns their budget and
   * starts no more.
   */
  async *windows(reader: ArchiveReader, offset: number, length: number, ahead: number): AsyncGenerator<Window> {
    const todo = jobs(reader, offset, length);
    const nextJob = (): WindowJob | undefined => {
      const n = todo.next();
      return n.done ? undefined : n.value;
    };
    let job = nextJob();
    /** The next piece of at most `max` bytes (ends aligned to SMALL within the segment, so chunk-aligned). */
    const peek = (max: number): WindowJob => {
      const j = job!;
      let end = Math.min(j.to, Math.floor((j.from + max) / SMALL) * SMALL);
      if (end <= j.from) end = Math.min(j.to, j.from + max);
      return { seg: j.seg, from: j.from, to: end };
    };
    const queue: { p: Promise<Buffer>; charged: number }[] = [];
    let size = SMALL;
    const start = (w: WindowJob, charged: number) => {
      const p = this.readOne(reader, w);
      p.catch(() => undefined);
      queue.push({ p, charged });
      job = w.to >= job!.to ? nextJob() : { ...job!, from: w.to };
    };
    /** Read-ahead while the budget has room right now. */
    const fill = () => {
      while (job && queue.length < ahead) {
        const w = peek(size);
        if (!this.budget.tryTake(w.to - w.from)) break;
        start(w, w.to - w.from);
      }
    };
    try {
      for (;;) {
        if (queue.length === 0) {
          if (!job) break;
          const w = peek(size);
          if (this.budget.tryTake(w.to - w.from)) start(w, w.to - w.from);
          else start(peek(TINY), 0);
        }
        fill();
        const w = queue.shift()!;
        const buf = await w.p.catch((err) => {
          this.budget.give(w.charged);
          throw err;
        });
        // The window's budget comes back when the consumer releases it (its socket has taken the bytes).
        let released = false;
        yield {
          buf,
          release: () => {
            if (released) return;
            released = true;
            this.budget.give(w.charged);
            this.recycle(buf);
          },
        };
        // A reader that keeps up earns bigger windows.
        size = Math.min(READ_WINDOW, size * 2);
      }
    } finally {
      for (const w of queue.splice(0)) {
        const b = await w.p.catch(() => undefined);
        this.budget.give(w.charged);
        if (b) this.recycle(b);
      }
    }
  }
}
