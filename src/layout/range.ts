// Byte ranges as users write them ("START-END" inclusive, "START-", "-SUFFIX"), resolved against a file size.
import { BlockFrameError } from '../errors.js';

export interface ByteRange {
  offset: number;
  length: number;
}

/**
 * Parse a range spec against `size`. END is inclusive and clamped to the file; a suffix longer than the file is
 * the whole file. A malformed spec is BF_INVALID_RANGE; a start at or past the end is BF_RANGE_NOT_SATISFIABLE.
 */
export function parseRange(spec: string, size: number): ByteRange {
  const m = /^\s*(\d*)\s*-\s*(\d*)\s*$/.exec(spec);
  if (!m || (m[1] === '' && m[2] === '')) {
    throw new BlockFrameError('BF_INVALID_RANGE', `invalid range "${spec}": use START-END, START- or -SUFFIX (bytes, END inclusive)`, { field: 'range' });
  }
  const [a, b] = [m[1]!, m[2]!];
  if (a === '') {
    const suffix = Number(b);
    if (!Number.isSafeInteger(suffix)) throw new BlockFrameError('BF_INVALID_RANGE', `invalid range "${spec}": SUFFIX is too large`, { field: 'range' });
    if (suffix === 0 || size === 0) throw unsatisfiable(spec, size);
    const length = Math.min(suffix, size);
    return { offset: size - length, length };
  }
  const start = Number(a);
  const end = b === '' ? Number.MAX_SAFE_INTEGER : Number(b);
  if (!Number.isSafeInteger(start)) throw new BlockFrameError('BF_INVALID_RANGE', `invalid range "${spec}": START is too large (at most ${Number.MAX_SAFE_INTEGER})`, { field: 'range' });
  if (!Number.isSafeInteger(end)) throw new BlockFrameError('BF_INVALID_RANGE', `invalid range "${spec}": END is too large (at most ${Number.MAX_SAFE_INTEGER})`, { field: 'range' });
  if (end < start) throw new BlockFrameError('BF_INVALID_RANGE', `invalid range "${spec}": END must not be before START`, { field: 'range' });
  if (start >= size) throw unsatisfiable(spec, size);
  return { offset: start, length: Math.min(end, size - 1) - start + 1 };
}

function unsatisfiable(spec: string, size: number): BlockFrameError {
  return new BlockFrameError('BF_RANGE_NOT_SATISFIABLE', `range "${spec}" is outside the file (${size} bytes)`, { field: 'range', size });
}
