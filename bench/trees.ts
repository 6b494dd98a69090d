// Folder commit rows (format v3, docs/FORMAT.md §13.6, §13.12): seeded trees committed on 1 and 4 stores against restic, bytes on disk ÷ file bytes, peak RSS of commit, re-commit, verify and restore, restore time, per-file time as the repository grows.
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { prng, randomBytesSeeded } from '../test/helpers/fixtures.js';

type Row = { measure: string; value: string; target: string; met: boolean | null };
type Child = (args: string[]) => { seconds: number; maxRssMiB: number; files?: number; bytesNew?: number; filesHashed?: number; packsWritten?: number; status?: string; failed?: number; bytes?: number };

/** Apparent bytes of every file below `dir` (what the stores hold; file-system blocks not counted). */
export async function bytesUnder(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n += await bytesUnder(p);
    else if (e.isFile()) n += (await stat(p)).size;
  }
  return n;
}

/** A seeded tree of `count` files of `min`–`max` bytes, 100 to a directory (two levels). Returns the file bytes. */
export async function makeTree(dir: string, count: number, min: number, max: number, seed: number, first = 0): Promise<number> {
  const next = prng(seed);
  let bytes = 0;
  for (let i = first; i < first + count; i++) {
    const d = join(dir, `d${Math.floor(i / 1000)}`, `e${Math.floor(i / 100) % 10}`);
    if (i % 100 === 0 || i === first) await mkdir(d, { recursive: true });
    const size = min + (next() % (max - min + 1));
    await writeFile(join(d, `f${i}.bin`), randomBytesSeeded(size, seed * 1_000_000 + i));
    bytes += size;
  }
  return bytes;
}

function restic(args: string[], env: NodeJS.ProcessEnv): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('restic', args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`restic ${args[0]} failed: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const MB = 1e6;
const fmt = (x: number, d = 3) => x.toFixed(d);

/**
 * The tree rows of issue 19: for a tree of 2,000 files of 20–500 KB and one of 20,000 files of 1–64 KB (`scale`
 * divides both counts, for a quick run): commit on one store and on 4 stores (bytes on disk ÷ file bytes, time),
 * `restic backup` of the same tree in the same run (time and repository size), peak RSS (VmHWM of a child process)
 * of the commit, of the re-commit with no change, of verify and of restore (time too); then the per-file time of committing 1,000 new files into a
 * repository already holding 1,000 files and one holding 20,000.
 */
export async function benchTrees(work: string, child: Child, log: (m: string) => void, scale = 1): Promise<{ rows: Row[]; raw: Record<string, unknown> }> {
  const rows: Row[] = [];
  const raw: Record<string, unknown> = {};
  const row = (measure: string, value: string, target = '', met: boolean | null = null) => rows.push({ measure, value, target, met });
  const haveRestic = spawnSync('restic', ['version']).status === 0;
  const trees = [
    { key: 'photos', label: `${2000 / scale} files of 20–500 KB`, count: 2000 / scale, min: 20_000, max: 500_000, seed: 19 },
    { key: 'small', label: `${20000 / scale} files of 1–64 KB`, count: 20000 / scale, min: 1_000, max: 64_000, seed: 20 },
  ];
  for (const t of trees) {
    const tree = join(work, `tree-${t.key}`);
    await rm(tree, { recursive: true, force: true });
    log(`trees: making ${t.label}`);
    const bytes = await makeTree(tree, t.count, t.min, t.max, t.seed);
    // Files older than the quick path's 2 s ctime margin before the first commit, so the re-commit can trust them.
    await new Promise((r) => setTimeout(r, 2500));
    const one = join(work, `tree-${t.key}-1`);
    const four = [0, 1, 2, 3].map((i) => join(work, `tree-${t.key}-4-${i}`));
    for (const d of [one, ...four]) await rm(d, { recursive: true, force: true });
    spawnSync('sync');
    log(`trees: commit ${t.label} (${fmt(bytes / MB, 0)} MB), one store`);
    const c1 = child(['commit-tree', tree, t.key, one]);
    const r1 = child(['commit-tree', tree, t.key, one]);
    const disk1 = await bytesUnder(one);
    // verify (the v3 part of a root verify) and restore of the whole tree, each in a child of its own (peak RSS).
    log(`trees: verify and restore ${t.label}, one store`);
    const v1 = child(['verify-tree', '-', '-', one]);
    const out = join(work, `tree-${t.key}-restored`);
    await rm(out, { recursive: true, force: true });
    spawnSync('sync');
    const x1 = child(['restore-tree', t.key, out, one]);
    await rm(out, { recursive: true, force: true });
    log(`trees: commit ${t.label}, 4 stores`);
    const c4 = child(['commit-tree', tree, t.key, `stores:${four.join(',')}`]);
    let disk4 = 0;
    for (const d of four) disk4 += await bytesUnder(d);
    let rs: { seconds: number; size: number } | null = null;
    if (haveRestic) {
      const rrepo = join(work, `tree-${t.key}-restic`);
      await rm(rrepo, { recursive: true, force: true });
      const env = { RESTIC_PASSWORD: 'bench', RESTIC_REPOSITORY: rrepo };
      restic(['init', '-q'], env);
      spawnSync('sync');
      log(`trees: restic backup ${t.label}`);
      const seconds = restic(['backup', '-q', '--no-cache', tree], env);
      rs = { seconds, size: await bytesUnder(rrepo) };
      await rm(rrepo, { recursive: true, force: true });
    }
    const ratio1 = disk1 / bytes;
    const ratio4 = disk4 / bytes;
    row(`tree ${t.label}: bytes on disk ÷ file bytes, 1 store`, fmt(ratio1), '<= 1.15 (goal 1.12)', ratio1 <= 1.15);
    row(`tree ${t.label}: bytes on disk ÷ file bytes, 4 stores`, fmt(ratio4), '<= 1.391 + 0.05 (RS(23,9))', ratio4 <= 9 / 23 + 1 + 0.05);
    if (rs) row(`tree ${t.label}: restic repository ÷ file bytes (reference)`, fmt(rs.size / bytes));
    // Issue 19's time target is for the 2,000-file tree; the 20,000-file row is shown beside restic without one.
    const timed = rs !== null && t.key === 'photos';
    row(`tree ${t.label}: commit, 1 store`, `${fmt(c1.seconds, 2)} s (${fmt(bytes / MB / c1.seconds, 0)} MB/s)`, timed ? `<= 2x restic (goal 1x)` : '', timed ? c1.seconds <= 2 * rs!.seconds : null);
    row(`tree ${t.label}: commit, 4 stores`, `${fmt(c4.seconds, 2)} s`);
    if (rs) row(`tree ${t.label}: restic backup --no-cache (reference)`, `${fmt(rs.seconds, 2)} s`);
    row(`tree ${t.label}: re-commit, no change (quick path)`, `${fmt(r1.seconds, 2)} s, ${r1.filesHashed} files read, ${r1.packsWritten} packs`);
    row(`tree ${t.label}: peak RSS, commit`, `${fmt(c1.maxRssMiB, 0)} MiB`, '<= 256 MiB', c1.maxRssMiB <= 256);
    row(`tree ${t.label}: peak RSS, re-commit`, `${fmt(r1.maxRssMiB, 0)} MiB`, '<= 256 MiB', r1.maxRssMiB <= 256);
    row(`tree ${t.label}: verify (v3), 1 store`, `${fmt(v1.seconds, 2)} s, ${v1.status}`, 'healthy', v1.status === 'healthy');
    row(`tree ${t.label}: peak RSS, verify`, `${fmt(v1.maxRssMiB, 0)} MiB`, '<= 256 MiB', v1.maxRssMiB <= 256);
    row(`tree ${t.label}: restore, 1 store`, `${fmt(x1.seconds, 2)} s (${fmt(bytes / MB / x1.seconds, 0)} MB/s), ${x1.files} files`, `${t.count} files, none failed`, x1.files === t.count && x1.failed === 0);
    row(`tree ${t.label}: peak RSS, restore`, `${fmt(x1.maxRssMiB, 0)} MiB`, '<= 256 MiB', x1.maxRssMiB <= 256);
    raw[t.key] = { files: t.count, bytes, disk1, disk4, commit1: c1, recommit1: r1, verify1: v1, restore1: x1, commit4: c4, restic: rs };
    for (const d of four) await rm(d, { recursive: true, force: true });
    if (t.key === 'photos') await rm(one, { recursive: true, force: true });
    else {
      // Per-file time as the repository grows: 1,000 new files into a repository of 1,000 files, and into this one.
      const grown = one;
      const small = join(work, 'tree-per-file-1k');
      await rm(small, { recursive: true, force: true });
      const first = join(work, 'tree-first-1k');
      await rm(first, { recursive: true, force: true });
      await makeTree(first, 1000, t.min, t.max, t.seed);
      child(['commit-tree', first, 'first', small]);
      const extra = join(work, 'tree-extra-1k');
      await rm(extra, { recursive: true, force: true });
      await makeTree(extra, 1000, t.min, t.max, 77, 0);
      const at1k = child(['commit-tree', extra, 'extra', small]);
      const at20k = child(['commit-tree', extra, 'extra', grown]);
      const ms1 = (at1k.seconds * 1000) / 1000;
      const ms20 = (at20k.seconds * 1000) / 1000;
      row('commit of 1,000 new files, 1,000 already in the repository', `${fmt(ms1, 2)} ms per file`);
      row(`commit of 1,000 new files, ${t.count} already in the repository`, `${fmt(ms20, 2)} ms per file`, 'flat (<= 1.5x the 1,000 row)', ms20 <= 1.5 * ms1);
      raw.perFile = { at1k, at20k };
      for (const d of [small, first, extra, one]) await rm(d, { recursive: true, force: true });
    }
    await rm(tree, { recursive: true, force: true });
  }
  return { rows, raw };
}
