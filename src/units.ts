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

const RATE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

/** "10MB/s", "512KiB/s", "1000000" → bytes per second (decimal kB/MB/GB, binary KiB/MiB/GiB). BF_USAGE otherwise. */
export function parseRate(text: string, what = 'rate'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*(?:\/\s*s)?\s*$/.exec(text);
  const unit = m ? RATE_UNITS[m[2]!.toLowerCase()] : undefined;
  const value = m && unit !== undefined ? Number(m[1]) * unit : NaN;
  if (!(value >= 1) || !Number.isFinite(value)) {
    throw new BlockFrameError('BF_USAGE', `invalid ${what} "${text}": use bytes per second with an optional kB, MB, GB, KiB, MiB or GiB unit, e.g. 10MB/s`, { field: what });
  }
  return value;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "500ms", "90s", "30m", "6h", "30d" → milliseconds. BF_USAGE otherwise. */
export function parseDuration(text: string, what = 'duration'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(text);
  const value = m ? Number(m[1]) * DURATION_UNITS[m[2]!]! : NaN;
  if (!(value > 0) || !Number.isSafeInteger(Math.round(value))) {
    throw new BlockFrameError('BF_USAGE', `invalid ${what} "${text}": use a number with ms, s, m, h or d, e.g. 30d`, { field: what });
  }
  return Math.round(value);
}
