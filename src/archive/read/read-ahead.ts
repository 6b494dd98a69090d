// The one read-ahead: verified windows of a range in order, plain or framed archives alike, for every reader (the
// servers' responses, restore, cat, read, createReadStream), every byte held counted against one ReadBudget.
import { BlockFrameError } from '../../errors.js';
import { checkAborted } from '../../flow.js';
import { READ_WINDOW, type ArchiveReader } from './reader.js';
import { windowJobs, type WindowJob } from './windows.js';
import { decodeBatch, framePlan, type PlainSource } from './plain.js';
import { BUDGET_UNIT, ReadBudget, TINY } from './read-budget.js';

/** The alignment of every window edge (a multiple of any chunk size, at most 256 KiB), and of buffer sizes. */
const SMALL = 256 * 1024;
/** The first window of a long stream; it doubles up to READ_WINDOW while the client keeps reading. */
const FIRST = 1024 * 1024;
/** Windows read ahead per response: a few for short ranges, more for long streams. */
const AHEAD = 2;
const AHEAD_LONG = 6;

/** A window handed to a consumer: its bytes, and release() once they are written out (the memory is reused). */
export interface Window {
  buf: Buffer;
  release(): void;
}

/** How one reader walks its range (all optional; the defaults suit a server's response). */
export interface WindowOptions {
  /** Windows read ahead at most (default 2, or 6 for ranges over 16 MiB), while the budget has room (see windows()). */
  ahead?: number;
  /**
   * Windows the consumer may hold unreleased (say, while its writes are in flight) before the next one waits for a
   * release; read-ahead then keeps at most `ahead + hold` windows in all. Default unlimited (a server releases each
   * window as its socket takes it). A consumer with a finite `hold` must release windows without waiting for next().
   */
  hold?: number;
  /**
   * Framed archives: plaintext bytes decoded per window, whole frames, at least one (default one frame: a server's
   * first byte comes soon). A long sequential read (restore) takes 4 MiB: fewer, larger jobs for the compute pool.
   */
  batchBytes?: number;
  /** Stops the reading: waits end and the generator throws BF_ABORTED at its next window. */
  signal?: AbortSignal;
}

/** The plaintext bytes per decode batch of a long sequential read (restore): whole frames, at least one. */
export const LONG_BATCH = 4 * 1024 * 1024;

export class ReadAhead {
  readonly budget: ReadBudget;
  constructor(
    /** Bytes of windows all responses may hold at once (in hand, being read, read ahead). */
    budgetBytes = 64 * 1024 * 1024,
  ) {
    this.budget = new ReadBudget(Math.max(budgetBytes, READ_WINDOW + 2 * SMALL));
  }

  /** Bytes of the budget not held by any response (for tests and metrics). */
  get budgetFree(): number {
    return this.budget.available;
  }

  /** Bytes of the whole budget. */
  get budgetTotal(): number {
    return this.budget.total;
  }

  /**
   * Verified plaintext bytes of [offset, offset + length) of an open archive, in order, within the budget.
   * Read-ahead (`opts.ahead` windows) happens only while the budget has room beyond its last quarter, which is left
   * for the first windows of other readers. Leaving the loop early (a client gone) waits for the reads in flight,
   * returns their memory and starts no more. Errors: the reader's (BF_DATA_LOST and the like), BF_ABORTED.
   */
  windows(src: PlainSource, offset: number, length: number, opts: WindowOptions = {}): AsyncGenerator<Window> {
    const ahead = Math.max(1, opts.ahead ?? (length > 4 * READ_WINDOW ? AHEAD_LONG : AHEAD));
    const w: Walk = {
      ahead,
      held: new Held(ahead, opts.hold ?? Infinity, opts.signal),
      signal: opts.signal,
    };
    return src.content.table ? this.framed(src, offset, length, w, opts.batchBytes) : this.plain(src.reader, offset, length, w);
  }

  /** May read-ahead take `bytes` now? Only while the last quarter of the budget stays free for first windows. */
  private roomAhead(bytes: number): boolean {
    return this.budget.available - bytes >= this.budget.total / 4;
  }

  /**
   * Plain archives: a range of at most READ_WINDOW comes in one window (two across a READ_WINDOW edge); a longer one
   * in windows that start at 1 MiB and double up to READ_WINDOW as the client keeps reading. Each window is read
   * and verified in place in budget memory (its chunk-aligned span through readSpan), except a response's one
   * window in hand when the budget is exhausted: that one is 64 KiB outside it, so a paused client holds little and
   * never makes another response wait.
   */
  private async *plain(reader: ArchiveReader, offset: number, length: number, walk: Walk): AsyncGenerator<Window> {
    const { ahead, held, signal } = walk;
    const todo = windowJobs(reader.geometry, offset, length);
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
    interface Pending {
      p: Promise<Uint8Array>;
      mem: Uint8Array;
      tiny: boolean;
    }
    const queue: Pending[] = [];
    const giveBack = (w: Pending) => (w.tiny ? this.budget.giveTiny(w.mem) : this.budget.free(w.mem));
    let size = length <= READ_WINDOW ? READ_WINDOW : FIRST;
    const start = (w: WindowJob, tiny: boolean, readAhead = false): boolean => {
      let mem: Uint8Array | null;
      let p: Promise<Uint8Array>;
      if (tiny) {
        mem = this.budget.takeTiny();
        const view = mem.subarray(0, w.to - w.from);
        p = reader.readInto(w.seg, w.from, w.to, view).then(() => view);
      } else {
        const { start: a, end: b } = reader.spanBounds(w.seg, w.from, w.to);
        if (readAhead && !this.roomAhead(b - a)) return false;
        mem = this.budget.tryAlloc(b - a);
        if (!mem) return false;
        p = reader.readSpan(w.seg, w.from, w.to, mem);
      }
      p.catch(() => undefined);
      queue.push({ p, mem, tiny });
      job = w.to >= job!.to ? nextJob() : { ...job!, from: w.to };
      return true;
    };
    try {
      for (;;) {
        checkAborted(signal);
        if (queue.length === 0) {
          if (!job) break;
          await held.room();
          if (!start(peek(size), false)) start(peek(TINY), true);
        }
        while (job && queue.length < ahead && held.roomFor(queue.length) && start(peek(size), false, true));
        const w = queue.shift()!;
        const view = await w.p.catch((err) => {
          giveBack(w);
          throw err;
        });
        yield this.handOut(view, () => giveBack(w), held);
        // A reader that keeps up earns bigger windows.
        size = Math.min(READ_WINDOW, size * 2);
      }
    } finally {
      for (const w of queue.splice(0)) {
        await w.p.catch(() => undefined);
        giveBack(w);
      }
    }
  }

  /**
   * Framed archives (compressed or encrypted): one frame per window, its stored bytes read and verified into budget
   * memory, decoded on the compute pool into budget memory (the stored bytes go back at once). A frame can't be cut,
   * so when the budget is exhausted the response waits for room (in arrival order) instead of taking memory outside
   * it; responses release windows as their sockets take them, and a stalled client is cut off by the idle timeout.
   */
  private async *framed(src: PlainSource, offset: number, length: number, walk: Walk, batchBytes?: number): AsyncGenerator<Window> {
    const { ahead, held, signal } = walk;
    const plan = framePlan(src, offset, length, batchBytes ?? src.content.table!.frameSize);
    if (!plan) return;
    const batches = plan.batches();
    let next = batches.next();
    interface Pending {
      p: Promise<Uint8Array>;
      plain: Uint8Array;
      budgeted: boolean;
    }
    const giveBack = (w: Pending) => w.budgeted && this.budget.free(w.plain);
    const queue: Pending[] = [];
    const launch = (plain: Uint8Array, stored: Uint8Array, budgeted = true): void => {
      const b = next.value as Parameters<typeof decodeBatch>[1];
      next = batches.next();
      const p = decodeBatch(src, b, offset, length, plain, stored).finally(() => budgeted && this.budget.free(stored));
      p.catch(() => undefined);
      queue.push({ p, plain, budgeted });
    };
    // Plain and stored memory come in one allocation (split at a unit edge), so two responses can never each hold
    // half of what they need while waiting for the other half.
    const plainPart = Math.ceil(plan.plainMax / BUDGET_UNIT) * BUDGET_UNIT;
    const pairBytes = plainPart + plan.storedMax;
    const split = (mem: Uint8Array): void => launch(mem.subarray(0, plainPart), mem.subarray(plainPart));
    /** Start the next batch if the budget has room for it now (read-ahead); never waits. */
    const tryStart = (): boolean => {
      if (!this.roomAhead(pairBytes)) return false;
      const mem = this.budget.tryAlloc(pairBytes);
      if (!mem) return false;
      split(mem);
      return true;
    };
    try {
      while (!next.done || queue.length) {
        checkAborted(signal);
        if (queue.length === 0) {
          await held.room();
          // A frame larger than the whole budget (a tiny budget, huge frames): its own memory, outside the budget.
          if (pairBytes > this.budget.total) launch(new Uint8Array(new SharedArrayBuffer(plainPart)), new Uint8Array(new SharedArrayBuffer(plan.storedMax)), false);
          else split(await this.budget.alloc(pairBytes, signal));
        }
        while (!next.done && queue.length < ahead && held.roomFor(queue.length) && tryStart());
        const w = queue.shift()!;
        const view = await w.p.catch((err) => {
          giveBack(w);
          throw err;
        });
        yield this.handOut(view, () => giveBack(w), held);
      }
    } finally {
      for (const w of queue.splice(0)) {
        await w.p.catch(() => undefined);
        giveBack(w);
      }
    }
  }

  private handOut(view: Uint8Array, giveBack: () => void, held: Held): Window {
    let released = false;
    held.out++;
    return {
      buf: Buffer.from(view.buffer, view.byteOffset, view.length),
      release: () => {
        if (released) return;
        released = true;
        giveBack();
        held.released();
      },
    };
  }
}

/** One walk's settings. */
interface Walk {
  ahead: number;
  held: Held;
  signal?: AbortSignal;
}

/** The windows a consumer holds: at most `hold`, and read-ahead counts them against `ahead + hold`. */
class Held {
  out = 0;
  private wake: (() => void) | null = null;
  constructor(
    private readonly ahead: number,
    private readonly hold: number,
    private readonly signal?: AbortSignal,
  ) {}

  /** May one more window be read ahead, with `queued` already being read? */
  roomFor(queued: number): boolean {
    return queued + this.out < this.ahead + this.hold;
  }

  /** Resolves once the consumer holds fewer than `hold` windows (BF_ABORTED when the signal fires first). */
  async room(): Promise<void> {
    while (this.out >= this.hold) {
      checkAborted(this.signal);
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => reject(new BlockFrameError('BF_ABORTED', 'operation cancelled'));
        this.signal?.addEventListener('abort', onAbort, { once: true });
        this.wake = () => {
          this.signal?.removeEventListener('abort', onAbort);
          resolve();
        };
      });
    }
  }

  released(): void {
    this.out--;
    const w = this.wake;
    this.wake = null;
    w?.();
  }
}
