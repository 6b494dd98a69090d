// The flush of S3 staging segments into packs (docs/FORMAT.md §13.9): under the shared lock, pack what is not indexed yet, write an index file, then delete the segments.
import { BlockFrameError } from '../errors.js';
import type { ComputePool } from '../compute/pool.js';
import { blake3Hex } from '../integrity/blake3.js';
import { stagingKey } from '../layout/keys.js';
import { parseStagingHeader } from '../layout/staging.js';
import { loadBlobIndex, writeIndexFile, type BlobIndex } from '../archive/blob-index.js';
import { PackWriter, type SealedPack } from '../archive/pack-writer.js';
import { acquireShared, type RepoLockOptions } from '../archive/repo-lock.js';
import type { Repository } from '../archive/repo.js';
import { VERSION } from '../version.js';

export interface FlushOptions {
  pool: ComputePool;
  /** Pack target of the new packs (default 64 MiB). */
  packTarget?: number;
  lock?: Omit<RepoLockOptions, 'signal'>;
  signal?: AbortSignal;
}

export interface FlushReport {
  /** Segments whose blobs are all in indexed packs now, and which were deleted. */
  flushed: string[];
  /** Segments left staged (unreadable or damaged on every store), with why. */
  failed: { id: string; message: string }[];
  /** Packs written. */
  packs: SealedPack[];
  /** Blobs packed, and blobs found already indexed (or twice in the flush) and not written again. */
  blobsWritten: number;
  blobsKnown: number;
  /** The blob index as loaded under the lock, with the new packs added. */
  index: BlobIndex;
}

/**
 * Flush segments `ids` (FORMAT.md §13.9): take the shared repository lock (so no prune runs meanwhile: a blob found
 * in a pack here stays there until the records naming it are counted by the next prune), load the index, append every
 * blob not already indexed to packs (PackWriter, §13.2; each blob checked against its hash), write one index file
 * listing the new packs, and only then delete the segments. A crash anywhere leaves every blob in a segment or an
 * indexed pack (or both). `read(id)` gives a segment's verified bytes.
 * @throws BF_REPO_LOCKED while a prune holds the repository (nothing changed); the stores' errors of packs and the
 * index file (the segments stay). A segment that cannot be read is reported in `failed` and kept.
 */
export async function flushSegments(repo: Repository, ids: string[], read: (id: string) => Promise<Buffer>, opts: FlushOptions): Promise<FlushReport> {
  const lock = await acquireShared(repo, { ...opts.lock, signal: opts.signal });
  try {
    const { index } = await loadBlobIndex(repo, { signal: opts.signal });
    const report: FlushReport = { flushed: [], failed: [], packs: [], blobsWritten: 0, blobsKnown: 0, index };
    const done: string[] = [];
    const w = await PackWriter.open(repo, { pool: opts.pool, signal: opts.signal, generator: `blockframe ${VERSION}`, target: opts.packTarget });
    try {
      for (const id of ids) {
        let bytes: Buffer;
        try {
          bytes = await read(id);
        } catch (err) {
          report.failed.push({ id, message: (err as Error).message });
          continue;
        }
        let h: ReturnType<typeof parseStagingHeader>;
        try {
          h = parseStagingHeader(bytes, stagingKey(id));
          const bad = h.blobs.find((b) => blake3Hex(bytes.subarray(h.bodyStart + b.offset, h.bodyStart + b.offset + b.size)) !== b.hash);
          if (bad || h.size !== bytes.length) throw new BlockFrameError('BF_STAGING_INVALID', `${stagingKey(id)}: ${bad ? `blob ${bad.hash} does not match its hash` : 'its length disagrees with its header'}`, { key: stagingKey(id) });
        } catch (err) {
          report.failed.push({ id, message: (err as Error).message });
          continue;
        }
        for (const b of h.blobs) {
          if (index.lookup(b.hash).length > 0 || w.has(b.hash)) {
            report.blobsKnown++;
            continue;
          }
          const body = bytes.subarray(h.bodyStart + b.offset, h.bodyStart + b.offset + b.size);
          report.packs.push(...(await w.beginBlob(b.size)));
          await w.append(body);
          report.packs.push(...(await w.commitBlob(b.hash)).sealed);
          report.blobsWritten++;
        }
        done.push(id);
      }
      report.packs.push(...(await w.flush()));
    } finally {
      await w.close();
    }
    if (report.packs.length > 0) {
      await writeIndexFile(repo, { createdAt: new Date().toISOString(), packs: report.packs.map((p) => ({ pack: p.pack, blobs: p.blobs })), archives: [] }, opts.signal);
      for (const p of report.packs) index.addPack(p.pack, p.blobs);
    }
    for (const id of done) {
      await repo.set.delete(stagingKey(id), opts.signal);
      report.flushed.push(id);
    }
    return report;
  } finally {
    await lock.release().catch(() => undefined);
  }
}
