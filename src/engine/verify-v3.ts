// verify and repair of a format-v3 repository (docs/FORMAT.md §13.8): packs and large blobs as archives (one at a time), index against packs, snapshot headers and streamed bodies, and the paths a lost blob breaks.
import { BlockFrameError } from '../errors.js';
import type { ComputePool } from '../compute/pool.js';
import { loadBlobIndex, writeIndexFile, type BlobIndex } from '../archive/blob-index.js';
import { rebuildNames } from '../archive/names.js';
import { ensureV3Marker, hasV3Marker } from '../archive/v3-marker.js';
import type { Repository } from '../archive/repo.js';
import { listSnapshotIds, readSnapshotHeader, repairSnapshot } from '../archive/snapshots.js';
import { listBlobDirs, listPackDirs } from '../archive/v3-dirs.js';
import { INDEX_PREFIX, indexIdOf } from '../layout/keys.js';
import type { IndexArchive, IndexPack } from '../layout/pack.js';
import { BlobReader } from './blob-read.js';
import { withPool, type OperationOptions } from './context.js';
import { withRepo } from '../archive/repo.js';
import { readSnapshotWhole } from './snapshot-blobs.js';
import { verifyArchive, type ArchiveHealth, type Health } from './verify.js';
import { repairArchive } from './repair.js';

/** At most this many paths are named per snapshot that needs a missing blob (the count is always given). */
export const PATHS_NAMED = 1000;

/** A pack or large blob that is not healthy (healthy ones are only counted: memory stays bounded). */
export interface V3ArchiveProblem {
  dir: string;
  status: Health;
  /** Files of the archive directory that are missing or damaged (as verify of an archive names them). */
  problems: ArchiveHealth['problems'];
}

/** The format-v3 part of a verify report (`verify --json` field `v3`; docs/http-api.md shape notes in docs/FORMAT.md §13.8). */
export interface V3Report {
  status: Health;
  packs: { checked: number; damaged: V3ArchiveProblem[] };
  largeBlobs: { checked: number; damaged: V3ArchiveProblem[] };
  /** Index files: how many loaded, and copies or files that are damaged (a key and why); `disagree` lists the packs whose index entries differ from their tables, or that no index lists. */
  index: { files: number; damaged: { key: string; store?: number; reason: string }[]; unindexed: string[]; disagree: string[]; missingPacks: string[] };
  snapshots: {
    checked: number;
    /** Header copies missing or damaged on some store (repair rewrites them). */
    headerDamage: { id: string; store: number; file: string }[];
    /** Snapshots that cannot be read (header or body): id, code, message. */
    unreadable: { id: string; code: string; message: string }[];
    /** Files whose blob has no valid location: per snapshot, the paths (up to PATHS_NAMED) and their count. */
    missing: { id: string; name: string; count: number; paths: string[] }[];
  };
}

/**
 * Is this a format-v3 repository: does a store hold the marker catalog/repository.json (archive/v3-marker.ts:
 * written by every folder commit, so a repository whose every v3 object is damaged is still one), or a pack or large blob with a readable manifest, an index file that
 * loads, or a snapshot header that hashes to its id? Stray or broken files under the v3 names alone do not make one
 * (a version-2 root holding them verifies as before: test/engine/v3-names-in-v2-root.test.ts). A listing that fails
 * counts as no (the archive part of verify reports the store); BF_ABORTED is thrown.
 */
export async function hasV3(repo: Repository, signal?: AbortSignal): Promise<boolean> {
  try {
    if (await hasV3Marker(repo, signal)) return true;
    for (const d of [...(await listPackDirs(repo, signal)), ...(await listBlobDirs(repo, signal))]) if (await repo.readManifest(d.dir).then(() => true, () => false)) return true;
    if ((await loadBlobIndex(repo, { signal })).files > 0) return true;
    for (const id of await listSnapshotIds(repo, { signal })) if (await readSnapshotHeader(repo, id, { signal }).then(() => true, () => false)) return true;
  } catch (err) {
    if (err instanceof BlockFrameError && err.code === 'BF_ABORTED') throw err;
  }
  return false;
}

/**
 * Verify the format-v3 part of a repository (docs/FORMAT.md §13.8): every pack and large blob as an archive, one at
 * a time; the index files (hash and lines) and that each listed pack exists and its verified table agrees with the
 * index; every snapshot header against its id and its body streamed (lines valid, every file's blob with a valid
 * location: an entry whose pack is not beyond repair and whose table lists it). Paths whose blob has no valid
 * location are named (a pack damaged beyond repair is found this way). Memory: the index, one pack's table and
 * geometry, one body line and path per level. Errors: store errors when nothing answers; BF_ABORTED.
 */
export async function verifyV3(repo: Repository, pool: ComputePool, opts: OperationOptions = {}): Promise<V3Report> {
  const { signal } = opts;
  const r: V3Report = {
    status: 'healthy',
    packs: { checked: 0, damaged: [] },
    largeBlobs: { checked: 0, damaged: [] },
    index: { files: 0, damaged: [], unindexed: [], disagree: [], missingPacks: [] },
    snapshots: { checked: 0, headerDamage: [], unreadable: [], missing: [] },
  };
  const lost = new Set<string>();
  const packs = await listPackDirs(repo, signal);
  for (const p of packs) {
    const h = await verifyArchive(repo, p.dir, pool, { signal });
    r.packs.checked++;
    if (h.status !== 'healthy') r.packs.damaged.push({ dir: p.dir, status: h.status, problems: h.problems });
    if (h.status === 'unrecoverable') lost.add(p.id);
  }
  for (const b of await listBlobDirs(repo, signal)) {
    const h = await verifyArchive(repo, b.dir, pool, { signal });
    r.largeBlobs.checked++;
    if (h.status !== 'healthy') r.largeBlobs.damaged.push({ dir: b.dir, status: h.status, problems: h.problems });
    if (h.status === 'unrecoverable') lost.add(b.id);
  }
  const { index, files, damaged } = await loadBlobIndex(repo, { signal });
  r.index.files = files;
  r.index.damaged = damaged.map((d) => ({ key: d.key, store: d.store, reason: d.reason }));
  // Index against packs: per listed pack, its entries (each offset once) against its verified table.
  const listed = new Map<string, Map<number, string>>();
  for (const { hash, loc } of index.entries()) if (loc.kind === 'pack') (listed.get(loc.pack) ?? listed.set(loc.pack, new Map()).get(loc.pack)!).set(loc.offset, hash);
  const onDisk = new Set(packs.map((p) => p.id));
  const reader = new BlobReader(repo, index, { pool, signal });
  try {
    for (const [p, entries] of listed) {
      if (!onDisk.has(p)) {
        r.index.missingPacks.push(p);
        continue;
      }
      if (lost.has(p)) continue;
      const table = await reader.table(p).catch(() => null);
      if (!table || table.length !== entries.size || table.some((e) => entries.get(e.offset) !== e.hash)) r.index.disagree.push(p);
    }
    for (const p of packs) if (!listed.has(p.id)) r.index.unindexed.push(p.dir);
    // Snapshots: headers against ids, bodies streamed, every blob located.
    const valid = (hash: string): boolean => index.lookup(hash).some((l) => (l.kind === 'pack' ? onDisk.has(l.pack) && !lost.has(l.pack) && !r.index.disagree.includes(l.pack) : !lost.has(l.hash)));
    for (const id of await listSnapshotIds(repo, { signal })) {
      r.snapshots.checked++;
      let name = '';
      try {
        const head = await readSnapshotHeader(repo, id, { signal });
        for (const d of head.damaged) r.snapshots.headerDamage.push({ id, store: d.store + 1, file: d.file });
        const miss = { id, name, count: 0, paths: [] as string[] };
        const h = await readSnapshotWhole(repo, reader, id, (e) => {
          if (e.type !== 'file' || e.size === 0 || valid(e.blob)) return;
          miss.count++;
          if (miss.paths.length < PATHS_NAMED) miss.paths.push(e.path.toString('utf8'));
        }, signal);
        name = h.name;
        if (miss.count) r.snapshots.missing.push({ ...miss, name });
      } catch (err) {
        if (err instanceof BlockFrameError && err.code === 'BF_ABORTED') throw err;
        r.snapshots.unreadable.push({ id, code: err instanceof BlockFrameError ? err.code : 'BF_INTERNAL', message: err instanceof Error ? err.message : String(err) });
      }
    }
  } finally {
    await reader.close();
  }
  const unrecoverable = lost.size > 0 || r.snapshots.unreadable.length > 0 || r.snapshots.missing.length > 0;
  const repairable = r.packs.damaged.length + r.largeBlobs.damaged.length + r.index.damaged.length + r.index.disagree.length + r.index.unindexed.length + r.index.missingPacks.length + r.snapshots.headerDamage.length > 0;
  r.status = unrecoverable ? 'unrecoverable' : repairable ? 'repairable' : 'healthy';
  return r;
}

/** What repairV3 did. */
export interface V3Repair {
  /** Packs and large blobs repaired (as archives), and those beyond repair. */
  archives: { dir: string; outcome: string }[];
  snapshotsRewritten: { id: string; files: number }[];
  /** The key of the rebuilt index file, when the index was rebuilt; and the index files deleted. */
  index: { rebuilt: string | null; deleted: number };
  names: { written: number; removed: number };
  /** Stores the repository marker (catalog/repository.json) was written to: missing or damaged there. */
  marker: number;
}

/**
 * Repair the format-v3 part (docs/FORMAT.md §13.8 "repair"): heal every damaged pack and large blob as an archive,
 * rewrite damaged snapshot header files from a good copy (repairSnapshot), rebuild the index from the pack tables
 * (§13.5 "Rebuild": one new file, then the others deleted) when `rebuildIndex` is set or the index disagrees with the
 * packs, and rebuild the name records from the snapshot headers (rebuildNames). Runs verifyV3 first.
 */
export async function repairV3(repo: Repository, pool: ComputePool, opts: OperationOptions & { rebuildIndex?: boolean; dryRun?: boolean } = {}): Promise<{ before: V3Report; repair: V3Repair }> {
  const before = await verifyV3(repo, pool, opts);
  const out: V3Repair = { archives: [], snapshotsRewritten: [], index: { rebuilt: null, deleted: 0 }, names: { written: 0, removed: 0 }, marker: 0 };
  if (opts.dryRun) return { before, repair: out };
  repo.requireAllStores();
  for (const a of [...before.packs.damaged, ...before.largeBlobs.damaged]) {
    const x = await repairArchive(repo, a.dir, pool, { signal: opts.signal });
    out.archives.push({ dir: a.dir, outcome: x.outcome });
  }
  for (const id of [...new Set(before.snapshots.headerDamage.map((d) => d.id))]) {
    const s = await repairSnapshot(repo, id, opts.signal);
    out.snapshotsRewritten.push({ id, files: s.rewritten.length });
  }
  const i = before.index;
  if (opts.rebuildIndex || i.damaged.length || i.disagree.length || i.unindexed.length || i.missingPacks.length) out.index = await rebuildIndex(repo, pool, opts.signal);
  out.marker = await ensureV3Marker(repo, opts.signal);
  const n = await rebuildNames(repo, { signal: opts.signal });
  out.names = { written: n.written.length, removed: n.removed.length };
  return { before, repair: out };
}

/**
 * Rebuild the index from the packs (FORMAT.md §13.5 "Rebuild"): every pack's verified table and every large blob's
 * manifest into one new index file, then every other index file deleted. A pack whose table cannot be read is left
 * out (its blobs are then missing: verify names the paths).
 */
export async function rebuildIndex(repo: Repository, pool: ComputePool, signal?: AbortSignal): Promise<{ rebuilt: string | null; deleted: number }> {
  const reader = new BlobReader(repo, { lookup: () => [] } as unknown as BlobIndex, { pool, signal });
  const packs: IndexPack[] = [];
  const archives: IndexArchive[] = [];
  try {
    for (const p of await listPackDirs(repo, signal)) {
      const blobs = await reader.table(p.id).catch(() => null);
      if (blobs) packs.push({ pack: p.id, blobs });
    }
  } finally {
    await reader.close();
  }
  for (const b of await listBlobDirs(repo, signal)) {
    const m = await repo.readManifest(b.dir).catch(() => null);
    if (m && m.original_hash === b.id) archives.push({ archive: b.id, size: m.size });
  }
  let key: string | null = null;
  if (packs.length + archives.length) key = (await writeIndexFile(repo, { createdAt: new Date().toISOString(), packs, archives }, signal)).key;
  let deleted = 0;
  const old: string[] = [];
  for await (const o of repo.set.listEach(INDEX_PREFIX, { signal })) if (!o.prefix && indexIdOf(o.key) && o.key !== key) old.push(o.key);
  for (const k of [...new Set(old)]) {
    await repo.set.delete(k, signal);
    deleted++;
  }
  return { rebuilt: key, deleted };
}

/** verifyV3 on the repository `opts` names, or null when it holds nothing of format v3 (for the CLI's `verify`). */
export async function verifyRepository(opts: OperationOptions = {}): Promise<V3Report | null> {
  return withRepo(opts, async (repo) => ((await hasV3(repo, opts.signal)) ? withPool(opts, (pool) => verifyV3(repo, pool, opts)) : null));
}

/** repairV3 on the repository `opts` names, or null when it holds nothing of format v3 (for the CLI's `repair`). */
export async function repairRepository(opts: OperationOptions & { rebuildIndex?: boolean; dryRun?: boolean } = {}): Promise<{ before: V3Report; repair: V3Repair } | null> {
  return withRepo(opts, async (repo) => ((await hasV3(repo, opts.signal)) ? withPool(opts, (pool) => repairV3(repo, pool, opts)) : null));
}
