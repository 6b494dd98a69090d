// The library entry: the typed public API of BlockFrame.
import { ComputePool } from './compute/pool.js';
import { commit, type CommitOptions, type CommitResult } from './engine/commit.js';
import type { OperationOptions } from './engine/context.js';
import { find, info, list, type ArchiveListing, type ArchiveSummary } from './engine/find.js';
import { cat, restore, type RestoreOptions, type RestoreResult } from './engine/restore.js';
import type { Manifest } from './layout/manifest.js';
import type { Writable } from 'node:stream';

export { commit, find, info, list, restore, cat, ComputePool };
export type { CommitOptions, CommitResult, OperationOptions, ArchiveListing, ArchiveSummary, RestoreOptions, RestoreResult, Manifest };
export { BlockFrameError, ERROR_CODES, EXIT, isBlockFrameError, type ErrorCode } from './errors.js';
export { createReedSolomon, simdAvailable, type ReedSolomon } from './codec/index.js';
export { merkleProof, merkleRootHex, verifyMerkleProof, type MerkleProof } from './integrity/merkle.js';
export { parseManifest, serializeManifest, manifestSchema, FORMAT_VERSION } from './layout/manifest.js';
export { computeGeometry, segmentsForRange, type Geometry } from './layout/geometry.js';
export { chooseTier, DEFAULTS, type Tier, type TierPolicy } from './layout/tiers.js';
export { parseSize, formatSize } from './layout/units.js';
export { VERSION } from './version.js';

/**
 * One archive root with a long-lived compute pool: the convenient way to run several operations.
 *
 *   const bf = new BlockFrame({ archive: 'archive_directory' });
 *   await bf.commit('my_dataset.bin');
 *   const file = await bf.find('my_dataset.bin');
 *   await bf.restore('my_dataset.bin', 'copy.bin');
 *   await bf.close();
 */
export class BlockFrame {
  private pool?: ComputePool;
  constructor(private readonly options: { archive?: string } = {}) {}

  private opts<T extends OperationOptions>(extra?: T): T {
    this.pool ??= ComputePool.start();
    return { ...extra, archive: this.options.archive, pool: this.pool } as T;
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
  async close(): Promise<void> {
    await this.pool?.close();
    this.pool = undefined;
  }
}
