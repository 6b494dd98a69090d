// One open file of a mount: verified reads of byte ranges, with read-ahead for sequential readers, in bounded memory.

/** Where a mounted file's verified bytes come from: [start, end) (end ≤ the size), at most 64 MiB per call. */
export interface FileSource {
  read(start: number, end: number): Promise<Buffer>;
  close(): Promise<void>;
}

/**
 * Bytes the windows of all open files of one mount may hold (read ahead, widened, or kept for late readers); a
 * window of exactly what a reader asked for is always read, even with the budget spent.
 */
export class PrefetchBudget {
  constructor(public free = 64 * 1024 * 1024) {}
}

const DEFAULT_BUDGET = new PrefetchBudget();
/** First read-ahead window once a file is read sequentially, doubled on each sequential read up to MAX_WINDOW. */
const MIN_WINDOW = 256 * 1024;
const MAX_WINDOW = 8 * 1024 * 1024;
/**
 * How far from where the reading has got a read still counts as sequential. The kernel's read-ahead sends several
 * reads of one stream at once and FUSE answers them on several threads, so they arrive slightly out of order.
 */
const STREAM_SLACK = 4 * 1024 * 1024;
/** Windows one file keeps at most (those behind the reading are kept within STREAM_SLACK for late readers). */
const MAX_WINDOWS = 6;

interface Window {
  start: number;
  end: number;
  p: Promise<Buffer>;
  /** Bytes taken from the budget while the window is kept. */
  held: number;
}

/**
 * An open file of a mount (engine/mount-tree.ts). A read within STREAM_SLACK of where the reading has got is
 * sequential (a kernel's concurrent read-ahead arrives slightly out of order): it is served from a window of up to
 * MAX_WINDOW bytes, and the next window is read while the caller consumes this one (at most two windows ahead per
 * file, the ones ahead only while the shared PrefetchBudget has room; a few behind for late readers). Any other read
 * goes straight to the source for exactly its range, so a seek reads only the segments it needs. Reads may overlap
 * (a kernel issues several at once). Errors: the source's (BF_UNRECOVERABLE, BF_BLOB_MISSING…), never partial data.
 */
export class MountFile {
  private lastEnd = 0;
  private window = MIN_WINDOW;
  private windows: Window[] = [];
  private closed = false;

  constructor(
    private readonly src: FileSource,
    /** The file's size in bytes. */
    readonly size: number,
    private readonly budget: PrefetchBudget = DEFAULT_BUDGET,
  ) {}

  /** Verified bytes [offset, offset + length) clamped to the size (empty at or past the end). */
  async read(offset: number, length: number): Promise<Buffer> {
    const end = Math.min(offset + length, this.size);
    if (end <= offset) return Buffer.alloc(0);
    const sequential = offset > 0 && this.lastEnd > 0 && offset <= this.lastEnd + STREAM_SLACK && offset + STREAM_SLACK >= this.lastEnd;
    this.lastEnd = sequential ? Math.max(this.lastEnd, end) : end;
    if (!sequential && !this.covers(offset)) {
      this.drop(() => true);
      this.window = MIN_WINDOW;
      if (offset > 0) return this.src.read(offset, end);
    } else {
      this.window = Math.min(this.window * 2, MAX_WINDOW);
    }
    const parts: Buffer[] = [];
    let pos = offset;
    while (pos < end) {
      let w = this.windows.find((x) => x.start <= pos && pos < x.end);
      if (!w) {
        // Up to the next window already read (a late reader fills the gap), never short of what was asked; wider than
        // what was asked only while the shared budget has room for the whole window.
        const next = this.windows.find((x) => x.start > pos)?.start ?? Infinity;
        const wide = Math.min(this.size, Math.max(end, Math.min(pos + this.window, next)));
        w = this.fetch(pos, this.budget.free >= wide - pos ? wide : end);
      }
      const buf = await w.p;
      parts.push(buf.subarray(pos - w.start, Math.min(end, w.end) - w.start));
      pos = Math.min(end, w.end);
    }
    const head = this.lastEnd;
    this.drop((w) => w.end <= head - STREAM_SLACK);
    while (this.windows.length > MAX_WINDOWS) this.dropOne(this.windows[0]!);
    const top = this.windows.length ? this.windows[this.windows.length - 1]!.end : end;
    if (this.windows.filter((w) => w.end > head).length < 2 && top < this.size && !this.closed) {
      const to = Math.min(this.size, top + this.window);
      if (this.budget.free >= to - top) this.fetch(top, to);
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  /** Bytes of the windows this file keeps now (asked for, read ahead, or kept behind for late readers). */
  get keptBytes(): number {
    return this.windows.reduce((s, w) => s + (w.end - w.start), 0);
  }

  /** Drop the windows and release the source (reads in flight finish on their own). */
  async close(): Promise<void> {
    this.closed = true;
    this.drop(() => true);
    await this.src.close();
  }

  private covers(pos: number): boolean {
    return this.windows.some((w) => w.start <= pos && pos < w.end);
  }

  /** Every window counts against the shared budget while kept (one a reader asked for may take it below zero). */
  private fetch(start: number, end: number): Window {
    const held = end - start;
    this.budget.free -= held;
    const w: Window = { start, end, p: this.src.read(start, end), held };
    // A window read ahead and never asked for must not fail the process when its read fails.
    w.p.catch(() => {});
    this.windows.push(w);
    this.windows.sort((a, b) => a.start - b.start);
    return w;
  }

  private dropOne(w: Window): void {
    this.drop((x) => x === w);
  }

  private drop(which: (w: Window) => boolean): void {
    this.windows = this.windows.filter((w) => {
      if (!which(w)) return true;
      this.budget.free += w.held;
      w.held = 0;
      return false;
    });
  }
}
