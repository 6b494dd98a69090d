// prune (docs/FORMAT.md §13.6 "Prune"): under the exclusive repository lock, find the live blobs, delete dead packs and unused large blobs, repack sparse and small packs, and leave one index file.
import { BlockFrameError } from '../errors.js';
import { loadBlobIndex, writeIndexFile } from '../archive/blob-index.js';
import { withArchiveLock } from '../archive/lock.js';
import { PackWriter, type SealedPack } from '../archive/pack-writer.js';
import { cleanLeftovers } from '../archive/publish.js';
import { removeArchive } from '../archive/remove.js';
import { acquireExclusive, type RepoLockOptions } from '../archive/repo-lock.js';
import { withRepo, type Repository } from '../archive/repo.js';
import { listBlobDirs, listPackDirs } from '../archive/v3-dirs.js';
import { INDEX_PREFIX, indexIdOf, manifestKey, packDir } from '../layout/keys.js';
import type { IndexArchive, IndexPack } from '../layout/pack.js';
import { VERSION } from '../version.js';
import { BlobReader } from './blob-read.js';
import { checkAborted, withPool, type OperationOptions } from './context.js';
import { LiveSet } from './live-set.js';
import { markSnapshotBlobs } from './snapshot-blobs.js';
import { markS3Blobs } from './s3-live.js';

/** A pack whose live blob bytes are below this share of its blob bytes is sparse (§13.6 step 3). */
export const SPARSE_SHARE = 0.5;
/** Packs below this stream size are small (§13.6 step 3)… */
export const SMALL_PACK = 16 * 1024 * 1024;
/** …and are repacked once together they reach this many blob bytes. */
export const SMALL_PACKS_TOGETHER = 48 * 1024 * 1024;

/**
 * Where prune is (for progress, and for the crash tests that stop it there): after taking the lock, after the live
 * set, after classifying, after the first new pack is published (step 4 under way), after the new index file
 * (step 5), after the first old index file is deleted (step 6 under way), after the first pack's manifests are
 * deleted but before its shards (step 7 under way: a half-deleted pack), and at the end.
 */
export type PruneStep = 'lock' | 'live' | 'classify' | 'repack' | 'index' | 'drop-index' | 'drop-pack' | 'done';
export const PRUNE_STEPS: readonly PruneStep[] = ['lock', 'live', 'classify', 'repack', 'index', 'drop-index', 'drop-pack', 'done'];

export interface PruneOptions extends OperationOptions {
  /** Classify and report, change nothing (the lock is still taken, so the report is of a still repository). */
  dryRun?: boolean;
  /** Options of the exclusive lock (waits, staleness; tests). */
  lock?: Omit<RepoLockOptions, 'signal'>;
  /** Pack target of the new packs (default 64 MiB; tests use less). */
  packTarget?: number;
  /** Hears each step as prune passes it (awaited: a test may stop the process there). */
  onStep?: (step: PruneStep) => void | Promise<void>;
}

/** What prune found and did. Bytes are of stored streams (before parity and metadata), except where said. */
export interface PruneReport {
  dryRun: boolean;
  /** Snapshots whose bodies were read (every header under snapshots/, deleted ones in progress included). */
  snapshots: number;
  /** Distinct live blobs (the empty blob aside). */
  liveBlobs: number;
  packs: {
    /** Packs kept as they are. */
    kept: number;
    /** Packs deleted with no live blob (dead, orphans no index lists, and leftovers without a manifest). */
    deleted: number;
    /** Sparse or small packs whose live blobs were copied into new packs, then deleted. */
    repacked: number;
    /** New packs written by the repack. */
    written: number;
  };
  largeBlobs: { kept: number; deleted: number };
  indexFiles: { before: number; written: number; deleted: number };
  /** Stored-stream bytes of the packs and large blobs deleted, less those of the new packs. */
  bytesReclaimed: number;
  /** Blob bytes copied into new packs. */
  bytesRewritten: number;
  /** Leftover directories of crashed publishes removed first (section 9). */
  leftovers: string[];
}

interface PackStat {
  /** Blob bytes (each offset once). */
  total: number;
  live: number;
  offsets: Set<number>;
}

/**
 * Prune a format-v3 repository (docs/FORMAT.md §13.6 "Prune", steps 1 to 7, in that order; see there for what a
 * kill at each step leaves). Takes the exclusive repository lock (BF_REPO_LOCKED while a commit, delete or another
 * prune holds a fresh one), needs every store (BF_STORE_NOT_MOUNTED), and deletes nothing when any snapshot header
 * or body cannot be read (BF_UNRECOVERABLE, naming the snapshot) or a live blob has no location in an existing pack or
 * large blob (BF_BLOB_MISSING: run `repair --rebuild-index`, or `verify` to name the paths). Memory: the index
 * (about 52 bytes per blob), the live set (32 bytes per live blob), a set of offsets per pack, one pack table and one
 * blob (below 16 MiB) at a time.
 */
export async function prune(opts: PruneOptions = {}): Promise<PruneReport> {
  return withRepo(opts, (repo) => withPool(opts, async (pool) => {
    repo.requireAllStores();
    const step = async (s: PruneStep): Promise<void> => {
      await opts.onStep?.(s);
    };
    // 1. The exclusive lock.
    const lock = await acquireExclusive(repo, { ...opts.lock, signal: opts.signal });
    try {
      await step('lock');
      return await pruneLocked(repo, { ...opts, pool }, step);
    } finally {
      await lock.release().catch(() => undefined);
    }
  }));
}

async function pruneLocked(repo: Repository, opts: PruneOptions & { pool: NonNullable<OperationOptions['pool']> }, step: (s: PruneStep) => Promise<void>): Promise<PruneReport> {
  const { signal, pool } = opts;
  const report: PruneReport = {
    dryRun: !!opts.dryRun,
    snapshots: 0,
    liveBlobs: 0,
    packs: { kept: 0, deleted: 0, repacked: 0, written: 0 },
    largeBlobs: { kept: 0, deleted: 0 },
    indexFiles: { before: 0, written: 0, deleted: 0 },
    bytesReclaimed: 0,
    bytesRewritten: 0,
    leftovers: [],
  };
  // Section 9: a crashed publish's directory (pending marker, no manifest) is no pack yet.
  if (!opts.dryRun) report.leftovers = await cleanLeftovers(repo);

  // 2. The index, and the live set from every snapshot body.
  const { index, files } = await loadBlobIndex(repo, { signal });
  report.indexFiles.before = files;
  const reader = new BlobReader(repo, index, { pool, signal });
  try {
    const live = new LiveSet();
    report.snapshots = await markSnapshotBlobs(repo, reader, live, { signal });
    // FORMAT.md §13.9: blobs named by S3 version-3 object records and by staging segments are live too.
    const staged = new LiveSet();
    await markS3Blobs(repo, live, staged, signal);
    report.liveBlobs = live.size;
    await step('live');

    // 3. Classify.
    const onDisk = await listPackDirs(repo, signal);
    const withManifest = new Set<string>();
    const noManifest: string[] = [];
    for (const p of onDisk) {
      if (await repo.hasManifest(p.dir, signal)) withManifest.add(p.id);
      else noManifest.push(p.dir);
    }
    const large = await listBlobDirs(repo, signal);
    const largeThere = new Map<string, boolean>();
    for (const b of large) largeThere.set(b.id, await repo.hasManifest(b.dir, signal));

    const stats = new Map<string, PackStat>();
    const indexedArchives = new Map<string, number>();
    const located = new LiveSet();
    for (const { hash, loc } of index.entries()) {
      if (loc.kind === 'archive') {
        indexedArchives.set(hash, loc.size);
        if (largeThere.get(hash) && live.has(hash)) located.add(hash);
        continue;
      }
      if (!withManifest.has(loc.pack)) continue;
      let s = stats.get(loc.pack);
      if (!s) stats.set(loc.pack, (s = { total: 0, live: 0, offsets: new Set() }));
      if (s.offsets.has(loc.offset)) continue;
      s.offsets.add(loc.offset);
      s.total += loc.size;
      if (live.has(hash)) {
        s.live += loc.size;
        located.add(hash);
      }
    }
    // A blob in a staging segment (FORMAT.md §13.9) needs no pack: its bytes are in the segment.
    for (const h of staged.hashes()) if (live.has(h)) located.add(h);
    if (located.size !== live.size) {
      const missing: string[] = [];
      for (const h of live.hashes()) if (!located.has(h) && missing.push(h) >= 5) break;
      throw new BlockFrameError(
        'BF_BLOB_MISSING',
        `prune deleted nothing: ${live.size - located.size} live blob(s) have no location in an existing pack or large blob (first: ${missing.join(', ')}); run 'blockframe verify' to name the paths, and 'blockframe repair --rebuild-index' if the packs are there`,
        { missing: live.size - located.size, blobs: missing },
      );
    }
    const dead: string[] = [];
    const repack: string[] = [];
    const small: string[] = [];
    let smallBytes = 0;
    const kept: string[] = [];
    for (const [p, s] of [...stats].sort(([a], [b]) => (a < b ? -1 : 1))) {
      s.offsets.clear();
      if (s.live === 0) dead.push(p);
      else if (s.live < SPARSE_SHARE * s.total) repack.push(p);
      else if (s.total < SMALL_PACK) {
        small.push(p);
        smallBytes += s.total;
      } else kept.push(p);
    }
    if (smallBytes >= SMALL_PACKS_TOGETHER) repack.push(...small);
    else kept.push(...small);
    // Packs with a manifest that no index lists (a killed prune's or commit's new packs): no reader finds them.
    const orphans = [...withManifest].filter((p) => !stats.has(p)).sort();
    const keptSet = new Set(kept);
    const deadLarge = large.filter((b) => !live.has(b.id) || !largeThere.get(b.id));
    const liveLarge = large.filter((b) => live.has(b.id) && largeThere.get(b.id));
    report.packs.kept = kept.length;
    report.largeBlobs.kept = liveLarge.length;
    await step('classify');

    // Repacked packs first: the ones whose deletion needs the new index (so a crash test stopped at the first sees that).
    const packsToDelete = [...repack, ...dead, ...orphans].map(packDir).concat(noManifest);
    const nothingToDo = packsToDelete.length === 0 && deadLarge.length === 0 && files <= 1;
    if (opts.dryRun || nothingToDo) {
      report.packs.deleted = dead.length + orphans.length + noManifest.length;
      report.packs.repacked = repack.length;
      report.largeBlobs.deleted = deadLarge.length;
      if (opts.dryRun) {
        for (const p of [...dead, ...orphans, ...repack]) report.bytesReclaimed += await streamBytes(repo, packDir(p));
        for (const b of deadLarge) report.bytesReclaimed += await streamBytes(repo, b.dir);
        for (const p of repack) report.bytesRewritten += stats.get(p)!.live;
        report.bytesReclaimed -= report.bytesRewritten;
      }
      await step('done');
      return report;
    }

    // 4. Copy the live blobs of sparse and small packs into new packs (verified reads: a repack also heals).
    const sealed: SealedPack[] = [];
    if (repack.length > 0) {
      const w = await PackWriter.open(repo, { pool, signal, generator: `blockframe ${VERSION}`, target: opts.packTarget });
      try {
        const note = async (s: SealedPack[]): Promise<void> => {
          const first = sealed.length === 0 && s.length > 0;
          sealed.push(...s);
          if (first) await step('repack');
        };
        for (const p of repack) {
          for (const e of await reader.table(p)) {
            checkAborted(signal);
            if (!live.has(e.hash) || w.has(e.hash)) continue;
            if (index.lookup(e.hash).some((l) => l.kind === 'pack' && keptSet.has(l.pack))) continue;
            const bytes = await reader.read(e.hash);
            await note(await w.beginBlob(bytes.length));
            await w.append(bytes);
            const r = await w.commitBlob(e.hash);
            await note(r.sealed);
            report.bytesRewritten += bytes.length;
          }
        }
        await note(await w.flush());
      } finally {
        await w.close();
      }
    }
    report.packs.written = sealed.length;
    report.packs.repacked = repack.length;

    // 5. One new index file: every kept and new pack (tables read verified), every live large blob.
    const packs: IndexPack[] = [];
    for (const p of kept) packs.push({ pack: p, blobs: await reader.table(p) });
    for (const s of sealed) packs.push({ pack: s.pack, blobs: s.blobs });
    const archives: IndexArchive[] = [];
    for (const b of liveLarge) archives.push({ archive: b.id, size: indexedArchives.get(b.id) ?? (await repo.readManifest(b.dir)).size });
    let newKey: string | null = null;
    if (packs.length + archives.length > 0) {
      newKey = (await writeIndexFile(repo, { createdAt: new Date().toISOString(), packs, archives }, signal)).key;
      report.indexFiles.written = 1;
    }
    await step('index');

    // 6. Every other index file.
    const old: string[] = [];
    for await (const o of repo.set.listEach(INDEX_PREFIX, { signal })) if (!o.prefix && indexIdOf(o.key) && o.key !== newKey) old.push(o.key);
    for (const key of [...new Set(old)].sort()) {
      await repo.set.delete(key, signal);
      if (report.indexFiles.deleted++ === 0) await step('drop-index');
    }

    // 7. The packs no index file points at now, manifests first; then the large blobs no one uses.
    for (const p of sealed) report.bytesReclaimed -= p.size;
    let first = true;
    for (const dir of packsToDelete) {
      report.bytesReclaimed += await streamBytes(repo, dir);
      await withArchiveLock(repo, dir, () => repo.set.delete(manifestKey(dir), signal), signal);
      if (first) await step('drop-pack');
      first = false;
      await withArchiveLock(repo, dir, () => removeArchive(repo, dir, signal), signal);
    }
    report.packs.deleted = dead.length + orphans.length + noManifest.length;
    for (const b of deadLarge) {
      report.bytesReclaimed += await streamBytes(repo, b.dir);
      await withArchiveLock(repo, b.dir, () => removeArchive(repo, b.dir, signal), signal);
    }
    report.largeBlobs.deleted = deadLarge.length;
    await step('done');
    return report;
  } finally {
    await reader.close();
  }
}

/** Bytes of archive `dir`'s stored stream (its manifest's `size`), 0 when no manifest copy reads. */
async function streamBytes(repo: Repository, dir: string): Promise<number> {
  return repo.readManifest(dir).then((m) => m.size, () => 0);
}
