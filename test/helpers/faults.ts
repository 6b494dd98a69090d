// Fault injection on real archive files: damage kinds, archive snapshots, and a binary-safe CLI runner.
import { chmod, cp, lstat, mkdir, readdir, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { CLI } from './fixtures.js';

export type Rand = () => number;

/** A uniform integer in [lo, hi] from a prng (xorshift32 words). */
export function between(rand: Rand, lo: number, hi: number): number {
  return lo + (rand() % (hi - lo + 1));
}

export function pick<T>(rand: Rand, items: readonly T[]): T {
  return items[rand() % items.length]!;
}

/** k distinct items, in a seeded random order. */
export function sample<T>(rand: Rand, items: readonly T[], k: number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = rand() % (i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a.slice(0, k);
}

/** Every subset of `items` with 1..max elements. */
export function subsets<T>(items: readonly T[], max: number): T[][] {
  const out: T[][] = [];
  for (let mask = 1; mask < 1 << items.length; mask++) {
    const s = items.filter((_, i) => mask & (1 << i));
    if (s.length <= max) out.push(s);
  }
  return out;
}

async function writable(path: string): Promise<void> {
  await chmod(path, 0o644).catch(() => undefined);
}

/** What a damage did to one file, for the assertions. */
export interface Injury {
  path: string;
  kind: DamageKind;
  /** What verify should call the file afterwards. */
  expect: 'missing' | 'truncated' | 'corrupt';
  /** Byte positions changed, [from, to), for corruptions in place. */
  changed?: [number, number];
}

export type DamageKind = 'delete' | 'truncate' | 'zero' | 'flip';
export const DAMAGE_KINDS: readonly DamageKind[] = ['delete', 'truncate', 'zero', 'flip'];

export async function deleteFile(abs: string): Promise<void> {
  await rm(abs);
}

/** Truncate to a random shorter length (0 included). Returns the new length. */
export async function truncateRandom(abs: string, rand: Rand): Promise<number> {
  const { size } = await stat(abs);
  if (size === 0) throw new Error(`cannot truncate empty ${abs}`);
  const len = rand() % 4 === 0 ? 0 : rand() % size;
  await writable(abs);
  await truncate(abs, len);
  return len;
}

/** Zero a random range that really changes the file (at least one byte was non-zero). Returns [from, to). */
export async function zeroFillRandom(abs: string, rand: Rand): Promise<[number, number]> {
  const buf = await readFile(abs);
  if (!buf.some((b) => b !== 0)) throw new Error(`cannot zero-fill all-zero ${abs}`);
  for (;;) {
    const from = rand() % buf.length;
    const to = Math.min(buf.length, from + 1 + (rand() % Math.max(1, Math.min(buf.length, 20000))));
    if (!buf.subarray(from, to).some((b) => b !== 0)) continue;
    buf.fill(0, from, to);
    await writable(abs);
    await writeFile(abs, buf);
    return [from, to];
  }
}

/** Flip 1..8 random bits. Returns the range of bytes touched. */
export async function flipBitsRandom(abs: string, rand: Rand): Promise<[number, number]> {
  const buf = await readFile(abs);
  if (buf.length === 0) throw new Error(`cannot flip bits of empty ${abs}`);
  const n = 1 + (rand() % 8);
  let lo = buf.length;
  let hi = 0;
  const at = new Set<number>();
  for (let i = 0; i < n; i++) {
    const pos = rand() % buf.length;
    const bit = rand() % 8;
    // Flipping the same bit twice would undo it: count positions by (byte, bit).
    if (at.has(pos * 8 + bit)) continue;
    at.add(pos * 8 + bit);
    buf[pos]! ^= 1 << bit;
    lo = Math.min(lo, pos);
    hi = Math.max(hi, pos + 1);
  }
  await writable(abs);
  await writeFile(abs, buf);
  return [lo, hi];
}

/** Swap two files by renaming (a -> tmp, b -> a, tmp -> b). */
export async function swapFiles(a: string, b: string): Promise<void> {
  const tmp = `${a}.swap-tmp`;
  await rename(a, tmp);
  await rename(b, a);
  await rename(tmp, b);
}

/** Apply one damage kind to a file of archive directory `dir` and describe it. */
export async function injure(dir: string, rel: string, kind: DamageKind, rand: Rand): Promise<Injury> {
  const abs = join(dir, rel);
  switch (kind) {
    case 'delete':
      await deleteFile(abs);
      return { path: rel, kind, expect: 'missing' };
    case 'truncate':
      await truncateRandom(abs, rand);
      return { path: rel, kind, expect: 'truncated' };
    case 'zero':
      return { path: rel, kind, expect: 'corrupt', changed: await zeroFillRandom(abs, rand) };
    case 'flip':
      return { path: rel, kind, expect: 'corrupt', changed: await flipBitsRandom(abs, rand) };
  }
}

/** Junk: a file at the archive root, a file in a shard directory ('' = the root), a directory holding a file, a hidden file. */
export async function addJunk(dir: string, shardDir: string): Promise<string[]> {
  await writeFile(join(dir, 'junk.txt'), 'not part of the format\n');
  const stray = shardDir ? `${shardDir}/stray.dat` : 'stray.dat';
  await writeFile(join(dir, stray), Buffer.alloc(100, 7));
  await mkdir(join(dir, 'junkdir', 'nested'), { recursive: true });
  await writeFile(join(dir, 'junkdir', 'nested', 'x.bin'), 'x');
  // A hidden file, like a temp file a crashed writer left behind.
  await writeFile(join(dir, '.leftover.tmp'), 'partial');
  return ['junk.txt', stray, 'junkdir', '.leftover.tmp'];
}

export type ManifestDamage = 'corrupt-primary' | 'delete-primary' | 'corrupt-copy' | 'delete-copy' | 'corrupt-b3' | 'delete-b3';
export const MANIFEST_DAMAGES: readonly ManifestDamage[] = ['corrupt-primary', 'delete-primary', 'corrupt-copy', 'delete-copy', 'corrupt-b3', 'delete-b3'];

/** Damage one of the three manifest files; returns the file named. */
export async function damageManifest(dir: string, how: ManifestDamage, rand: Rand): Promise<string> {
  const file = how.endsWith('primary') ? 'manifest.json' : how.endsWith('copy') ? 'manifest.copy.json' : 'manifest.b3';
  const abs = join(dir, file);
  if (how.startsWith('delete')) {
    await rm(abs);
  } else if (file === 'manifest.b3') {
    const text = await readFile(abs, 'utf8');
    const i = rand() % 64;
    const c = text[i] === '0' ? '1' : '0';
    await writable(abs);
    await writeFile(abs, text.slice(0, i) + c + text.slice(i + 1));
  } else {
    // Either a bit flip somewhere, or a cut in the middle (invalid JSON).
    await writable(abs);
    if (rand() % 2) await flipBitsRandom(abs, rand);
    else await truncate(abs, Math.floor((await stat(abs)).size / 2));
  }
  return file;
}

export interface Entry {
  path: string;
  type: 'file' | 'dir' | 'other';
  size: number;
  mtimeMs: number;
  mode: number;
  sha256: string;
}

/** Every file and directory under `root`, hidden ones included: path, type, size, mtime, mode and sha256. */
export async function snapshot(root: string): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const p = rel ? `${rel}/${name}` : name;
      const st = await lstat(join(root, p));
      if (st.isDirectory()) {
        out.set(p, { path: p, type: 'dir', size: 0, mtimeMs: st.mtimeMs, mode: st.mode, sha256: '' });
        await walk(p);
      } else if (st.isFile()) {
        const sha256 = createHash('sha256').update(await readFile(join(root, p))).digest('hex');
        out.set(p, { path: p, type: 'file', size: st.size, mtimeMs: st.mtimeMs, mode: st.mode, sha256 });
      } else {
        out.set(p, { path: p, type: 'other', size: st.size, mtimeMs: st.mtimeMs, mode: st.mode, sha256: '' });
      }
    }
  };
  await walk('');
  return out;
}

/** Snapshot as comparable sorted rows (for deepEqual with a readable diff). */
export function rows(s: Map<string, Entry>): string[] {
  return [...s.values()].map((e) => `${e.path} ${e.type} ${e.size} ${e.mtimeMs} ${e.mode.toString(8)} ${e.sha256}`).sort();
}

/** Fresh copy of a pristine archive root (modes and timestamps kept). */
export async function cloneRoot(from: string, to: string): Promise<void> {
  await rm(to, { recursive: true, force: true });
  await cp(from, to, { recursive: true, preserveTimestamps: true });
}

export interface RawCliResult {
  status: number;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/** Run the real CLI with binary-safe stdout. */
export function runCliRaw(args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): RawCliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, ...opts.env }, maxBuffer: 256 * 1024 * 1024 });
  return { status: r.status ?? -1, signal: r.signal, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

/** Shard paths of an archive by stripe, data first then parity (Merkle leaf order). */
export function shardsByStripe(manifest: { stripes: { data: { path: string }[]; parity: { path: string }[] }[] }): string[][] {
  return manifest.stripes.map((st) => [...st.data.map((d) => d.path), ...st.parity.map((p) => p.path)]);
}
