// delete of snapshots (docs/FORMAT.md §13.6 "Delete"): NAME (its latest), NAME@ID, every snapshot of NAME, or --snapshot ID; header set first, then the name record; packs untouched until prune.
import { BlockFrameError } from '../errors.js';
import { readNameRecord, removeSnapshot, resolveSnapshot } from '../archive/names.js';
import { acquireShared, type RepoLockOptions } from '../archive/repo-lock.js';
import { withRepo, type Repository } from '../archive/repo.js';
import { deleteSnapshotHeader, listSnapshotIds, readSnapshotHeader } from '../archive/snapshots.js';
import { parseSnapshotHeader } from '../layout/snapshot-header.js';
import { checkAborted, type OperationOptions } from './context.js';

export interface SnapshotDeleteOptions extends OperationOptions {
  /** Say what would be deleted and change nothing. */
  dryRun?: boolean;
  /** A plain NAME means every snapshot of the name (default: only its latest). */
  allSnapshots?: boolean;
  /** Options of the shared repository lock (tests). */
  lock?: Omit<RepoLockOptions, 'signal'>;
  /** Hears each header-set file once it is gone from every store (a test stops there to play a crash). */
  afterStep?: (id: string, file: string) => void | Promise<void>;
}

/** One snapshot deleted (or that would be). */
export interface DeletedSnapshot {
  id: string;
  name: string;
  created_at: string;
  outcome: 'deleted' | 'planned';
}

/** What delete selects: `NAME` / `NAME@ID-PREFIX` specs, and snapshot ids (or unique id prefixes) given as such. */
export interface SnapshotSelection {
  specs?: string[];
  ids?: string[];
}

/**
 * Does `name` have a name record (any snapshot, even one being deleted)? The CLI uses it to tell a snapshot name from
 * a single-file archive's name. Errors: BF_USAGE (not a valid name), BF_NAME_RECORD_INVALID, store errors.
 */
export async function isSnapshotName(name: string, opts: OperationOptions = {}): Promise<boolean> {
  return withRepo(opts, async (repo) => (await readNameRecord(repo, name, opts.signal)).record !== null);
}

/**
 * Delete snapshots (docs/FORMAT.md §13.6 "Delete"). Every selection is resolved before the first deletion, and
 * nothing is deleted when any fails: `NAME` is the name's latest snapshot (every one with `allSnapshots`), `NAME@ID`
 * the one whose id starts with ID (BF_AMBIGUOUS_NAME for several, BF_ARCHIVE_NOT_FOUND for none); an id (or a prefix
 * of one) is looked up under snapshots/ (its header gives its name). Then, under a shared repository lock
 * (BF_REPO_LOCKED while a prune runs) and with every store present (BF_STORE_NOT_MOUNTED), each snapshot's header
 * set goes (sum and copy first, snapshot.json last), then its id from the name record. Packs and blobs stay until
 * `prune`. Returns the snapshots in the order deleted.
 */
export async function deleteSnapshots(sel: SnapshotSelection, opts: SnapshotDeleteOptions = {}): Promise<DeletedSnapshot[]> {
  if (!sel.specs?.length && !sel.ids?.length) throw new BlockFrameError('BF_USAGE', 'name a snapshot to delete: NAME, NAME@ID or --snapshot ID', { field: 'snapshot' });
  return withRepo(opts, async (repo) => {
    const targets = await resolveTargets(repo, sel, opts);
    if (opts.dryRun) return targets.map((t) => ({ ...t, outcome: 'planned' as const }));
    repo.requireAllStores();
    const lock = await acquireShared(repo, { ...opts.lock, signal: opts.signal });
    const out: DeletedSnapshot[] = [];
    try {
      for (const t of targets) {
        checkAborted(opts.signal);
        await deleteSnapshotHeader(repo, t.id, { signal: opts.signal, afterStep: opts.afterStep && ((f) => opts.afterStep!(t.id, f)) });
        await removeSnapshot(repo, t.name, t.id, opts.signal);
        out.push({ ...t, outcome: 'deleted' });
      }
    } finally {
      await lock.release().catch(() => undefined);
    }
    return out;
  });
}

async function resolveTargets(repo: Repository, sel: SnapshotSelection, opts: SnapshotDeleteOptions): Promise<Omit<DeletedSnapshot, 'outcome'>[]> {
  const out = new Map<string, Omit<DeletedSnapshot, 'outcome'>>();
  for (const spec of sel.specs ?? []) {
    const one = await resolveSnapshot(repo, spec, opts.signal);
    if (opts.allSnapshots && one.name === spec) {
      const rec = (await readNameRecord(repo, one.name, opts.signal)).record;
      for (const s of rec?.snapshots ?? []) out.set(s.id, { id: s.id, name: one.name, created_at: s.created_at });
    } else out.set(one.id, { id: one.id, name: one.name, created_at: one.created_at });
  }
  if (sel.ids?.length) {
    const all = await listSnapshotIds(repo, { signal: opts.signal });
    for (const q of sel.ids) {
      if (!/^[0-9a-f]{1,64}$/.test(q)) throw new BlockFrameError('BF_USAGE', `snapshot id ${JSON.stringify(q)} is not 1 to 64 lowercase hex digits`, { field: 'snapshot' });
      const hits = all.filter((id) => id.startsWith(q));
      if (hits.length === 0) throw new BlockFrameError('BF_ARCHIVE_NOT_FOUND', `no snapshot id starts with ${q}`, { snapshot: q });
      if (hits.length > 1) throw new BlockFrameError('BF_AMBIGUOUS_NAME', `snapshot id ${q} matches ${hits.length} snapshots: give more digits`, { snapshot: q, candidates: hits });
      const id = hits[0]!;
      const h = parseSnapshotHeader((await readSnapshotHeader(repo, id, { signal: opts.signal })).bytes, id);
      out.set(id, { id, name: h.name, created_at: h.created_at });
    }
  }
  return [...out.values()];
}
