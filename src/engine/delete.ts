// delete: remove archives from every store (by directory name, file name or hash prefix, as restore finds them).
import { withArchiveLock } from '../archive/lock.js';
import { removeArchive } from '../archive/remove.js';
import { withRepo, type Repository } from '../archive/repo.js';
import { checkAborted, type OperationOptions } from './context.js';
import { resolveArchive } from './find.js';
import { loadSecrets, shownName } from '../archive/keyring.js';

export interface DeleteOptions extends OperationOptions {
  /** Say what would be deleted and change nothing. */
  dryRun?: boolean;
}

export interface DeletedArchive {
  dir: string;
  /** The file name the manifest records ("(encrypted)" without a key; null when no manifest copy could be read). */
  name: string | null;
  /** Bytes of the file; null when no manifest copy could be read. */
  size: number | null;
  outcome: 'deleted' | 'planned';
}

/**
 * Delete each named archive from every store: its manifest first (readers stop finding it at once), then every
 * other key of it. Each name must match exactly one archive (else BF_AMBIGUOUS_NAME / BF_ARCHIVE_NOT_FOUND, and
 * nothing is deleted: all names are resolved before the first deletion). An archive whose every manifest copy is
 * damaged can be deleted by its directory name. Runs under each archive's lock (BF_ARCHIVE_BUSY after the wait).
 * A store that does not answer fails the call with its store error; what it holds stays until a later delete. A
 * store that is absent (not mounted: docs/FORMAT.md §14) fails it before anything is deleted (BF_STORE_NOT_MOUNTED).
 */
export async function deleteArchives(queries: string[], opts: DeleteOptions = {}): Promise<DeletedArchive[]> {
  const secrets = await loadSecrets(opts.keys);
  return withRepo(opts, async (repo) => {
    const dirs: string[] = [];
    for (const q of queries) {
      const dir = await resolveArchive(repo, q, secrets);
      if (!dirs.includes(dir)) dirs.push(dir);
    }
    // A store that is absent (not mounted) would keep its copy and bring the archive back when it returns.
    if (!opts.dryRun) repo.requireAllStores();
    const out: DeletedArchive[] = [];
    for (const dir of dirs) {
      checkAborted(opts.signal);
      const m = await repo.readManifest(dir).catch(() => null);
      const entry: DeletedArchive = { dir, name: m ? shownName(m) : null, size: m ? m.size : null, outcome: 'planned' };
      if (!opts.dryRun) {
        await deleteArchive(repo, dir, opts.signal);
        entry.outcome = 'deleted';
      }
      out.push(entry);
    }
    return out;
  });
}

/** Delete archive `dir` of an open repository under its lock (for frontends and re-commit that already resolved it). */
export async function deleteArchive(repo: Repository, dir: string, signal?: AbortSignal): Promise<void> {
  await withArchiveLock(repo, dir, () => removeArchive(repo, dir, signal), signal);
}
