// Scrub rows: the byte-rate limit held over a large archive set, and peak RSS of a scrub over many tiny archives.
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { ComputePool, commit } from '../src/index.js';
import { makeFile } from './util.js';

type Child = (args: string[]) => { seconds: number; maxRssMiB: number; [k: string]: unknown };
type Row = { measure: string; value: string; target: string; met: boolean | null };

const MB = 1e6;

/**
 * `size` bytes in 8 files (Tier 2 or 3 by size), scrubbed once at 10 MB/s in a child process: the rate measured
 * over the checking reads (first batch start to last batch end) and over the whole run must be within 10%.
 */
export async function benchScrubRate(work: string, size: number, child: Child, log: (m: string) => void): Promise<{ rows: Row[]; raw: unknown }> {
  const archive = join(work, 'scrub-archive');
  await rm(archive, { recursive: true, force: true });
  await mkdir(archive, { recursive: true });
  const pool = ComputePool.start();
  try {
    for (let i = 0; i < 8; i++) {
      const src = join(work, `scrub-${i}.bin`);
      await makeFile(src, Math.floor(size / 8));
      await commit(src, { archive, pool });
      await rm(src);
    }
  } finally {
    await pool.close();
  }
  log(`scrub at 10 MB/s over ${(size / 2 ** 30).toFixed(2)} GiB`);
  // Measured on a quiet disk: the commits' dirty pages are written out first.
  spawnSync('sync');
  const r = child(['scrub', archive, '10MB/s', join(work, 'scrub-ledger')]) as { seconds: number; maxRssMiB: number; bytes: number; observed: number };
  const wall = r.bytes / r.seconds;
  log(`  ${r.bytes} bytes: ${(r.observed / MB).toFixed(2)} MB/s checking, ${(wall / MB).toFixed(2)} MB/s whole run, peak RSS ${r.maxRssMiB.toFixed(0)} MiB`);
  await rm(archive, { recursive: true, force: true });
  await rm(join(work, 'scrub-ledger'), { recursive: true, force: true });
  const within = (x: number) => Math.abs(x / (10 * MB) - 1) <= 0.1;
  return {
    rows: [
      { measure: `scrub --rate 10MB/s over ${(size / 2 ** 30).toFixed(2)} GiB (${(r.bytes / 2 ** 30).toFixed(2)} GiB of shards), checking reads`, value: `${(r.observed / MB).toFixed(2)} MB/s`, target: '10 MB/s ± 10%', met: within(r.observed) },
      { measure: 'scrub --rate 10MB/s, whole run (start-up, ledger writes included)', value: `${(wall / MB).toFixed(2)} MB/s in ${r.seconds.toFixed(0)} s`, target: '10 MB/s ± 10%', met: within(wall) },
    ],
    raw: { size, ...r, wallRate: wall },
  };
}

/** `count` tiny archives (Tier 1, 64 bytes each), committed in one process, then one scrub's peak RSS. */
export async function benchScrubMemory(work: string, count: number, child: Child, log: (m: string) => void, keep?: string): Promise<{ rows: Row[]; raw: unknown }> {
  // `keep` (--scrub-tiny DIR): a directory of tiny archives kept between runs; only the missing ones are made.
  const archive = keep ?? join(work, 'scrub-tiny');
  if (!keep) await rm(archive, { recursive: true, force: true });
  await mkdir(archive, { recursive: true });
  const have = new Set((await readdir(archive)).filter((d) => !d.startsWith('.')).map((d) => d.slice(0, d.lastIndexOf('_'))));
  const extra = [...have].filter((n) => !/^tiny-\d+\.bin$/.test(n) || Number(n.slice(5, -4)) >= count).length;
  if (extra) throw new Error(`${archive} holds ${extra} archives besides tiny-0..${count - 1}.bin: use another --scrub-tiny directory`);
  log(`committing ${count - have.size} tiny archives (${have.size} there already)`);
  const pool = ComputePool.start();
  try {
    for (let i = 0; i < count; i++) {
      // Distinct names: commit looks at every archive of the same name.
      if (have.has(`tiny-${i}.bin`)) continue;
      const src = join(work, `tiny-${i}.bin`);
      await writeFile(src, randomBytes(64));
      await commit(src, { archive, pool });
      await rm(src);
      if (i % 10000 === 9999) log(`  ${i + 1}`);
    }
  } finally {
    await pool.close();
  }
  log(`scrub of ${count} tiny archives`);
  const r = child(['scrub', archive, '', join(work, 'scrub-tiny-ledger')]) as { seconds: number; maxRssMiB: number; stripes: number };
  log(`  ${r.stripes} stripes in ${r.seconds.toFixed(1)} s, peak RSS ${r.maxRssMiB.toFixed(0)} MiB`);
  if (!keep) await rm(archive, { recursive: true, force: true });
  await rm(join(work, 'scrub-tiny-ledger'), { recursive: true, force: true });
  return {
    rows: [{ measure: `peak RSS, scrub of ${count} tiny archives (${r.stripes} stripes in ${r.seconds.toFixed(0)} s)`, value: `${r.maxRssMiB.toFixed(0)} MiB`, target: '<= 256 MiB', met: r.maxRssMiB <= 256 }],
    raw: { count, ...r },
  };
}
