// `npm run bench -- --transforms-only`: format v2 transforms on a real mixed corpus (a tar of the machine's docs and
// libraries): compression ratio against zstd -3 on the whole file and per frame size, commit and restore throughput
// per mode against a plain commit, and 1 MiB range reads through both layers.
import { execFileSync, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { open, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ComputePool, openArchive } from '../src/index.js';
import { prng } from '../test/helpers/fixtures.js';
import { median } from './util.js';

const MiB = 1024 ** 2;

export interface TransformRow {
  measure: string;
  value: string;
  target: string;
  met: boolean | null;
}

/** Wait until the kernel's dirty page cache has drained (Dirty: in /proc/meminfo below 32 MiB, 60 s at most). */
export function drainDirty(log: (m: string) => void): number {
  execFileSync('sync');
  const t0 = Date.now();
  let dirty = Infinity;
  while (Date.now() - t0 < 60_000) {
    const m = /^Dirty:\s+(\d+) kB/m.exec(spawnSync('cat', ['/proc/meminfo'], { encoding: 'utf8' }).stdout);
    dirty = m ? Number(m[1]) / 1024 : 0;
    if (dirty < 32) break;
    execFileSync('sleep', ['0.5']);
  }
  log(`dirty page cache ${dirty.toFixed(1)} MiB before the next timed step`);
  return dirty;
}

/** A tar of /usr/share/doc and /usr/lib, cut to `size` bytes: real documents, text and binaries. */
async function makeCorpus(path: string, size: number): Promise<number> {
  const r = spawnSync('sh', ['-c', `tar cf - /usr/share/doc /usr/lib 2>/dev/null | head -c ${size} > '${path}'`]);
  if (r.status !== 0) throw new Error('could not build the corpus');
  return (await stat(path)).size;
}

function zstdCli(): boolean {
  if (spawnSync('sh', ['-c', 'command -v zstd']).status === 0) return true;
  spawnSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zstd'], { stdio: 'ignore' });
  return spawnSync('sh', ['-c', 'command -v zstd']).status === 0;
}

/** Stored bytes with BlockFrame's per-frame rule (zstd -3 per frame, raw when that does not shrink it). */
async function framedSize(path: string, frameSize: number): Promise<number> {
  const z = createRequire(import.meta.url)('@mongodb-js/zstd/bindings.js') as { compress(b: Buffer, l: number): Promise<Buffer> };
  const fh = await open(path, 'r');
  const buf = Buffer.alloc(frameSize);
  let total = 0;
  try {
    for (let off = 0; ; off += frameSize) {
      const { bytesRead } = await fh.read(buf, 0, frameSize, off);
      if (bytesRead === 0) break;
      total += Math.min(bytesRead, (await z.compress(buf.subarray(0, bytesRead), 3)).length);
    }
  } finally {
    await fh.close();
  }
  return total;
}


export async function benchTransforms(work: string, size: number, runs: number, child: (args: string[]) => { seconds: number; maxRssMiB: number }, log: (m: string) => void): Promise<{ rows: TransformRow[]; raw: Record<string, unknown> }> {
  const rows: TransformRow[] = [];
  const raw: Record<string, unknown> = {};
  const row = (measure: string, value: string, target = '', met: boolean | null = null) => rows.push({ measure, value, target, met });
  const corpus = join(work, 'corpus.tar');
  const bytes = await makeCorpus(corpus, size);
  log(`corpus: ${(bytes / MiB).toFixed(0)} MiB of /usr/share/doc and /usr/lib`);
  let whole = NaN;
  if (zstdCli()) {
    const r = spawnSync('sh', ['-c', `zstd -3 -q -c '${corpus}' | wc -c`], { encoding: 'utf8' });
    whole = bytes / Number(r.stdout.trim());
  }
  const framed: Record<string, number> = {};
  for (const f of [64 * 1024, 256 * 1024, MiB, 4 * MiB]) framed[`${f / 1024} KiB`] = bytes / (await framedSize(corpus, f));
  raw.ratio = { zstd3WholeFile: whole, framed };
  row('corpus zstd -3 ratio, whole file (reference)', Number.isNaN(whole) ? 'zstd CLI missing' : `${whole.toFixed(3)}x`);
  for (const [k, v] of Object.entries(framed)) {
    const rel = v / whole;
    const chosen = k === '1024 KiB';
    row(`BlockFrame ratio with ${k} frames${chosen ? ' (chosen)' : ''}`, `${v.toFixed(3)}x (${(rel * 100).toFixed(1)}% of whole-file)`, chosen ? '>= 95%' : '', chosen ? rel >= 0.95 : null);
  }

  // Commit and restore per mode, each in its own process, medians of `runs`, the modes interleaved within each run,
  // every timed step primed as in run.ts (a copy of the corpus written and removed just before, so each one starts
  // with as much freshly freed page cache; on this VM that changes a buffered write's speed up to 5x).
  const key = join(work, 'bench.key');
  await writeFile(key, Buffer.alloc(32, 7));
  const prime = () => {
    drainDirty(log);
    execFileSync('dd', [`if=${corpus}`, `of=${join(work, 'prime.bin')}`, 'bs=4M', 'conv=fsync'], { stdio: 'ignore' });
    execFileSync('rm', ['-f', join(work, 'prime.bin')]);
    drainDirty(log);
  };
  const modes = { plain: '', zstd: 'zstd', encrypt: 'encrypt', 'zstd+encrypt': 'zstd+encrypt' } as const;
  const secs: Record<string, { commit: number[]; restore: number[]; rss: number; commitRss: number; restoreRss: number }> = {};
  for (const mode of Object.keys(modes)) secs[mode] = { commit: [], restore: [], rss: 0, commitRss: 0, restoreRss: 0 };
  for (let i = 0; i < runs; i++) {
    for (const [mode, flag] of Object.entries(modes)) {
      const archive = join(work, `tf-${mode}`);
      await rm(archive, { recursive: true, force: true });
      prime();
      const c = child(['commit', corpus, '', archive, '', '', flag, key]);
      secs[mode]!.commit.push(c.seconds);
      secs[mode]!.rss = Math.max(secs[mode]!.rss, c.maxRssMiB);
      secs[mode]!.commitRss = Math.max(secs[mode]!.commitRss, c.maxRssMiB);
      prime();
      const out = join(work, 'tf-out.bin');
      const r = child(['restore', 'corpus.tar', out, archive, '', '', flag, key]);
      secs[mode]!.restore.push(r.seconds);
      secs[mode]!.rss = Math.max(secs[mode]!.rss, r.maxRssMiB);
      secs[mode]!.restoreRss = Math.max(secs[mode]!.restoreRss, r.maxRssMiB);
      await rm(out, { force: true });
      if (i < runs - 1 || mode !== 'zstd+encrypt') await rm(archive, { recursive: true, force: true });
    }
  }
  raw.seconds = secs;
  const mbps = (s: number) => `${(bytes / s / 1e6).toFixed(0)} MB/s`;
  const plainC = median(secs.plain!.commit);
  const plainR = median(secs.plain!.restore);
  for (const mode of Object.keys(modes)) {
    const c = median(secs[mode]!.commit);
    const r = median(secs[mode]!.restore);
    row(`commit ${mode}, corpus`, `${mbps(c)} (${c.toFixed(2)} s, ${(plainC / c).toFixed(2)}x plain)`, mode === 'zstd' ? '>= 0.8x plain' : '', mode === 'zstd' ? plainC / c >= 0.8 : null);
    row(`restore ${mode}, corpus`, `${mbps(r)} (${r.toFixed(2)} s, ${(plainR / r).toFixed(2)}x plain)`);
    // Which of the two peaked: transformed commits stream frames into the shard writer, restores decode per window.
    row(`peak RSS, commit / restore ${mode}`, `${secs[mode]!.commitRss.toFixed(0)} / ${secs[mode]!.restoreRss.toFixed(0)} MiB`, '<= 256 MiB', secs[mode]!.rss <= 256);
  }
  // A passphrase instead of a key file: its scrypt (128 MiB for a moment) must not add to what the passes hold.
  {
    const archive = join(work, 'tf-passphrase');
    await rm(archive, { recursive: true, force: true });
    prime();
    const c = child(['commit', corpus, '', archive, '', '', 'encrypt', 'passphrase:bench passphrase']);
    prime();
    const out = join(work, 'tf-out.bin');
    const r = child(['restore', 'corpus.tar', out, archive, '', '', 'encrypt', 'passphrase:bench passphrase']);
    await rm(out, { force: true });
    await rm(archive, { recursive: true, force: true });
    raw.passphrase = { commit: c, restore: r };
    const peak = Math.max(c.maxRssMiB, r.maxRssMiB);
    row('peak RSS, commit / restore encrypt with a passphrase (scrypt N=2^17)', `${c.maxRssMiB.toFixed(0)} / ${r.maxRssMiB.toFixed(0)} MiB`, '<= 256 MiB', peak <= 256);
  }
  // Encryption's cost: zstd+encrypt against zstd, and encrypt against plain.
  const encC = median(secs.encrypt!.commit) / plainC - 1;
  const encR = median(secs.encrypt!.restore) / plainR - 1;
  const zeC = median(secs['zstd+encrypt']!.commit) / median(secs.zstd!.commit) - 1;
  const zeR = median(secs['zstd+encrypt']!.restore) / median(secs.zstd!.restore) - 1;
  const pctS = (x: number) => `${(x * 100).toFixed(0)}%`;
  row('encryption cost on commit (encrypt vs plain; zstd+encrypt vs zstd)', `${pctS(encC)}; ${pctS(zeC)}`, '<= 15%', Math.max(encC, zeC) <= 0.15);
  row('encryption cost on restore (encrypt vs plain; zstd+encrypt vs zstd)', `${pctS(encR)}; ${pctS(zeR)}`, '<= 15%', Math.max(encR, zeR) <= 0.15);

  // 1 MiB random range reads through both layers, warm, one process with a pool (as a server would).
  const pool = ComputePool.start();
  const a = await openArchive('corpus.tar', { archive: join(work, 'tf-zstd+encrypt'), pool, keys: [{ keyFile: key }] });
  const rand = prng(5);
  const lat: number[] = [];
  for (let i = 0; i < 220; i++) {
    const off = (rand() * 4096 + rand()) % (bytes - MiB);
    const t0 = process.hrtime.bigint();
    await a.read(off, MiB);
    if (i >= 20) lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  await a.close();
  await pool.close();
  const p50 = median(lat);
  raw.rangeReadMs = lat;
  row('1 MiB range read, zstd+encrypt, warm, p50', `${p50.toFixed(2)} ms`, '<= 5 ms', p50 <= 5);
  await rm(join(work, 'tf-zstd+encrypt'), { recursive: true, force: true });
  await rm(corpus, { force: true });
  return { rows, raw };
}
