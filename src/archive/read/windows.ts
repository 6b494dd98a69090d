// Stored-stream windows: a range cut into READ_WINDOW pieces per segment, read and verified ahead in bounded slabs.
import { SlabPool } from '../../compute/pool.js';
import type { Geometry } from '../../layout/geometry.js';
import { segmentsForRange } from '../../layout/geometry.js';
import { manifestGeometry } from '../../layout/manifest.js';
import { prefetchInOrder, type Filled, type HeldWindow } from './prefetch.js';
import { READ_WINDOW, type ArchiveReader } from './reader.js';

/** One window to read: bytes [from, to) of data segment `seg`. */
export interface WindowJob {
  seg: number;
  from: number;
  to: number;
}

/**
 * The windows of [offset, offset + length): per segment, edges on READ_WINDOW multiples (chunk-aligned reads).
 * Lazy: planning costs nothing in proportion to the range, whatever size a manifest claims.
 */
export function* windowJobs(g: Geometry, offset: number, length: number): Generator<WindowJob> {
  for (const s of segmentsForRange(g, offset, length)) {
    const from = Math.max(offset, s.offset) - s.offset;
    const to = Math.min(offset + length, s.offset + s.size) - s.offset;
    for (let a = from; a < to; ) {
      const b = Math.min(to, (Math.floor(a / READ_WINDOW) + 1) * READ_WINDOW);
      yield { seg: s.index, from: a, to: b };
      a = b;
    }
  }
}


/**
 * Verified windows of [offset, offset + length) in file order, each at most READ_WINDOW bytes of shared memory.
 * Up to `ahead` windows are read and verified concurrently, and the consumer may hold up to `hold` windows (say,
 * while their writes are in flight) before reading waits: memory stays bounded whatever the file size.
 */
export async function* heldWindows(reader: ArchiveReader, offset: number, length: number, ahead = 3, hold = 1): AsyncGenerator<HeldWindow> {
  const jobs = windowJobs(manifestGeometry(reader.manifest), offset, length);
  const windows = Math.ceil(length / READ_WINDOW) + 1;
  const slabs = new SlabPool(Math.min(ahead + hold, Math.max(1, windows)), Math.min(READ_WINDOW, Math.max(1, length)));
  function* tasks(): Generator<() => Promise<Filled>> {
    for (const j of jobs) {
      yield async () => {
        const slab = await slabs.acquire();
        const view = slab.subarray(0, j.to - j.from);
        try {
          await reader.readInto(j.seg, j.from, j.to, view);
        } catch (err) {
          slabs.release(slab);
          throw err;
        }
        return { slab, view };
      };
    }
  }
  yield* prefetchInOrder(tasks(), ahead, (s) => slabs.release(s));
}
