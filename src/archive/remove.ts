// Removing keys from the stores: one archive whole (delete, a re-commit that rewrites, S3 retiring), or one key
// and whatever squats below it (repair). The only place archive keys are deleted in bulk.
import { archivePrefix, childrenPrefix, isManifestKey, manifestKey } from '../layout/keys.js';
import type { Repository } from './repo.js';

/**
 * Delete every key of archive `dir` on every store. The manifest goes first on every store, so no reader opens a
 * half-removed archive; then, store by store, the other manifest copies, then shards, the chunk index and any
 * leftover directory. The caller holds the archive's lock. Throws the first store error (a store that does not
 * answer keeps its part: the archive is then listed as damaged there until `delete` or `repair` runs again).
 */
export async function removeArchive(repo: Repository, dir: string, signal?: AbortSignal): Promise<void> {
  await repo.set.delete(manifestKey(dir), signal);
  for (let d = 0; d < repo.set.size; d++) {
    await repo.set.on(d, async (b) => {
      const keys: string[] = [];
      for await (const o of b.list(archivePrefix(dir), { signal })) keys.push(o.key.replace(/\/$/, ''));
      keys.sort((x, y) => Number(!isManifestKey(x)) - Number(!isManifestKey(y)));
      for (const k of keys) await b.delete(k, signal);
    });
  }
}

/** Delete `key` on store `d`, and first anything below it (a directory squatting where a file belongs). */
export async function removeKeyTree(repo: Repository, d: number, key: string, signal?: AbortSignal): Promise<void> {
  await repo.set.on(d, async (b) => {
    const inside: string[] = [];
    for await (const o of b.list(childrenPrefix(key), { signal })) inside.push(o.key);
    for (const k of inside) await b.delete(k, signal);
    await b.delete(key, signal);
  });
}

/** Does any store hold any key of archive `dir`? */
export async function hasArchiveKeys(repo: Repository, dir: string, signal?: AbortSignal): Promise<boolean> {
  for await (const o of repo.set.list(archivePrefix(dir), { signal })) if (o) return true;
  return false;
}
