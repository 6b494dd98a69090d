// The archive directories of a format-v3 repository below the root (docs/FORMAT.md §13.10): packs/xx/pack_p and blobs/xx/blob_h, as the stores list them.
import { BLOBS_PREFIX, PACKS_PREFIX } from '../layout/keys.js';
import type { Repository } from './repo.js';

const PACK_DIR = /^packs\/([0-9a-f]{2})\/pack_([0-9a-f]{64})$/;
const BLOB_DIR = /^blobs\/([0-9a-f]{2})\/blob_([0-9a-f]{64})$/;

/** A pack or large-blob directory found on the stores: its directory and its id (the pack id, or the blob's hash). */
export interface V3Dir {
  dir: string;
  id: string;
}

async function listTwoLevels(repo: Repository, prefix: string, re: RegExp, signal?: AbortSignal): Promise<V3Dir[]> {
  const out = new Map<string, string>();
  const fans: string[] = [];
  for await (const o of repo.set.listEach(prefix, { delimiter: '/', signal })) if (o.prefix) fans.push(o.key);
  for (const fan of fans.sort()) {
    for await (const o of repo.set.listEach(fan, { delimiter: '/', signal })) {
      if (!o.prefix) continue;
      const dir = o.key.replace(/\/$/, '');
      const m = re.exec(dir);
      if (m && m[2]!.startsWith(m[1]!)) out.set(dir, m[2]!);
    }
  }
  return [...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([dir, id]) => ({ dir, id }));
}

/**
 * Every pack directory (`packs/{p[0:2]}/pack_{p}`) any store lists, with or without a manifest, sorted, each once.
 * Names that do not follow the layout (a stray file, a wrong fan-out) are ignored. Errors: the store error when no
 * store can be listed; BF_ABORTED.
 */
export function listPackDirs(repo: Repository, signal?: AbortSignal): Promise<V3Dir[]> {
  return listTwoLevels(repo, PACKS_PREFIX, PACK_DIR, signal);
}

/** Every large-blob directory (`blobs/{h[0:2]}/blob_{h}`) any store lists, as listPackDirs. */
export function listBlobDirs(repo: Repository, signal?: AbortSignal): Promise<V3Dir[]> {
  return listTwoLevels(repo, BLOBS_PREFIX, BLOB_DIR, signal);
}
