// Verified read windows for the server: one server-wide pool of shared-memory slabs, so memory stays bounded
// however many clients read at once, and a slow client holds only its own small queue of copied windows.
import { SlabPool } from '../compute/pool.js';
import type { ArchiveReader } from '../engine/reader.js';
import { READ_WINDOW } from '../engine/reader.js';
import type { Geometry } from '../layout/geometry.js';
import { windowJobs, type WindowJob } from '../engine/read.js';
import { manifestGeometry } from '../layout/manifest.js';

const geometries = new WeakMap<ArchiveReader, Geometry>();

function jobs(reader: ArchiveReader, offset: number, length: number): WindowJob[] {
  let g = geometries.get(reader);
  if (!g) geometries.set(reader, (g = manifestGeometry(reader.manifest)));
  return windowJobs(g, offset, length);
}

export class WindowReader {
  private readonly slabs: SlabPool;
  /** Bytes of read-ahead (windows beyond each response's current one) held across all responses. */
  private readAheadBytes = 0;
  constructor(
    slabCount = 8,
    private readonly readAheadBudget = 64 * 1024 * 1024,
  ) {
    this.slabs = new SlabPool(slabCount, READ_WINDOW);
  }

  /** One window: a shared slab for the verified read, then a private copy (the slab goes straight back). */
  private async readOne(reader: ArchiveReader, j: WindowJob): Promise<Buffer> {
    const slab = await this.slabs.acquire();
    try {
      const view = slab.subarray(0, j.to - j.from);
      await reader.readInto(j.seg, j.from, j.to, view);
      const copy = Buffer.allocUnsafe(view.length);
      copy.set(view);
      return copy;
    } finally {
      this.slabs.release(slab);
    }
  }

  /**
   * Verified bytes of [offset, offset + length) in order. Each response always has one window in hand; read-ahead
   * beyond that (up to `ahead` windows) only happens while the server-wide read-ahead budget has room, so memory
   * stays bounded however many clients read, and slow clients cannot starve the others (they only hold their own
   * window plus whatever read-ahead they already had). Leaving the loop early (a client gone) waits for the reads
   * in flight and starts no more.
   */
  async *windows(reader: ArchiveReader, offset: number, length: number, ahead: number): AsyncGenerator<Buffer> {
    const todo = jobs(reader, offset, length);
    const queue: { p: Promise<Buffer>; budget: number }[] = [];
    let next = 0;
    const start = (budget: number) => {
      const p = this.readOne(reader, todo[next++]!);
      p.catch(() => undefined);
      queue.push({ p, budget });
    };
    /** Start the next window if this response has none queued, or if the shared budget allows read-ahead. */
    const fill = () => {
      while (next < todo.length && queue.length < ahead) {
        const j = todo[next]!;
        const bytes = j.to - j.from;
        if (queue.length === 0) start(0);
        else if (this.readAheadBytes + bytes <= this.readAheadBudget) {
          this.readAheadBytes += bytes;
          start(bytes);
        } else break;
      }
    };
    try {
      fill();
      while (queue.length) {
        const w = queue.shift()!;
        let buf: Buffer;
        try {
          buf = await w.p;
        } finally {
          this.readAheadBytes -= w.budget;
        }
        fill();
        yield buf;
      }
    } finally {
      for (const w of queue.splice(0)) {
        await w.p.catch(() => undefined);
        this.readAheadBytes -= w.budget;
      }
    }
  }
}
