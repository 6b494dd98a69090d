// Parsing and printing of byte sizes: plain bytes or KiB/MiB/GiB suffixes.
import { BlockFrameError } from './errors.js';

const UNITS: Record<string, number> = { '': 1, b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4 };

/** "4096", "64KiB", "32 MiB", "1GiB" → bytes. Anything else is a BF_INVALID_SIZE error naming the input. */
export function parseSize(text: string, what = 'size'): number {
  const m = /^\s*(\d+)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new BlockFrameError('BF_INVALID_SIZE', `invalid ${what} "${text}": use bytes or a KiB, MiB or GiB suffix`, { field: what });
  }
  const value = Number(m[1]) * unit;
  if (!Number.isSafeInteger(value)) {
    throw new BlockFrameError('BF_INVALID_SIZE', `invalid ${what} "${text}": too large`, { field: what });
  }
  return value;
}

/** Human-readable binary size, e.g. 1536 → "1.5 KiB". */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[i]}`;
}
