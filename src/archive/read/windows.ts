// Stored-stream windows, planned: a range cut into READ_WINDOW pieces per segment (ReadAhead reads them).
import type { Geometry } from '../../layout/geometry.js';
import { segmentsForRange } from '../../layout/geometry.js';
import { READ_WINDOW } from './reader.js';

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

