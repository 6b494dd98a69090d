// Leftovers of interrupted work on local disks: restore's hidden partial outputs and commit's spool directories.
import { lstat, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { localDirs } from './config.js';
import { pidAlive, STAGING_DIR } from './local.js';
import type { StoreSet } from './store-set.js';
import { SPOOL_NAME } from './spool.js';

/** One leftover: its path, bytes on disk, the process that made it, and whether that process still runs. */
export interface Leftover {
  path: string;
  bytes: number;
  pid: number;
  running: boolean;
}

/** Bytes under `path` (a file, or a directory walked without following symlinks). */
async function du(path: string): Promise<number> {
  const st = await lstat(path).catch(() => null);
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  let n = 0;
  for (const e of await readdir(path).catch(() => [] as string[])) n += await du(join(path, e));
  return n;
}

/**
 * Remove the partial outputs that processes which no longer run left in `dir`: files named as tempSibling() names
 * them with tag `tag` (".NAME.TAG-PID-8hex"). A live process's file (ours included) is never touched, and neither is
 * anything but a plain file. Returns what was removed. Never throws (a directory it cannot read has nothing removed).
 */
export async function removeStalePartials(dir: string, tag: string): Promise<Leftover[]> {
  const re = new RegExp(`^\\..+\\.${tag}-(\\d+)-[0-9a-f]{8}$`);
  const removed: Leftover[] = [];
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const m = re.exec(name);
    if (!m || pidAlive(Number(m[1]))) continue;
    const path = join(dir, name);
    const st = await lstat(path).catch(() => null);
    if (!st?.isFile()) continue;
    if (await unlink(path).then(() => true, () => false)) removed.push({ path, bytes: st.size, pid: Number(m[1]), running: false });
  }
  return removed;
}

/**
 * The spool directories in a store's staging directory `stagingDir` (commit's work in progress, or what an
 * interrupted commit left), with their size and whether their process still runs. Reads only; never creates.
 */
export async function stagingLeftovers(stagingDir: string): Promise<Leftover[]> {
  const top = await lstat(stagingDir).catch(() => null);
  if (!top?.isDirectory()) return [];
  const out: Leftover[] = [];
  for (const name of (await readdir(stagingDir).catch(() => [] as string[])).sort()) {
    const m = SPOOL_NAME.exec(name);
    if (!m) continue;
    const path = join(stagingDir, name);
    if (!(await lstat(path).catch(() => null))?.isDirectory()) continue;
    out.push({ path, bytes: await du(path), pid: Number(m[1]), running: pidAlive(Number(m[1])) });
  }
  return out;
}

/**
 * What interrupted or running commits hold in the staging directories of the local stores of `set` (object stores
 * have none), each with its store's number (1-based, in the order given). Reads only. A dead process's spool is removed by the next commit.
 */
export async function setLeftovers(set: StoreSet): Promise<(Leftover & { store: number })[]> {
  const out: (Leftover & { store: number })[] = [];
  const dirs = localDirs(set);
  for (let d = 0; d < dirs.length; d++) {
    const dir = dirs[d];
    if (dir !== undefined) for (const l of await stagingLeftovers(join(dir, STAGING_DIR))) out.push({ ...l, store: d + 1 });
  }
  return out;
}
