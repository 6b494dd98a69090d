// Merging index files (docs/FORMAT.md §13.5): above 256 index files, a commit writes one file with every entry of the files it loaded, then deletes those files.
import type { BlobIndex } from '../archive/blob-index.js';
import { writeIndexFile } from '../archive/blob-index.js';
import type { Repository } from '../archive/repo.js';
import type { BlobEntry, IndexArchive, IndexPack } from '../layout/pack.js';

/** A commit merges the index files when it loaded more than this many (§13.5). */
export const INDEX_MERGE_ABOVE = 256;

/**
 * When `loaded` (the keys of the index files `index` was loaded from) holds more than INDEX_MERGE_ABOVE files:
 * write one index file with every pack line (each pack's whole table, from the entries) and large-blob line of
 * `index`, then delete the files of `loaded` (never a file that did not load: a damaged one stays for repair to see,
 * and files written since the load, by this or another commit, are not in `loaded`). The new file is durable on
 * every store before the first delete, so every entry stays in some index file at every instant. Run it under the
 * shared repository lock (prune, which deletes packs, holds the exclusive one). Memory: the entries grouped by
 * pack (about 100 bytes per blob). Returns null when there was nothing to merge, or a pack's entries do not form a
 * whole table (then nothing is written or deleted). @throws store errors; BF_ABORTED.
 */
export async function mergeIndexFiles(repo: Repository, index: BlobIndex, loaded: readonly string[], now: Date, signal?: AbortSignal): Promise<{ key: string; merged: number } | null> {
  if (loaded.length <= INDEX_MERGE_ABOVE) return null;
  const packs = new Map<string, Map<number, BlobEntry>>();
  const archives: IndexArchive[] = [];
  for (const { hash, loc } of index.entries()) {
    if (loc.kind === 'archive') archives.push({ archive: hash, size: loc.size });
    else {
      let t = packs.get(loc.pack);
      if (!t) packs.set(loc.pack, (t = new Map()));
      t.set(loc.offset, { hash, offset: loc.offset, size: loc.size });
    }
  }
  const lines: IndexPack[] = [];
  for (const [pack, t] of packs) {
    const blobs = [...t.values()].sort((a, b) => a.offset - b.offset);
    let at = 0;
    for (const b of blobs) {
      if (b.offset !== at) return null; // not a whole table: leave the files as they are
      at += b.size;
    }
    lines.push({ pack, blobs });
  }
  const { key } = await writeIndexFile(repo, { createdAt: now.toISOString(), packs: lines, archives }, signal);
  let merged = 0;
  for (const k of loaded) {
    if (k === key) continue;
    await repo.set.delete(k, signal);
    merged++;
  }
  return { key, merged };
}
