// The flush of S3 staging segments into packs (docs/FORMAT.md §13.9): under the shared lock, pack what is not indexed yet, write an index file, then delete the segments.
import { BlockFrameError } from '../errors.js';
import type { ComputePool } from '../compute/pool.js';
import { blake3Hex } from '../integrity/blake3.js';
import { INDEX_PREFIX, indexIdOf, stagingKey } from '../layout/keys.js';
import type { BlobEntry, IndexArchive, IndexPack } from '../layout/pack.js';
import { parseStagingHeader } from '../layout/staging.js';
import { ensureV3Marker } from '../archive/v3-marker.js';
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
  /** Merge the index files into one when there are more than this many (default INDEX_MERGE_AT, FORMAT.md §13.5). */
  mergeAt?: number;
}

/** More index files than this are merged into one by a flush (FORMAT.md §13.5: commit merges beyond 256). */
export const INDEX_MERGE_AT = 256;

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
  /** Index files merged into one new file and deleted (0 when there were at most `mergeAt`). */
  indexFilesMerged: number;
}

/**
 * Flush segments `ids` (FORMAT.md §13.9): take the shared repository lock (so no prune runs meanwhile: a blob found
 * in a pack here stays there until the records naming it are counted by the next prune), load the index, append every
 * blob not already indexed to packs (PackWriter, §13.2; each blob checked against its hash), write one index file
 * listing the new packs (and merge the index files into one when there are more than `mergeAt`), and only then
 * delete the segments. A crash anywhere leaves every blob in a segment or an
 * indexed pack (or both). `read(id)` gives a segment's verified bytes.
 * @throws BF_REPO_LOCKED while a prune holds the repository (nothing changed); the stores' errors of packs and the
 * index file (the segments stay). A segment that cannot be read is reported in `failed` and kept.
 */
export async function flushSegments(repo: Repository, ids: string[], read: (id: string) => Promise<Buffer>, opts: FlushOptions): Promise<FlushReport> {
  const lock = await acquireShared(repo, { ...opts.lock, signal: opts.signal });
  try {
    // Packs make this a format-v3 repository (FORMAT.md 13.10): the marker goes first, as a folder commit writes it.
    await ensureV3Marker(repo, opts.signal);
    const listed: string[] = [];
    for await (const o of repo.set.listEach(INDEX_PREFIX, { signal: opts.signal })) if (!o.prefix && indexIdOf(o.key)) listed.push(o.key);
    const { index, damaged } = await loadBlobIndex(repo, { signal: opts.signal });
    const report: FlushReport = { flushed: [], failed: [], packs: [], blobsWritten: 0, blobsKnown: 0, index, indexFilesMerged: 0 };
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
    let own: string | null = null;
    if (report.packs.length > 0) {
      own = (await writeIndexFile(repo, { createdAt: new Date().toISOString(), packs: report.packs.map((p) => ({ pack: p.pack, blobs: p.blobs })), archives: [] }, opts.signal)).key;
      for (const p of report.packs) index.addPack(p.pack, p.blobs);
    }
    if (listed.length > (opts.mergeAt ?? INDEX_MERGE_AT)) report.indexFilesMerged = await mergeIndex(repo, index, [...new Set([...listed, ...(own ? [own] : [])])], new Set(damaged.map((d) => d.key)), opts.signal);
    for (const id of done) {
      await repo.set.delete(stagingKey(id), opts.signal);
      report.flushed.push(id);
    }
    return report;
  } finally {
    await lock.release().catch(() => undefined);
  }
}

/**
 * FORMAT.md §13.5 "Commit merges index files when there are more than 256": one new file listing everything `index`
 * holds (every pack once, its blobs in offset order; every large blob), written first; then the files `listed` before
 * the load (and the flush's own, which the merged file covers) are deleted, but not those with a damaged copy (left for verify and repair). Files written by others since
 * the listing are kept. Returns how many were deleted.
 */
async function mergeIndex(repo: Repository, index: BlobIndex, listed: string[], damaged: Set<string>, signal?: AbortSignal): Promise<number> {
  const packs = new Map<string, Map<number, BlobEntry>>();
  const archives: IndexArchive[] = [];
  for (const { hash, loc } of index.entries()) {
    if (loc.kind === 'archive') {
      archives.push({ archive: hash, size: loc.size });
      continue;
    }
    let p = packs.get(loc.pack);
    if (!p) packs.set(loc.pack, (p = new Map()));
    p.set(loc.offset, { hash, offset: loc.offset, size: loc.size });
  }
  const merged: IndexPack[] = [...packs].map(([pack, blobs]) => ({ pack, blobs: [...blobs.values()].sort((a, b) => a.offset - b.offset) }));
  const { key } = await writeIndexFile(repo, { createdAt: new Date().toISOString(), packs: merged, archives }, signal);
  let n = 0;
  for (const k of listed) {
    if (k === key || damaged.has(k)) continue;
    await repo.set.delete(k, signal);
    n++;
  }
  return n;
}
