// `npm run bench`: codec and hash speed, commit/restore of a 2 GiB Tier 3 file against dd, peak RSS; writes bench/results.json.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdir, open, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchCodec } from './codec.js';
import { blake3, initBlake3 } from '../src/integrity/blake3.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const work = process.env.BENCH_DIR ?? join(repo, 'bench', 'work');
const GiB = 1024 ** 3;
const quick = process.argv.includes('--quick');
const BIG = quick ? GiB / 4 : 2 * GiB;
const RUNS = quick ? 1 : 3;

interface Row {
  measure: string;
  value: string;
  target: string;
  met: boolean | null;
}
const rows: Row[] = [];
const results: Record<string, unknown> = { date: new Date().toISOString(), quick };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function makeFile(path: string, size: number): Promise<void> {
  const fh = await open(path, 'w');
  const buf = Buffer.alloc(64 * 1024 * 1024);
  for (let o = 0; o < size; o += buf.length) {
    randomFillSync(buf);
    await fh.write(buf, 0, Math.min(buf.length, size - o), o);
  }
  await fh.sync();
  await fh.close();
}

function timeDd(src: string, dst: string): number {
  const t0 = process.hrtime.bigint();
  execFileSync('dd', [`if=${src}`, `of=${dst}`, 'bs=4M', 'conv=fsync'], { stdio: 'ignore' });
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function child(args: string[]): { seconds: number; maxRssMiB: number } {
  const r = spawnSync(process.execPath, [join(here, 'commit-child.js'), ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bench child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

async function main(): Promise<void> {
  await mkdir(work, { recursive: true });
  // 1. Codec, one thread.
  const codec = await benchCodec();
  results.codec = codec;
  for (const c of codec) {
    const isTarget = /RS\(30,3\)/.test(c.name) && /simd/i.test(c.name);
    rows.push({ measure: `${c.name} encode, 1 thread`, value: `${c.gbps.toFixed(2)} GB/s`, target: isTarget ? '>= 5 GB/s' : '', met: isTarget ? c.gbps >= 5 : null });
  }
  // 2. BLAKE3 (hash-wasm), one thread.
  await initBlake3();
  const buf = randomFillSync(new Uint8Array(256 * 1024 * 1024));
  blake3(buf.subarray(0, 1 << 20));
  const t0 = process.hrtime.bigint();
  blake3(buf);
  const b3 = buf.length / (Number(process.hrtime.bigint() - t0) / 1e9) / 1e9;
  results.blake3GBps = b3;
  rows.push({ measure: 'BLAKE3 (hash-wasm), 1 thread', value: `${b3.toFixed(2)} GB/s`, target: '', met: null });

  // 3. Commit and restore of a Tier 3 file, each beside dd in the same run (alternating, median of RUNS).
  const src = join(work, 'big.bin');
  const copy = join(work, 'copy.bin');
  const out = join(work, 'restored.bin');
  const archive = join(work, 'archive');
  await makeFile(src, BIG);
  const dd: number[] = [];
  const commits: number[] = [];
  const restores: number[] = [];
  let commitRss = 0;
  for (let i = 0; i < RUNS; i++) {
    await rm(copy, { force: true });
    dd.push(timeDd(src, copy));
    await rm(archive, { recursive: true, force: true });
    const c = child(['commit', src, '', archive, '3']);
    commits.push(c.seconds);
    commitRss = Math.max(commitRss, c.maxRssMiB);
    await rm(out, { force: true });
    restores.push(child(['restore', 'big.bin', out, archive]).seconds);
  }
  const sizeLabel = `${BIG / GiB} GiB`;
  const ddS = median(dd);
  const commitRatio = median(commits) / ddS;
  const restoreRatio = median(restores) / ddS;
  results.tier3 = { bytes: BIG, ddSeconds: dd, commitSeconds: commits, restoreSeconds: restores, commitRatio, restoreRatio };
  rows.push({ measure: `dd bs=4M conv=fsync, ${sizeLabel}`, value: `${ddS.toFixed(2)} s (${(BIG / ddS / 1e6).toFixed(0)} MB/s)`, target: 'reference', met: null });
  rows.push({ measure: `commit ${sizeLabel} (Tier 3) / dd`, value: `${commitRatio.toFixed(2)} (${median(commits).toFixed(2)} s)`, target: '<= 1.4', met: commitRatio <= 1.4 });
  rows.push({ measure: `restore ${sizeLabel} / dd`, value: `${restoreRatio.toFixed(2)} (${median(restores).toFixed(2)} s)`, target: '<= 1.3', met: restoreRatio <= 1.3 });
  await rm(copy, { force: true });
  await rm(out, { force: true });
  await rm(archive, { recursive: true, force: true });

  // 4. Peak RSS of commit at two sizes (must not grow with file size).
  const rss: Record<string, number> = { [sizeLabel]: commitRss };
  if (!quick) {
    await rm(src, { force: true });
    await makeFile(src, 4 * GiB);
    rss['4 GiB'] = child(['commit', src, '', archive, '3']).maxRssMiB;
    await rm(archive, { recursive: true, force: true });
    await rm(src, { force: true });
    await makeFile(src, 1 * GiB);
    rss['1 GiB'] = child(['commit', src, '', archive, '3']).maxRssMiB;
    await rm(archive, { recursive: true, force: true });
  }
  results.peakRssMiB = rss;
  for (const [k, v] of Object.entries(rss)) rows.push({ measure: `peak RSS, commit ${k}`, value: `${v.toFixed(0)} MiB`, target: '<= 256 MiB', met: v <= 256 });
  await rm(work, { recursive: true, force: true });

  results.table = rows;
  await writeFile(join(repo, 'bench', 'results.json'), JSON.stringify(results, null, 2) + '\n');
  const line = (r: Row) => `| ${r.measure} | ${r.value} | ${r.target} | ${r.met === null ? '' : r.met ? 'met' : 'MISSED'} |`;
  console.log('| measure | result | target | |\n|---|---|---|---|');
  for (const r of rows) console.log(line(r));
}

await main();
