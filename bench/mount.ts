// `blockframe mount` benchmark: sequential read of a big Tier 3 file through the kernel FUSE mount ÷ `cat` of the
// original, both from a cold page cache (the files' pages evicted with dd iflag=nocache), and random 1 MiB reads.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdir, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { median, pct } from './util.js';

const MiB = 1024 * 1024;

export interface MountRow {
  measure: string;
  value: string;
  target: string;
  met: boolean | null;
}

/** Evict every file under `path` from the page cache (posix_fadvise DONTNEED through GNU dd). */
async function evict(path: string): Promise<void> {
  const st = await readdir(path, { withFileTypes: true }).catch(() => null);
  if (st === null) {
    spawnSync('dd', [`if=${path}`, 'iflag=nocache', 'count=0', 'status=none']);
    return;
  }
  for (const e of st) await evict(join(path, e.name));
}

function seconds(cmd: string): number {
  const t0 = process.hrtime.bigint();
  execFileSync('sh', ['-c', cmd], { stdio: 'ignore' });
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/**
 * Commit `src` (size bytes) into `work`/mount-archive (Tier 3 at ≥ 1 GiB), mount it with `blockframe mount` (the
 * CLI at `cli`), and measure `runs` times: cat of the original and cat through the mount (cold each time), the
 * ratio's median; then `reads` random 1 MiB preads through the mount (p50, p99). The load average is logged.
 */
export async function benchMount(o: { work: string; src: string; size: number; cli: string; runs: number; reads: number; log: (m: string) => void; drain: () => void }): Promise<{ rows: MountRow[]; raw: Record<string, unknown> }> {
  const archive = join(o.work, 'mount-archive');
  const mnt = join(o.work, 'mnt');
  await mkdir(mnt, { recursive: true });
  o.log('mount bench: commit');
  execFileSync(process.execPath, [o.cli, 'commit', o.src, '--archive', archive, '--quiet', '--name', 'big.bin'], { stdio: 'ignore' });
  o.drain();
  const child = spawn(process.execPath, [o.cli, 'mount', mnt, '--archive', archive, '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.trim().endsWith('}')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`blockframe mount exited with ${code}`)));
  });
  const file = join(mnt, 'big.bin');
  const cat: number[] = [];
  const viaMount: number[] = [];
  const ratios: number[] = [];
  try {
    for (let i = 0; i < o.runs; i++) {
      await evict(o.src);
      cat.push(seconds(`cat '${o.src}' > /dev/null`));
      await evict(archive);
      viaMount.push(seconds(`cat '${file}' > /dev/null`));
      ratios.push(cat[i]! / viaMount[i]!);
      o.log(`mount bench run ${i + 1}: cat ${cat[i]!.toFixed(2)} s, through the mount ${viaMount[i]!.toFixed(2)} s, load ${spawnSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).stdout.trim()}`);
    }
    await evict(archive);
    const fh = await open(file, 'r');
    const lat: number[] = [];
    const buf = Buffer.alloc(MiB);
    let seed = 12345;
    try {
      for (let i = 0; i < o.reads; i++) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        const at = Math.floor((seed / 0x7fffffff) * (o.size - MiB));
        const t0 = process.hrtime.bigint();
        const { bytesRead } = await fh.read(buf, 0, MiB, at);
        lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (bytesRead !== MiB) throw new Error(`short read at ${at}: ${bytesRead}`);
      }
    } finally {
      await fh.close();
    }
    const gib = o.size / 1024 ** 3;
    const r = median(ratios);
    const rows: MountRow[] = [
      { measure: `mount: cat of a ${gib} GiB Tier 3 file through FUSE ÷ cat of the original (cold page cache)`, value: `${r.toFixed(2)}x (${(o.size / MiB / median(viaMount)).toFixed(0)} vs ${(o.size / MiB / median(cat)).toFixed(0)} MiB/s)`, target: '>= 0.5x', met: r >= 0.5 },
      { measure: `mount: random 1 MiB reads through FUSE, ${o.reads} reads, one at a time`, value: `p50 ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms`, target: '', met: null },
    ];
    return { rows, raw: { cat, viaMount, ratios, latencyMs: lat, loadavg: spawnSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).stdout.trim() } };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}
