// One open file of a mount: verified reads of byte ranges, with read-ahead for sequential readers, in bounded memory.

/** Where a mounted file's verified bytes come from: [start, end) (end ≤ the size), at most 64 MiB per call. */
export interface FileSource {
  read(start: number, end: number): Promise<Buffer>;
  close(): Promise<void>;
}

/** Bytes the read-ahead of all open files of one mount may hold beyond what readers asked for. */
export class PrefetchBudget {
  constructor(public free = 64 * 1024 * 1024) {}
}

const DEFAULT_BUDGET = new PrefetchBudget();
/** First read-ahead window once a file is read sequentially, doubled on each sequential read up to MAX_WINDOW. */
const MIN_WINDOW = 256 * 1024;
const MAX_WINDOW = 8 * 1024 * 1024;

interface Window {
  start: number;
  end: number;
  p: Promise<Buffer>;
  /** Bytes taken from the budget (0 for a window a reader asked for). */
  held: number;
}

/**
 * An open file of a mount (engine/mount-tree.ts). A read at the offset where the previous one ended is sequential:
 * it is served from a window of up to MAX_WINDOW bytes, and the next window is read while the caller consumes this
 * one (at most two windows per file; the one ahead only while the shared PrefetchBudget has room). Any other read
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
    const sequential = offset === this.lastEnd && offset > 0;
    this.lastEnd = end;
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
        this.drop(() => true);
        w = this.fetch(pos, Math.min(this.size, Math.max(end, pos + this.window)), false);
      }
      const buf = await w.p;
      parts.push(buf.subarray(pos - w.start, Math.min(end, w.end) - w.start));
      pos = Math.min(end, w.end);
    }
    this.drop((w) => w.end <= end);
    const top = this.windows.length ? this.windows[this.windows.length - 1]!.end : end;
    if (this.windows.length < 2 && top < this.size && !this.closed) {
      const to = Math.min(this.size, top + this.window);
      if (this.budget.free >= to - top) this.fetch(top, to, true);
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
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

  private fetch(start: number, end: number, ahead: boolean): Window {
    const held = ahead ? end - start : 0;
    this.budget.free -= held;
    const w: Window = { start, end, p: this.src.read(start, end), held };
    // A window read ahead and never asked for must not fail the process when its read fails.
    w.p.catch(() => {});
    this.windows.push(w);
    this.windows.sort((a, b) => a.start - b.start);
    return w;
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
