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
  constructor(slabCount = 8) {
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
   * Verified bytes of [offset, offset + length) in order, `ahead` windows read concurrently. Leaving the loop early
   * (a client gone) waits for the reads in flight and starts no more.
   */
  async *windows(reader: ArchiveReader, offset: number, length: number, ahead: number): AsyncGenerator<Buffer> {
    const todo = jobs(reader, offset, length);
    const queue: Promise<Buffer>[] = [];
    let next = 0;
    const start = () => {
      const p = this.readOne(reader, todo[next++]!);
      p.catch(() => undefined);
      queue.push(p);
    };
    try {
      while (next < todo.length && queue.length < ahead) start();
      while (queue.length) {
        const w = await queue.shift()!;
        if (next < todo.length) start();
        yield w;
      }
    } finally {
      await Promise.allSettled(queue);
    }
  }
}
