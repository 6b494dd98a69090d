// Verified read windows for the server: shared-memory buffers that the reads and the chunk hashing fill in place
// and that go to the socket as they are (no copy), and one server-wide byte budget that every window a response
// holds counts against (the one being written, the one being read, and read-ahead), so memory stays bounded
// however many clients read and however slowly.
import type { ArchiveReader } from '../engine/reader.js';
import { READ_WINDOW } from '../engine/reader.js';
import { windowJobs, type WindowJob } from '../engine/windows.js';

/** The alignment of every window edge (a multiple of any chunk size, at most 256 KiB), and of buffer sizes. */
const SMALL = 256 * 1024;
/** The first window of a long stream; it doubles up to READ_WINDOW while the client keeps reading. */
const FIRST = 1024 * 1024;
/** A response's one window outside the budget when the budget is exhausted (a paused client holds this much). */
const TINY = 64 * 1024;
/** The arena's unit of allocation. */
const UNIT = 64 * 1024;
/** Windows outside the budget kept ready (one per streaming response, up to the server's stream limit). */
const TINY_KEPT = 512;

function jobs(reader: ArchiveReader, offset: number, length: number): Generator<WindowJob> {
  return windowJobs(reader.geometry, offset, length);
}

/**
 * The budget, as memory: one SharedArrayBuffer carved into windows (first fit over 64 KiB units, neighbours merged
 * on free). tryAlloc() succeeds only when a run of free units is there now; it never waits. Windows are views of
 * this one buffer because they go to the compute workers: every SharedArrayBuffer a worker has seen lives until
 * that worker's own garbage collection, so fresh ones per window would pile up (hundreds of MiB under load).
 */
class Arena {
  private readonly mem: Uint8Array;
  /** Free runs [unit, units), sorted by unit. */
  private readonly runs: [number, number][];
  private freeUnits: number;
  constructor(bytes: number) {
    const units = Math.ceil(bytes / UNIT);
    this.mem = new Uint8Array(new SharedArrayBuffer(units * UNIT));
    this.runs = [[0, units]];
    this.freeUnits = units;
  }
  get total(): number {
    return this.mem.length;
  }
  get available(): number {
    return this.freeUnits * UNIT;
  }
  /** A view of at least `bytes` (whole units), or null when no run is free that long. */
  tryAlloc(bytes: number): Uint8Array | null {
    const need = Math.max(1, Math.ceil(bytes / UNIT));
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
      return this.mem.subarray(at * UNIT, (at + need) * UNIT);
    }
    return null;
  }
  /** Give back a view that tryAlloc() returned. */
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
  }
}

/** Buffers of TINY bytes for windows outside the budget: a fixed set carved from one buffer, more made only past it. */
class TinyPool {
  private readonly free: Uint8Array[] = [];
  constructor(count: number) {
    const mem = new Uint8Array(new SharedArrayBuffer(count * TINY));
    for (let i = count - 1; i >= 0; i--) this.free.push(mem.subarray(i * TINY, (i + 1) * TINY));
  }
  take(): Uint8Array {
    // Past the set (more streams than MAX_STREAMS each holding one): a fresh buffer, rare and small.
    return this.free.pop() ?? new Uint8Array(new SharedArrayBuffer(TINY));
  }
  give(b: Uint8Array): void {
    this.free.push(b);
  }
}

/** A window handed to a response: its bytes, and release() once the socket has taken them (the buffer is reused). */
export interface Window {
  buf: Buffer;
  release(): void;
}

export class WindowReader {
  private readonly arena: Arena;
  private readonly tiny = new TinyPool(TINY_KEPT);
  constructor(
    /** Bytes of windows all responses may hold at once (in hand, being read, read ahead). */
    budgetBytes = 64 * 1024 * 1024,
  ) {
    this.arena = new Arena(Math.max(budgetBytes, READ_WINDOW + 2 * SMALL));
  }

  /** Bytes of the budget not held by any response (for tests and metrics). */
  get budgetFree(): number {
    return this.arena.available;
  }

  /** Bytes of the whole budget. */
  get budgetTotal(): number {
    return this.arena.total;
  }

  /**
   * One window, read and verified in place in `mem`: its chunk-aligned span through readSpan (an arena window,
   * whose view then goes to the socket as it is), or a TINY window through the reader's scratch memory.
   */
  private async readOne(reader: ArchiveReader, j: WindowJob, mem: Uint8Array, tiny: boolean): Promise<Uint8Array> {
    if (!tiny) return reader.readSpan(j.seg, j.from, j.to, mem);
    const view = mem.subarray(0, j.to - j.from);
    await reader.readInto(j.seg, j.from, j.to, view);
    return view;
  }

  /**
   * Verified bytes of [offset, offset + length) in order. A range of at most READ_WINDOW comes in one window (two
   * when it crosses a READ_WINDOW edge); a longer one in windows that start at 1 MiB and double up to READ_WINDOW
   * as the client keeps reading. Every window takes its memory from the server-wide arena (the budget), except a
   * response's one window in hand when the budget is exhausted: that one is 64 KiB, so a paused client holds
   * little and never makes another response wait. Read-ahead (up to `ahead` windows) happens only within the
   * budget. Leaving the loop early (a client gone) waits for the reads in flight, returns their memory and starts
   * no more.
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
    interface Pending {
      p: Promise<Uint8Array>;
      mem: Uint8Array;
      tiny: boolean;
    }
    const queue: Pending[] = [];
    const giveBack = (w: Pending) => (w.tiny ? this.tiny.give(w.mem) : this.arena.free(w.mem));
    let size = length <= READ_WINDOW ? READ_WINDOW : FIRST;
    /**
     * Start reading `w` into arena memory if there is room now (or into a TINY buffer when `tiny`). Read-ahead
     * (`readAhead`) leaves the last quarter of the arena alone, for the first windows of other responses.
     */
    const start = (w: WindowJob, tiny: boolean, readAhead = false): boolean => {
      let mem: Uint8Array | null;
      if (tiny) mem = this.tiny.take();
      else {
        const { start: a, end: b } = reader.spanBounds(w.seg, w.from, w.to);
        if (readAhead && this.arena.available - (b - a) < this.arena.total / 4) return false;
        mem = this.arena.tryAlloc(b - a);
        if (!mem) return false;
      }
      const p = this.readOne(reader, w, mem, tiny);
      p.catch(() => undefined);
      queue.push({ p, mem, tiny });
      job = w.to >= job!.to ? nextJob() : { ...job!, from: w.to };
      return true;
    };
    try {
      for (;;) {
        if (queue.length === 0) {
          if (!job) break;
          if (!start(peek(size), false)) start(peek(TINY), true);
        }
        // Read-ahead while the budget has room right now.
        while (job && queue.length < ahead && start(peek(size), false, true));
        const w = queue.shift()!;
        const view = await w.p.catch((err) => {
          giveBack(w);
          throw err;
        });
        // The window's memory comes back when the consumer releases it (its socket has taken the bytes).
        let released = false;
        yield {
          buf: Buffer.from(view.buffer, view.byteOffset, view.length),
          release: () => {
            if (released) return;
            released = true;
            giveBack(w);
          },
        };
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
}
