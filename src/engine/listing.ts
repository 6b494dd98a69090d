// `blockframe list`: the single-file archives (engine/find.ts) and the format-v3 snapshots, through one open repository.
import { loadSecrets } from '../archive/keyring.js';
import { withRepo } from '../archive/repo.js';
import type { OperationOptions } from './context.js';
import { listIn, type ArchiveListing } from './find.js';
import { listSnapshots, type SnapshotListing } from './snapshots.js';

export interface RepositoryListing extends ArchiveListing {
  /** The format-v3 snapshots (see listSnapshots), and the name records or headers that could not be read. */
  snapshots: SnapshotListing['snapshots'];
  snapshotsDamaged: SnapshotListing['damaged'];
}

/**
 * Everything a repository holds, for `list`: archives as list() gives them, then the snapshots, from the same open
 * stores (one marker check, and a store cut off while listing archives is not asked again for the snapshots).
 * `all`: also snapshots no name record names. Errors: as list().
 */
export async function listRepository(opts: OperationOptions & { ledger?: string; all?: boolean } = {}): Promise<RepositoryListing> {
  const secrets = await loadSecrets(opts.keys);
  return withRepo(opts, async (repo) => {
    const l = await listIn(repo, secrets, opts);
    const s = await listSnapshots(repo, { all: opts.all, signal: opts.signal });
    return { ...l, snapshots: s.snapshots, snapshotsDamaged: s.damaged };
  });
}
