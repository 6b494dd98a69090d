// The S3 part of a prune's live set (docs/FORMAT.md §13.6 step 2, §13.9): blobs named by version-3 object records and by staging segments.
import { BlockFrameError } from '../errors.js';
import { S3_OBJECTS_PREFIX, S3_STAGING_PREFIX, stagingIdOf } from '../layout/keys.js';
import { EMPTY_BLOB } from '../layout/pack.js';
import { parseStagingHeader, STAGING_HEADER_MAX } from '../layout/staging.js';
import type { Repository } from '../archive/repo.js';
import { getAll } from '../store/backend.js';
import type { LiveSet } from './live-set.js';

/** No object record is plausibly larger (one with 2 KiB of user metadata is about 4 KiB). */
const RECORD_MAX = 1024 * 1024;

/**
 * Mark live every blob a version-3 S3 object record (`.s3/objects/{bucket}/*.json`, field `blob`) or a staging
 * segment (`.s3/staging/*.seg`, its header line) names. Reads every store's listing (the union), each record and
 * each segment's header from the first store that has it. Blobs of segments also go into `staged`: their bytes are
 * in the segment, so they need no pack (the next flush packs them). Returns how many records and segments were read.
 * @throws BlockFrameError BF_UNRECOVERABLE when a record or segment header cannot be read or parsed (prune then
 * deletes nothing: its blobs are not known to be dead); store errors.
 */
export async function markS3Blobs(repo: Repository, live: LiveSet, staged: LiveSet, signal?: AbortSignal): Promise<{ records: number; segments: number }> {
  const out = { records: 0, segments: 0 };
  const stop = (key: string, why: string, cause?: unknown) =>
    new BlockFrameError('BF_UNRECOVERABLE', `prune deleted nothing: ${key} cannot be read (${why}), so the blobs it names are not known to be dead`, { key }, cause === undefined ? undefined : { cause });
  for await (const o of repo.set.listEach(S3_OBJECTS_PREFIX, { signal })) {
    if (o.prefix || !o.key.endsWith('.json')) continue;
    const bytes = await getAll(repo.set, o.key, RECORD_MAX, signal).catch((err: unknown) => {
      throw stop(o.key, (err as Error).message, err);
    });
    if (!bytes) continue; // deleted since the listing (a DeleteObject): names nothing now
    let blob: unknown;
    try {
      blob = (JSON.parse(new TextDecoder().decode(bytes)) as { blob?: unknown }).blob;
    } catch (err) {
      throw stop(o.key, 'not JSON', err);
    }
    if (typeof blob !== 'string' || !/^[0-9a-f]{64}$/.test(blob)) throw stop(o.key, 'no "blob" of 64 hex digits');
    if (blob !== EMPTY_BLOB) live.add(blob);
    out.records++;
  }
  for await (const o of repo.set.listEach(S3_STAGING_PREFIX, { signal })) {
    if (o.prefix || !stagingIdOf(o.key)) continue;
    const head = Buffer.allocUnsafe(STAGING_HEADER_MAX);
    let n: number;
    try {
      n = await repo.set.get(o.key, head, 0, signal);
    } catch (err) {
      if (err instanceof BlockFrameError && err.code === 'BF_STORE_KEY_MISSING') continue; // flushed since the listing
      throw stop(o.key, (err as Error).message, err);
    }
    try {
      for (const b of parseStagingHeader(head.subarray(0, n), o.key).blobs) {
        live.add(b.hash);
        staged.add(b.hash);
      }
    } catch (err) {
      throw stop(o.key, (err as Error).message, err);
    }
    out.segments++;
  }
  return out;
}
