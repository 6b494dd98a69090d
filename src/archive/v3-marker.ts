// The format-v3 repository marker, catalog/repository.json (docs/FORMAT.md §13.10): written by the first folder commit on every store, so a repository whose every v3 object is damaged is still known to be one.
import { BlockFrameError } from '../errors.js';
import { textSource } from '../store/backend.js';
import { V3_MARKER_KEY } from '../layout/keys.js';
import type { Repository } from './repo.js';

/** The marker's bytes: one JSON line. */
export const V3_MARKER_TEXT = '{"format_version":3,"kind":"repository"}\n';

/**
 * Does any store hold the marker (whatever its bytes: a damaged marker still marks)? Store errors count as no
 * (verify reports the stores); BF_ABORTED is thrown.
 */
export async function hasV3Marker(repo: Repository, signal?: AbortSignal): Promise<boolean> {
  try {
    return (await repo.set.stat(V3_MARKER_KEY, signal)) !== null;
  } catch (err) {
    if (err instanceof BlockFrameError && err.code === 'BF_ABORTED') throw err;
    return false;
  }
}

/**
 * Write the marker on every store that lacks it or holds other bytes (an atomic put each). Needs every store (as a
 * commit does). @returns the number of stores written. @throws store errors; BF_ABORTED.
 */
export async function ensureV3Marker(repo: Repository, signal?: AbortSignal): Promise<number> {
  const want = Buffer.from(V3_MARKER_TEXT);
  let written = 0;
  await Promise.all(
    repo.set.domains.map((_, d) =>
      repo.set.on(d, async (b) => {
        const st = await b.stat(V3_MARKER_KEY, signal);
        if (st && st.size === want.length) {
          const have = Buffer.alloc(want.length);
          await b.get(V3_MARKER_KEY, have, 0, signal);
          if (have.equals(want)) return;
        }
        await b.put(V3_MARKER_KEY, textSource(V3_MARKER_TEXT), signal);
        written++;
      }),
    ),
  );
  return written;
}
