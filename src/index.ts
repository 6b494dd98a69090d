// The library entry: the typed public API of BlockFrame.
import { ComputePool } from './compute/pool.js';
import { commit, commitInput, type CommitOptions, type CommitResult } from './engine/commit.js';
import type { OperationOptions } from './engine/context.js';
import { find, info, list, type ArchiveListing, type ArchiveSummary, type Level2Summary } from './engine/find.js';
import { cat, restore, type RestoreOptions, type RestoreResult } from './engine/restore.js';
import type { Manifest } from './layout/manifest.js';
import { createReadStream, openArchive, read, type ReadOptions } from './engine/read.js';
import { repair, type RepairOptions, type RepairReport } from './engine/repair.js';
import { deleteArchives, type DeleteOptions, type DeletedArchive } from './engine/delete.js';
import { verify, verifySegment, type SegmentCheck, type VerifyReport } from './engine/verify.js';
import type { Readable } from 'node:stream';
import type { Writable } from 'node:stream';
import { resolveStores, type StoreOptions } from './store/config.js';
import type { StoreSet } from './store/store-set.js';

export { commit, commitInput, find, info, list, restore, cat, read, createReadStream, openArchive, verify, verifySegment, repair, deleteArchives, ComputePool };
// Format v3 operations (ops): delete of snapshots, prune, verify and repair of the v3 part (docs/FORMAT.md §13.6, §13.8).
export { deleteSnapshots, type SnapshotDeleteOptions, type DeletedSnapshot, type SnapshotSelection } from './engine/delete-snapshot.js';
export { prune, PRUNE_STEPS, type PruneOptions, type PruneReport, type PruneStep } from './engine/prune.js';
export { verifyRepository, repairRepository, type V3Report, type V3Repair } from './engine/verify-v3.js';
export type { ReadOptions, RepairOptions, RepairReport, VerifyReport, SegmentCheck, DeleteOptions, DeletedArchive };
export type { Damage } from './archive/read/reader.js';
export { parseRange } from './layout/range.js';
export { ReadAhead, type WindowOptions, type Window } from './archive/read/read-ahead.js';
export type { CommitOptions, CommitResult, OperationOptions, ArchiveListing, ArchiveSummary, Level2Summary, RestoreOptions, RestoreResult, Manifest };
export { BlockFrameError, ERROR_CODES, EXIT, isBlockFrameError, type ErrorCode } from './errors.js';
export {
  allocCodecBuffer, codecKernel, createReedSolomon, nativeAvailable, releaseCodecBuffer, simdAvailable, type CodecKernelInfo, type KernelName, type ReedSolomon,
} from './codec/index.js';
export { merkleProof, merkleRootHex, verifyMerkleProof, type MerkleProof } from './integrity/merkle.js';
export { parseManifest, serializeManifest, manifestSchema, FORMAT_VERSION } from './layout/manifest.js';
export { computeGeometry, segmentsForRange, type Geometry } from './layout/geometry.js';
export { chooseTier, DEFAULTS, type Tier, type TierPolicy } from './layout/tiers.js';
export { parseSize, formatSize } from './layout/units.js';
export { VERSION } from './version.js';
export { createBlockFrameServer, type BlockFrameServer, type ServerOptions } from './server/server.js';
export type { ArchiveVisibility } from './server/visibility.js';
export { createS3Server, type S3Server, type S3ServerOptions } from './s3/server.js';
export { Metrics, type Collected, type Sample } from './metrics.js';
export { Notifier, type AlertEvent, type AlertKind, type AlertMessage, type NotifierOptions } from './engine/notify.js';
export { AccessLog, type AccessLogFormat } from './http/observe.js';
export { anonymousVisibility, loadAnonymousVisibility } from './s3/visibility.js';
export type { Backend, BackendCaps, ObjectInfo, PutSource, ListOptions } from './store/backend.js';
export { LocalBackend } from './store/local.js';
export { fileSource, type InputFile, type InputSource, type InputStat } from './io/input.js';
export { partsSource } from './io/input-parts.js';
export { MemBackend } from './store/mem.js';
export { S3Backend, type S3Options } from './store/s3.js';
export { StoreSet } from './store/store-set.js';
export { RetryBackend, LimitBackend, TimeoutBackend, FaultBackend, type RetryPolicy, type FaultRule } from './store/wrap.js';
export { parseStoreSpec, openBackend, type StoreOptions, type StoreSpec } from './store/config.js';
export { chooseCode, PLACEMENT_RULE, type Placement } from './layout/placement.js';
// Format v3 snapshots: restore of a tree, list, ls and verified reads of a file in a snapshot (restore branch).
export { restoreTree, type RestoreTreeOptions, type RestoreTreeResult } from './engine/restore-tree.js';
export {
  snapshots,
  lsSnapshot,
  readSnapshotFile,
  catSnapshotFile,
  parseSnapshotRef,
  withSnapshotSession,
  findSnapshotFile,
  type SnapshotRef,
  type SnapshotSummary,
  type SnapshotListing,
  type SnapshotFile,
  type LsEntry,
} from './engine/snapshots.js';
// Proof of one file of a snapshot (format v3, docs/FORMAT.md §13.8), and the reads that survive a concurrent prune.
export { proveFile, checkFileProof, FILE_PROOF_KIND, type FileProof, type ProofSegment } from './engine/file-proof.js';
// Folder commits (format v3, docs/FORMAT.md §13.6): commit directory trees as snapshots.
export { commitTree, type CommitTreeOptions, type CommitTreeResult, type TreePathError, type TreeProgress } from './engine/commit-tree.js';

/**
 * One archive root (or store set) with a long-lived compute pool and open stores: the convenient way to run
 * several operations. Options are those of every operation: `archive`, or `stores` (+ `failures`), or `config`,
 * or an open `storeSet`.
 *
 *   const bf = new BlockFrame({ archive: 'archive_directory' });
 *   await bf.commit('my_dataset.bin');
 *   const file = await bf.find('my_dataset.bin');
 *   await bf.verify();                       // or bf.repair()
 *   const head = await bf.read('my_dataset.bin', 0, 1024);
 *   await bf.restore('my_dataset.bin', 'copy.bin');
 *   await bf.close();
 */
export class BlockFrame {
  private pool?: ComputePool;
  private stores?: StoreSet;
  constructor(private readonly options: StoreOptions = {}) {}

  private opts<T extends OperationOptions>(extra?: T): T {
    this.pool ??= ComputePool.start();
    this.stores ??= this.options.storeSet ?? resolveStores(this.options).set;
    return { ...extra, storeSet: this.stores, pool: this.pool } as T;
  }

  commit(file: string, opts?: Omit<CommitOptions, 'archive' | 'pool'>): Promise<CommitResult> {
    return commit(file, this.opts(opts));
  }
  list(): Promise<ArchiveListing> {
    return list(this.opts());
  }
  find(name: string): Promise<ArchiveSummary> {
    return find(name, this.opts());
  }
  info(name: string): Promise<{ summary: ArchiveSummary; manifest: Manifest }> {
    return info(name, this.opts());
  }
  restore(name: string, output: string, opts?: Omit<RestoreOptions, 'archive' | 'pool'>): Promise<RestoreResult> {
    return restore(name, output, this.opts(opts));
  }
  cat(name: string, dest: Writable, opts?: Omit<OperationOptions, 'archive' | 'pool'>): Promise<void> {
    return cat(name, dest, this.opts(opts));
  }
  /** Verified bytes [offset, offset + length), rebuilt from parity where shards are damaged. */
  read(name: string, offset: number, length: number, opts?: Omit<ReadOptions, 'archive' | 'pool'>): Promise<Buffer> {
    return read(name, offset, length, this.opts(opts));
  }
  /** A Readable of verified bytes [start, end] (end inclusive). */
  createReadStream(name: string, range?: { start?: number; end?: number }, opts?: Omit<ReadOptions, 'archive' | 'pool'>): Readable {
    return createReadStream(name, range, this.opts(opts));
  }
  verify(names: string[] = [], opts?: Omit<OperationOptions, 'archive' | 'pool'>): Promise<VerifyReport> {
    return verify(names, this.opts(opts));
  }
  verifySegment(name: string, segment: number): Promise<SegmentCheck> {
    return verifySegment(name, segment, this.opts());
  }
  repair(names: string[] = [], opts?: Omit<RepairOptions, 'archive' | 'pool'>): Promise<RepairReport> {
    return repair(names, this.opts(opts));
  }
  /** Remove archives from every store (each name must match exactly one archive; see deleteArchives). */
  delete(names: string[], opts?: Omit<DeleteOptions, 'archive' | 'pool'>): Promise<DeletedArchive[]> {
    return deleteArchives(names, this.opts(opts));
  }
  async close(): Promise<void> {
    await this.pool?.close();
    this.pool = undefined;
    if (this.stores && this.stores !== this.options.storeSet) await this.stores.close();
    this.stores = undefined;
  }
}
