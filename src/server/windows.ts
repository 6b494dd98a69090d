// Verified read windows for the server: one server-wide pool of shared-memory slabs, so memory stays bounded
// however many clients read at once, and a slow client holds only its own small queue of copied windows.
import { SlabPool } from '../compute/pool.js';
import type { ArchiveReader } from '../engine/reader.js';
import { READ_WINDOW } from '../engine/reader.js';
import { segmentsForRange, type Geometry } from '../layout/geometry.js';
import { manifestGeometry } from '../layout/manifest.js';

const geometries = new WeakMap<ArchiveReader, Geometry>();

function geometryOf(reader: ArchiveReader): Geometry {
  let g = geometries.get(reader);
  if (!g) geometries.set(reader, (g = manifestGeometry(reader.manifest)));
  return g;
}

/** Window jobs of [offset, offset + length): per segment, edges on READ_WINDOW multiples (chunk-aligned reads). */
function jobs(reader: ArchiveReader, offset: number, length: number): { seg: number; from: number; to: number }[] {
  const out: { seg: number; from: number; to: number }[] = [];
  for (const s of segmentsForRange(geometryOf(reader), offset, length)) {
    const from = Math.max(offset, s.offset) - s.offset;
    const to = Math.min(offset + length, s.offset + s.size) - s.offset;
    for (let a = from; a < to; ) {
      const b = Math.min(to, (Math.floor(a / READ_WINDOW) + 1) * READ_WINDOW);
      out.push({ seg: s.index, from: a, to: b });
      a = b;
    }
  }
  return out;
}

export class WindowReader {
  private readonly slabs: SlabPool;
  constructor(slabCount = 8) {
    this.slabs = new SlabPool(slabCount, READ_WINDOW);
  }

  /** One window: a shared slab for the verified read, then a private copy (the slab goes straight back). */
  private async readOne(reader: ArchiveReader, j: { seg: number; from: number; to: number }): Promise<Buffer> {
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
