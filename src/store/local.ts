// The local-directory store: where archives live on disk, staging, atomic publish and stale-staging cleanup.
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { BlockFrameError, fromSystemError } from '../errors.js';
import { MANIFEST_FILE, parseManifest, type Manifest } from '../layout/manifest.js';
import { parseArchiveDirName } from '../layout/names.js';
import { fsyncDir } from './fsutil.js';

export const STAGING_DIR = '.staging';
export const DEFAULT_ARCHIVE = 'archive_directory';

/** The archive root from an explicit option, then BLOCKFRAME_ARCHIVE, then ./archive_directory. */
export function resolveArchiveRoot(option?: string): string {
  return resolve(option ?? process.env.BLOCKFRAME_ARCHIVE ?? DEFAULT_ARCHIVE);
}

export interface ArchiveEntry {
  /** Directory name under the root, "{name}_{hash}". */
  dir: string;
  manifest?: Manifest;
  /** Set when the manifest is missing or invalid. */
  error?: BlockFrameError;
}

export class LocalStore {
  readonly root: string;
  constructor(root: string) {
    this.root = resolve(root);
  }

  /** Absolute path of `rel` inside archive `dir`; refuses anything that would resolve outside the root. */
  path(dir: string, rel = ''): string {
    const p = resolve(this.root, dir, rel);
    const r = relative(this.root, p);
    if (r === '' || r.startsWith('..') || isAbsolute(r) || r.split(sep)[0] !== dir) {
      throw new BlockFrameError('BF_INTERNAL', `path escapes the archive: ${JSON.stringify(join(dir, rel))}`, { archive: dir, path: rel });
    }
    return p;
  }

  async ensureRoot(): Promise<void> {
    try {
      await mkdir(join(this.root, STAGING_DIR), { recursive: true });
    } catch (err) {
      throw fromSystemError(err, this.root, 'creating the archive directory');
    }
  }

  /** A fresh private staging directory; its name carries our pid so stale ones can be recognised. */
  async createStaging(): Promise<string> {
    await this.ensureRoot();
    const dir = join(this.root, STAGING_DIR, `${process.pid}-${randomBytes(6).toString('hex')}`);
    await mkdir(dir);
    return dir;
  }

  /** Remove staging directories left by processes that no longer run. Returns how many were removed. */
  async cleanStaleStaging(): Promise<number> {
    let names: string[];
    try {
      names = await readdir(join(this.root, STAGING_DIR));
    } catch {
      return 0;
    }
    let removed = 0;
    for (const name of names) {
      const pid = Number(/^(\d+)-/.exec(name)?.[1]);
      if (pid && pid !== process.pid && isAlive(pid)) continue;
      if (pid === process.pid) continue;
      await rm(join(this.root, STAGING_DIR, name), { recursive: true, force: true });
      removed++;
    }
    return removed;
  }

  /**
   * Atomically move a finished staging directory to its archive name. If that name exists already (another
   * commit of the same content won the race) the staging is discarded and 'exists' is returned.
   */
  async publish(staging: string, dir: string): Promise<'published' | 'exists'> {
    const target = this.path(dir);
    try {
      await rename(staging, target);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') {
        await rm(staging, { recursive: true, force: true });
        return 'exists';
      }
      throw fromSystemError(err, target, 'publishing the archive');
    }
    await fsyncDir(this.root);
    return 'published';
  }

  async exists(dir: string, rel = ''): Promise<boolean> {
    try {
      await stat(this.path(dir, rel));
      return true;
    } catch {
      return false;
    }
  }

  /** Every archive directory name under the root (hidden and non-archive names are skipped). */
  async listDirs(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw fromSystemError(err, this.root, 'listing the archive directory');
    }
    return names.filter((n) => !n.startsWith('.') && parseArchiveDirName(n) !== null).sort();
  }

  async readManifest(dir: string): Promise<Manifest> {
    const p = this.path(dir, MANIFEST_FILE);
    let text: string;
    try {
      text = await readFile(p, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new BlockFrameError('BF_MANIFEST_MISSING', `archive ${dir} has no ${MANIFEST_FILE}`, { archive: dir });
      }
      throw fromSystemError(err, p, 'reading the manifest');
    }
    const m = parseManifest(text, `${dir}/${MANIFEST_FILE}`);
    const parsed = parseArchiveDirName(dir);
    if (parsed && parsed.hash !== m.original_hash) {
      throw new BlockFrameError('BF_MANIFEST_INVALID', `${dir}/${MANIFEST_FILE}: field "original_hash" does not match the directory name`, {
        archive: dir,
        field: 'original_hash',
      });
    }
    return m;
  }

  /** All archives with their manifests; damaged ones carry `error` instead of failing the listing. */
  async list(): Promise<ArchiveEntry[]> {
    const out: ArchiveEntry[] = [];
    for (const dir of await this.listDirs()) {
      try {
        out.push({ dir, manifest: await this.readManifest(dir) });
      } catch (err) {
        if (err instanceof BlockFrameError) out.push({ dir, error: err });
        else throw err;
      }
    }
    return out;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
