// The local-directory store: where archives live on disk, staging, atomic publish and stale-staging cleanup.
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { BlockFrameError, fromSystemError } from '../errors.js';
import { MANIFEST_COPY, MANIFEST_FILE, MANIFEST_SUM, manifestSumText, parseManifest, parseManifestSum, type Manifest } from '../layout/manifest.js';
import { blake3Hex } from '../integrity/blake3.js';
import { parseArchiveDirName } from '../layout/names.js';
import { fsyncDir, writeFileAtomic } from './fsutil.js';

export const STAGING_DIR = '.staging';
export const DEFAULT_ARCHIVE = 'archive_directory';

/** The archive root from an explicit option, then BLOCKFRAME_ARCHIVE, then ./archive_directory. */
export function resolveArchiveRoot(option?: string): string {
  return resolve(option ?? process.env.BLOCKFRAME_ARCHIVE ?? DEFAULT_ARCHIVE);
}

export interface ManifestRead {
  manifest: Manifest;
  /** The exact text of the manifest that was used. */
  text: string;
  /** Which of manifest.json, manifest.copy.json and manifest.b3 are missing or wrong. */
  damaged: string[];
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

  /** The archive's manifest, falling back to its redundant copy (see loadManifest). */
  async readManifest(dir: string): Promise<Manifest> {
    return (await this.loadManifest(dir)).manifest;
  }

  /**
   * Read manifest.json, manifest.copy.json and manifest.b3 and pick a good manifest: one whose bytes match the
   * checksum file and that validates; failing that, one that validates. `damaged` names the files that are
   * missing or wrong, so verify can report them and repair can rewrite them.
   */
  async loadManifest(dir: string): Promise<ManifestRead> {
    const [primary, copy, sum] = await Promise.all([MANIFEST_FILE, MANIFEST_COPY, MANIFEST_SUM].map((f) => this.readText(dir, f)));
    const expected = sum === null ? null : parseManifestSum(sum);
    const candidates = [
      { file: MANIFEST_FILE, text: primary },
      { file: MANIFEST_COPY, text: copy },
    ];
    let firstError: BlockFrameError | undefined;
    const parsed = candidates.map((c) => {
      if (c.text === null) return null;
      try {
        const m = parseManifest(c.text, `${dir}/${c.file}`);
        if (parseArchiveDirName(dir)?.hash !== m.original_hash) {
          throw new BlockFrameError('BF_MANIFEST_INVALID', `${dir}/${c.file}: field "original_hash" does not match the directory name`, { archive: dir, field: 'original_hash' });
        }
        return m;
      } catch (err) {
        if (!(err instanceof BlockFrameError)) throw err;
        firstError ??= err;
        return null;
      }
    });
    const sums = candidates.map((c) => (c.text === null ? null : blake3Hex(new TextEncoder().encode(c.text))));
    let pick = parsed.findIndex((m, i) => m !== null && expected !== null && sums[i] === expected);
    if (pick < 0) pick = parsed.findIndex((m) => m !== null);
    if (pick < 0) {
      if (primary === null && copy === null) {
        throw new BlockFrameError('BF_MANIFEST_MISSING', `archive ${dir} has no ${MANIFEST_FILE}`, { archive: dir });
      }
      throw firstError!;
    }
    const good = sums[pick]!;
    const damaged: string[] = [];
    candidates.forEach((c, i) => {
      if (sums[i] !== good) damaged.push(c.file);
    });
    if (expected !== good) damaged.push(MANIFEST_SUM);
    return { manifest: parsed[pick]!, text: candidates[pick]!.text!, damaged };
  }

  private async readText(dir: string, file: string): Promise<string | null> {
    const p = this.path(dir, file);
    try {
      return await readFile(p, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw fromSystemError(err, p, 'reading the manifest');
    }
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

/**
 * Write manifest.json, its copy and its checksum into an archive (or staging) directory, each atomically.
 * The copy and checksum go first, so a crash part-way always leaves one manifest that matches the checksum.
 */
export async function writeManifestSet(dirPath: string, text: string): Promise<void> {
  await writeFileAtomic(join(dirPath, MANIFEST_COPY), text);
  await writeFileAtomic(join(dirPath, MANIFEST_SUM), manifestSumText(blake3Hex(new TextEncoder().encode(text))));
  await writeFileAtomic(join(dirPath, MANIFEST_FILE), text);
}
