// Reading every snapshot of a repository to its last body line (docs/FORMAT.md §13.6 step 2, §13.8): the header checked against its id, the body streamed, verified and checked against the header.
import { BlockFrameError } from '../errors.js';
import { listSnapshotIds, readSnapshotHeader } from '../archive/snapshots.js';
import type { Repository } from '../archive/repo.js';
import { EMPTY_BLOB } from '../layout/pack.js';
import { checkBodyAgainstHeader, parseSnapshotHeader, type SnapshotHeader } from '../layout/snapshot-header.js';
import { readBody, type SnapshotEntry } from '../layout/snapshot.js';
import { createBlake3Stream } from '../integrity/blake3.js';
import type { BlobReader } from './blob-read.js';
import type { LiveSet } from './live-set.js';

/**
 * Read snapshot `id` whole: its header (any copy hashing to `id`, sets being deleted included) and its body, streamed
 * through `reader` (verified, memory for one line and one path per level), each entry handed to `onEntry`, the body's
 * totals and BLAKE3 checked against the header. Returns the header.
 * Errors: BF_SNAPSHOT_INVALID / BF_PATH_UNSAFE (a bad header or body line), BF_BLOB_MISSING (the body blob has no
 * valid location), BF_ARCHIVE_NOT_FOUND, store errors, BF_ABORTED.
 */
export async function readSnapshotWhole(repo: Repository, reader: BlobReader, id: string, onEntry: (e: SnapshotEntry) => void | Promise<void>, signal?: AbortSignal): Promise<SnapshotHeader> {
  const read = await readSnapshotHeader(repo, id, { signal, includeIncomplete: true });
  const h = parseSnapshotHeader(read.bytes, id);
  const hasher = await createBlake3Stream();
  const hashed = (async function* () {
    for await (const chunk of reader.stream(h.root_hash, 0, h.root_size) as AsyncIterable<Buffer>) {
      hasher.update(chunk);
      yield chunk;
    }
  })();
  const body = readBody(hashed, { signal });
  for (;;) {
    const r = await body.next();
    if (r.done) {
      checkBodyAgainstHeader(h, r.value, hasher.digestHex());
      break;
    }
    await onEntry(r.value);
  }
  return h;
}

/**
 * Mark every blob any snapshot needs as live (prune, §13.6 step 2): every header under snapshots/ (sets being deleted
 * included: their blobs are not known to be dead), its body blob and every file's blob (the empty blob aside).
 * Returns the number of snapshots read.
 * Errors: BF_UNRECOVERABLE naming the first snapshot that cannot be read (its cause in `context.cause`): a caller
 * that deletes must delete nothing then; the store error when a store cannot be listed; BF_ABORTED.
 */
export async function markSnapshotBlobs(repo: Repository, reader: BlobReader, live: LiveSet, opts: { signal?: AbortSignal } = {}): Promise<number> {
  let listErr: unknown;
  const ids = await listSnapshotIds(repo, { signal: opts.signal, includeIncomplete: true, onStoreError: (_d, err) => (listErr ??= err) });
  if (listErr) throw listErr;
  for (const id of ids) {
    try {
      const h = await readSnapshotWhole(repo, reader, id, (e) => {
        if (e.type === 'file' && e.blob !== EMPTY_BLOB) live.add(e.blob);
      }, opts.signal);
      if (h.root_size > 0) live.add(h.root_hash);
    } catch (err) {
      if (err instanceof BlockFrameError && err.code === 'BF_ABORTED') throw err;
      const code = err instanceof BlockFrameError ? err.code : 'BF_INTERNAL';
      throw new BlockFrameError('BF_UNRECOVERABLE', `snapshot ${id} cannot be read (${err instanceof Error ? err.message : String(err)} [${code}]): nothing was deleted, since its blobs are not known to be dead`, { snapshot: id, cause: code });
    }
  }
  return ids.length;
}
