// The read budget: one SharedArrayBuffer carved into read windows, shared by every response of a server (file
// server and S3 API, plain and framed archives), so memory stays bounded however many clients read.
import { BlockFrameError } from '../../errors.js';
import { alignedShared } from '../../compute/pool.js';

/** The arena's unit of allocation: views start and end on it, and any unit-aligned part of a view can be freed on its own. */
export const BUDGET_UNIT = 64 * 1024;
const UNIT = BUDGET_UNIT;
/** A response's one window outside the budget when the budget is exhausted (a paused client holds this much). */
export const TINY = 64 * 1024;
/** Windows outside the budget kept ready (one per streaming response, up to a server's stream limit). */
const TINY_KEPT = 512;

interface Waiter {
  units: number;
  resolve: (view: Uint8Array) => void;
}

/**
 * First fit over 64 KiB units, neighbours merged on free. tryAlloc() never waits; alloc() waits in FIFO order for
 * room. Windows are views of this one buffer because they go to the compute workers: every SharedArrayBuffer a
 * worker has seen lives until that worker's own garbage collection, so fresh ones per window would pile up
 * (hundreds of MiB under load).
 */
export class ReadBudget {
  private readonly mem: Uint8Array;
  /** Free runs [unit, units), sorted by unit. */
  private readonly runs: [number, number][];
  private freeUnits: number;
  private readonly waiters: Waiter[] = [];
  private readonly tinyFree: Uint8Array[] = [];
  /** Most bytes held at once since start (for tests and metrics). */
  peakUsed = 0;

  constructor(bytes: number, tinyKept = TINY_KEPT) {
    const units = Math.ceil(bytes / UNIT);
    // Page-aligned, so whole windows can be written with O_DIRECT (a restore's output, io/direct-writes.ts).
    this.mem = alignedShared(units * UNIT);
    this.runs = [[0, units]];
    this.freeUnits = units;
    const tiny = new Uint8Array(new SharedArrayBuffer(tinyKept * TINY));
    for (let i = tinyKept - 1; i >= 0; i--) this.tinyFree.push(tiny.subarray(i * TINY, (i + 1) * TINY));
  }

  /** Bytes of the whole budget. */
  get total(): number {
    return this.mem.length;
  }

  /** Bytes not held now. */
  get available(): number {
    return this.freeUnits * UNIT;
  }

  /** A view of at least `bytes` (whole units), or null when no free run is that long now (or others wait). */
  tryAlloc(bytes: number): Uint8Array | null {
    if (this.waiters.length) return null;
    return this.take(Math.max(1, Math.ceil(bytes / UNIT)));
  }

  /**
   * A view of at least `bytes`, waiting in arrival order until one fits. More than the whole budget is BF_INTERNAL
   * (callers size windows below it); an aborted wait is BF_ABORTED.
   */
  async alloc(bytes: number, signal?: AbortSignal): Promise<Uint8Array> {
    const units = Math.max(1, Math.ceil(bytes / UNIT));
    if (units * UNIT > this.total) throw new BlockFrameError('BF_INTERNAL', `a read window of ${bytes} bytes is larger than the read budget (${this.total} bytes)`);
    if (signal?.aborted) throw new BlockFrameError('BF_ABORTED', 'operation cancelled');
    const now = this.waiters.length ? null : this.take(units);
    if (now) return now;
    return new Promise<Uint8Array>((resolve, reject) => {
      const w: Waiter = {
        units,
        resolve: (view) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(view);
        },
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new BlockFrameError('BF_ABORTED', 'operation cancelled'));
        this.wake();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(w);
    });
  }

  /** Give back a view that tryAlloc() or alloc() returned, or a part of one that starts and ends on unit edges. */
  free(view: Uint8Array): void {
    const at = view.byteOffset / UNIT;
    const n = view.length / UNIT;
    this.freeUnits += n;
    let i = 0;
    while (i < this.runs.length && this.runs[i]![0] < at) i++;
    this.runs.splice(i, 0, [at, n]);
    const next = this.runs[i + 1];
    if (next && at + n === next[0]) {
      this.runs[i]![1] += next[1];
      this.runs.splice(i + 1, 1);
    }
    const prev = this.runs[i - 1];
    if (prev && prev[0] + prev[1] === at) {
      prev[1] += this.runs[i]![1];
      this.runs.splice(i, 1);
    }
    this.wake();
  }

  /** A TINY buffer outside the budget (for a response that must make progress while the budget is exhausted). */
  takeTiny(): Uint8Array {
    // Past the kept set (more streams than that, each holding one): a fresh buffer, rare and small.
    return this.tinyFree.pop() ?? new Uint8Array(new SharedArrayBuffer(TINY));
  }

  giveTiny(b: Uint8Array): void {
    this.tinyFree.push(b);
  }

  /** Serve waiters in order while the first one fits. */
  private wake(): void {
    while (this.waiters.length) {
      const view = this.take(this.waiters[0]!.units);
      if (!view) return;
      this.waiters.shift()!.resolve(view);
    }
  }

  private take(need: number): Uint8Array | null {
    for (let i = 0; i < this.runs.length; i++) {
      const r = this.runs[i]!;
      if (r[1] < need) continue;
      const at = r[0];
      if (r[1] === need) this.runs.splice(i, 1);
      else {
        r[0] += need;
        r[1] -= need;
      }
      this.freeUnits -= need;
      this.peakUsed = Math.max(this.peakUsed, this.total - this.available);
      return this.mem.subarray(at * UNIT, (at + need) * UNIT);
    }
    return null;
  }
}
