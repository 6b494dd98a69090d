// Snapshot header sets on the stores (docs/FORMAT.md §13.3, §13.6 "Delete"): write, read, list, delete and repair.
// The header's JSON is built and validated by layout/snapshot.ts; this module moves its bytes, named by their BLAKE3.
import { BlockFrameError } from '../errors.js';
import { blake3Hex, initBlake3 } from '../integrity/blake3.js';
import { isHex } from '../integrity/hex.js';
import { parseSnapshotKey, snapshotDir, snapshotKey, SNAPSHOT_COPY, SNAPSHOT_FILE, SNAPSHOT_SUM, SNAPSHOTS_PREFIX, type SnapshotFileName } from '../layout/keys.js';
import { bytesSource, getAll, textSource } from '../store/backend.js';
import { withArchiveLock } from './lock.js';
import type { Repository } from './repo.js';

/** No header is plausibly larger than this (its fields are fixed; a 4,096-character name escapes to under 25 KiB). */
export const SNAPSHOT_HEADER_MAX_BYTES = 1024 * 1024;

/** One file of a snapshot's header set on one store (0-based). */
export interface SnapshotFileRef {
  store: number;
  file: SnapshotFileName;
}

/** What readSnapshotHeader found. */
export interface SnapshotRead {
  /** The snapshot id: 64 lowercase hex digits, the BLAKE3 of `bytes`. */
  id: string;
  /** The header's exact bytes (a copy that hashes to `id`). */
  bytes: Uint8Array;
  /** Files missing or wrong on stores that answered (a copy that does not hash to `id`, a wrong sum): repairSnapshot rewrites them. */
  damaged: SnapshotFileRef[];
  /** Stores (0-based) that did not answer, or refused access. */
  unavailable: number[];
  /**
   * False when no store that answered holds a valid snapshot.b3: a delete's first step ran (or a write stopped before
   * its second). Such a snapshot is being deleted: readers skip it, repair leaves it alone, prune still counts it.
   */
  complete: boolean;
}

/** The text of snapshot.b3 for snapshot `id`: b3sum's format, `"<id>  snapshot.json\n"`. */
export function snapshotSumText(id: string): string {
  return `${id}  ${SNAPSHOT_FILE}\n`;
}

/** The id a snapshot.b3 names, or null when the text is not exactly in b3sum's format for snapshot.json. */
export function parseSnapshotSum(text: string): string | null {
  const m = /^([0-9a-f]{64}) {2}snapshot\.json\n$/.exec(text);
  return m ? m[1]! : null;
}

/** Throws BF_HEX_INVALID unless `id` is 64 lowercase hex digits. */
export function checkSnapshotId(id: string): void {
  if (!isHex(id, 32)) throw new BlockFrameError('BF_HEX_INVALID', `snapshot id ${JSON.stringify(id)} is not 64 lowercase hex digits`, { field: 'snapshot' });
}

/** Every store (0-based) of the repository. */
function allStores(repo: Repository): number[] {
  return repo.set.domains.map((_, d) => d);
}

/** Run `fn` on every store at once; after all settle, throw the first failure. */
async function onEvery(repo: Repository, stores: number[], fn: (d: number) => Promise<void>): Promise<void> {
  const results = await Promise.allSettled(stores.map(fn));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
}

/**
 * Write snapshot `id`'s header set whole to every store: on each, snapshot.copy.json, then snapshot.b3, then
 * snapshot.json, each an atomic put (so snapshot.json's presence means the set is whole there). Idempotent: the
 * same bytes may be written again after a failure. Needs every store (docs/FORMAT.md §9.1, §13.10).
 * Errors: BF_INTERNAL when `bytes` do not hash to `id` (a caller's bug); BF_HEX_INVALID; BF_STORE_NOT_MOUNTED /
 * BF_STORE_FOREIGN (a store absent); store errors (after every store settled; some stores may then hold the set).
 */
export async function writeSnapshotHeader(repo: Repository, id: string, bytes: Uint8Array, signal?: AbortSignal): Promise<void> {
  checkSnapshotId(id);
  await initBlake3();
  if (blake3Hex(bytes) !== id) throw new BlockFrameError('BF_INTERNAL', `snapshot header bytes do not hash to ${id}`, { snapshot: id });
  if (bytes.length > SNAPSHOT_HEADER_MAX_BYTES) throw new BlockFrameError('BF_INTERNAL', `snapshot header is ${bytes.length} bytes, over ${SNAPSHOT_HEADER_MAX_BYTES}`, { snapshot: id });
  repo.requireAllStores();
  await onEvery(repo, allStores(repo), (d) =>
    repo.set.on(d, async (b) => {
      await b.put(snapshotKey(id, SNAPSHOT_COPY), bytesSource(bytes), signal);
      await b.put(snapshotKey(id, SNAPSHOT_SUM), textSource(snapshotSumText(id)), signal);
      await b.put(snapshotKey(id, SNAPSHOT_FILE), bytesSource(bytes), signal);
    }),
  );
}

/** One file's bytes on store `d`, or null when missing, not a regular file or implausibly large (all damage). */
async function readFile(repo: Repository, d: number, key: string, signal?: AbortSignal): Promise<Uint8Array | null> {
  try {
    return await repo.set.on(d, (b) => getAll(b, key, SNAPSHOT_HEADER_MAX_BYTES, signal));
  } catch (err) {
    if (err instanceof BlockFrameError && (err.code === 'BF_STORE_NOT_A_FILE' || err.context.tooLarge === true)) return null;
    throw err;
  }
}

const READ_ORDER = [SNAPSHOT_FILE, SNAPSHOT_COPY, SNAPSHOT_SUM] as const;

/**
 * Read snapshot `id`'s header: every store's three files, the first copy (snapshot.json or snapshot.copy.json, any
 * store) whose BLAKE3 is `id` is the header, and every other file that is missing or differs is reported in
 * `damaged` (as loadManifest does for manifests). A snapshot being deleted (`complete` false: see SnapshotRead) is
 * refused unless `includeIncomplete`.
 * Errors: BF_HEX_INVALID (a bad id); BF_ARCHIVE_NOT_FOUND (no copy on any store that answered, or being deleted);
 * BF_SNAPSHOT_INVALID (copies exist but none hashes to `id`); BF_STORE_UNAVAILABLE / BF_STORE_DENIED (no store
 * answered); BF_ABORTED.
 */
export async function readSnapshotHeader(repo: Repository, id: string, opts: { signal?: AbortSignal; includeIncomplete?: boolean } = {}): Promise<SnapshotRead> {
  checkSnapshotId(id);
  await initBlake3();
  const n = repo.set.size;
  const files: (Uint8Array | null)[][] = [];
  const unavailable: number[] = [];
  let storeErr: unknown;
  await Promise.all(
    allStores(repo).map(async (d) => {
      try {
        files[d] = await Promise.all(READ_ORDER.map((f) => readFile(repo, d, snapshotKey(id, f), opts.signal)));
      } catch (err) {
        if (err instanceof BlockFrameError && err.code === 'BF_ABORTED') throw err;
        storeErr ??= err;
        unavailable.push(d);
        files[d] = [null, null, null];
      }
    }),
  );
  if (unavailable.length === n) throw storeErr;
  let good: Uint8Array | undefined;
  let anyCopy = false;
  for (let d = 0; d < n && !good; d++) {
    for (const i of [0, 1]) {
      const b = files[d]![i];
      if (!b) continue;
      anyCopy = true;
      if (blake3Hex(b) === id) {
        good = b;
        break;
      }
    }
  }
  if (!good) {
    if (!anyCopy) throw new BlockFrameError('BF_ARCHIVE_NOT_FOUND', `no snapshot ${id}`, { snapshot: id });
    throw new BlockFrameError('BF_SNAPSHOT_INVALID', `snapshot ${id}: no copy of ${SNAPSHOT_FILE} on any store hashes to the id`, { snapshot: id });
  }
  const sum = snapshotSumText(id);
  const damaged: SnapshotFileRef[] = [];
  let complete = false;
  for (let d = 0; d < n; d++) {
    if (unavailable.includes(d)) continue;
    READ_ORDER.forEach((file, i) => {
      const b = files[d]![i];
      const ok = b !== null && (i === 2 ? new TextDecoder().decode(b) === sum : Buffer.from(b).equals(Buffer.from(good)));
      if (ok && i === 2) complete = true;
      if (!ok) damaged.push({ store: d, file });
    });
  }
  if (!complete && !opts.includeIncomplete) throw new BlockFrameError('BF_ARCHIVE_NOT_FOUND', `snapshot ${id} is being deleted (no ${SNAPSHOT_SUM} on any store)`, { snapshot: id, deleting: true });
  return { id, bytes: good, damaged, unavailable: unavailable.sort((a, b) => a - b), complete };
}

/**
 * The ids of the snapshots on the stores: one recursive listing of `snapshots/` per store, their union, sorted
 * (a snapshot on any store counts once). By default only ids some store lists a snapshot.b3 for (a snapshot being
 * deleted, or whose write never reached its sum, is skipped); with `includeIncomplete`, every id with any file of
 * its set (what prune must count as live). Stray names under `snapshots/` are ignored. `onStoreError` hears of each
 * store that could not be listed. Errors: the store error when no store answers; BF_ABORTED.
 */
export async function listSnapshotIds(repo: Repository, opts: { signal?: AbortSignal; includeIncomplete?: boolean; onStoreError?: (d: number, err: unknown) => void } = {}): Promise<string[]> {
  const ids = new Set<string>();
  for await (const o of repo.set.listEach(SNAPSHOTS_PREFIX, { signal: opts.signal }, opts.onStoreError)) {
    const k = parseSnapshotKey(o.key);
    if (k && (opts.includeIncomplete || k.file === SNAPSHOT_SUM)) ids.add(k.id);
  }
  return [...ids].sort();
}

/**
 * Delete snapshot `id`'s header set from every store (docs/FORMAT.md §13.6 "Delete"): snapshot.b3 on every store,
 * then snapshot.copy.json on every store, then snapshot.json, so a delete stopped at any point leaves a set that
 * readers skip (no sum) or nothing. Held under the local lock of §9.2 keyed by the snapshot's directory, so a repair
 * of the same snapshot never rewrites what the delete removes. `afterStep` hears each file once it is gone from every
 * store (progress; a test stops there to play a crash). Needs every store. Deleting a missing snapshot is not an error.
 * Errors: BF_HEX_INVALID; BF_STORE_NOT_MOUNTED / BF_STORE_FOREIGN; store errors (the delete stops; run it again).
 */
export async function deleteSnapshotHeader(repo: Repository, id: string, opts: { signal?: AbortSignal; afterStep?: (file: SnapshotFileName) => void | Promise<void> } = {}): Promise<void> {
  checkSnapshotId(id);
  repo.requireAllStores();
  await withArchiveLock(
    repo,
    snapshotDir(id),
    async () => {
      for (const file of [SNAPSHOT_SUM, SNAPSHOT_COPY, SNAPSHOT_FILE] as const) {
        await onEvery(repo, allStores(repo), (d) => repo.set.on(d, (b) => b.delete(snapshotKey(id, file), opts.signal)));
        await opts.afterStep?.(file);
      }
    },
    opts.signal,
  );
}

/** What repairSnapshot did. */
export interface SnapshotRepair {
  id: string;
  /** Files rewritten from a good copy. */
  rewritten: SnapshotFileRef[];
  /** Stores that did not answer: not checked, not written. */
  unavailable: number[];
}

/**
 * Rewrite every damaged or missing file of snapshot `id`'s header set, on every store that answers, from a copy
 * that hashes to `id` (per store: the copy, then the sum, then snapshot.json, each atomic). A snapshot being deleted
 * (no sum anywhere) is left alone: BF_ARCHIVE_NOT_FOUND, as readSnapshotHeader. Held under the same local lock as
 * deleteSnapshotHeader. Errors: those of readSnapshotHeader; store errors of the writes.
 */
export async function repairSnapshot(repo: Repository, id: string, signal?: AbortSignal): Promise<SnapshotRepair> {
  checkSnapshotId(id);
  return withArchiveLock(
    repo,
    snapshotDir(id),
    async () => {
      const r = await readSnapshotHeader(repo, id, { signal });
      const byStore = new Map<number, SnapshotFileName[]>();
      for (const f of r.damaged) byStore.set(f.store, [...(byStore.get(f.store) ?? []), f.file]);
      const order = [SNAPSHOT_COPY, SNAPSHOT_SUM, SNAPSHOT_FILE] as const;
      await onEvery(repo, [...byStore.keys()], (d) =>
        repo.set.on(d, async (b) => {
          for (const file of order) {
            if (!byStore.get(d)!.includes(file)) continue;
            await b.put(snapshotKey(id, file), file === SNAPSHOT_SUM ? textSource(snapshotSumText(id)) : bytesSource(r.bytes), signal);
          }
        }),
      );
      const rewritten = order.flatMap((file) => r.damaged.filter((f) => f.file === file)).sort((a, b) => a.store - b.store);
      return { id, rewritten, unavailable: r.unavailable };
    },
    signal,
  );
}
