// Shared bench helpers: medians and percentiles of timings, and random input files written with fsync.
import { randomFillSync } from 'node:crypto';
import { open } from 'node:fs/promises';

const MiB = 1024 * 1024;

/** The middle value (upper middle for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** The p-th percentile (nearest rank, 0..100). */
export function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** A file of `size` random bytes, fsynced. */
export async function makeFile(path: string, size: number): Promise<void> {
  const fh = await open(path, 'w');
  const buf = Buffer.alloc(Math.max(1, Math.min(size, 64 * MiB)));
  try {
    for (let o = 0; o < size; o += buf.length) {
      randomFillSync(buf);
      await fh.write(buf, 0, Math.min(buf.length, size - o), o);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}
