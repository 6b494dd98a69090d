// Commit's staging and publish protocol. Shards are spooled locally (random access: rows of a stripe, level-2 folds), then
// published: one directory rename on a single local store; across several stores, every shard first and the
// manifest set last, so no store ever shows a half-archive, with a pending marker for crash leftovers.
import { hostname } from 'node:os';
import { BlockFrameError } from '../errors.js';
import { CHUNK_INDEX_FILE } from '../layout/chunks.js';
import { MANIFEST_COPY, MANIFEST_FILE, MANIFEST_SUM, manifestSumText } from '../layout/manifest.js';
import { blake3Hex } from '../integrity/blake3.js';
import { textSource } from '../store/backend.js';
import { fsyncDir } from '../io/fsutil.js';
import { pidAlive } from '../store/local.js';
import { Spool, type SpoolFile } from '../store/spool.js';
import { listBlobDirs, listPackDirs } from './v3-dirs.js';
import type { Repository } from './repo.js';
import { archiveKey, archivePrefix, chunkIndexKey, manifestKey, MANIFEST_FILES, pendingKey } from '../layout/keys.js';
import { spoolFor } from './shards.js';
import { settleAll } from '../flow.js';

/** Parallel puts per store while publishing. */
const PUT_CONCURRENCY = 4;
/** A pending marker older than this is stale even when its writer can't be checked (another host). */
const PENDING_STALE_MS = 24 * 3600 * 1000;

interface StoreSpool {
  spool: Spool;
  movable: boolean;
  files: string[];
}

/** The spooled files of one commit, each bound for one store (chunks.idx for all). */
export class Staging {
  private constructor(
    private readonly repo: Repository,
    private readonly spools: Map<number, StoreSpool>,
    private readonly storeOf: (rel: string) => number,
    /** A single local store: publish is one rename of the spool directory. */
    private readonly whole: boolean,
  ) {}

  /** Spools for every store that gets files; `storeOf` maps a shard path to its store. */
  static async create(repo: Repository, storeOf: (rel: string) => number): Promise<Staging> {
    const spools = new Map<number, StoreSpool>();
    try {
      for (let d = 0; d < repo.set.size; d++) {
        const b = repo.set.domains[d]!;
        const stagingDir = b.caps.atomicRename && b.stagingDir ? await b.stagingDir() : undefined;
        if (stagingDir) await Spool.cleanStale(stagingDir);
        const s = await spoolFor(repo, d);
        spools.set(d, { ...s, files: [] });
      }
    } catch (err) {
      for (const s of spools.values()) await s.spool.discard();
      throw err;
    }
    const whole = repo.set.size === 1 && spools.get(0)!.movable && repo.set.domains[0]!.adopt !== undefined;
    return new Staging(repo, spools, storeOf, whole);
  }

  private spoolOf(rel: string): StoreSpool {
    return this.spools.get(rel === CHUNK_INDEX_FILE ? 0 : this.storeOf(rel))!;
  }

  /** A new spooled file; `direct`: written once and not read back before publishing (Spool.create). */
  async create(rel: string, opts: { direct?: boolean } = {}): Promise<SpoolFile> {
    const s = this.spoolOf(rel);
    const f = await s.spool.create(rel, opts);
    s.files.push(rel);
    return f;
  }

  open(rel: string): Promise<SpoolFile> {
    return this.spoolOf(rel).spool.open(rel);
  }

  async discard(): Promise<void> {
    for (const s of this.spools.values()) await s.spool.discard().catch(() => undefined);
  }

  /**
   * Make the archive `dir` visible with manifest `text`. On a single local store, 'exists' when another commit
   * published the same content first (this one is discarded); across stores the caller holds the archive's lock
   * and has removed or kept what was there. On failure nothing of this commit stays visible.
   */
  async publish(dir: string, text: string, signal?: AbortSignal): Promise<'published' | 'exists'> {
    if (this.whole) return this.publishWhole(dir, text);
    // Across stores the caller (commit, under the archive's lock) has already dealt with an archive of this name.
    const set = this.repo.set;
    const marker = JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString() });
    const written: { d: number; key: string }[] = [];
    try {
      await set.put(pendingKey(dir), textSource(marker), signal);
      // On the first failure no new put starts, and the rollback waits for those in flight (none lands after it).
      let failed = false;
      const workers: Promise<void>[] = [];
      for (const [d, s] of this.spools) {
        const queue = s.files.filter((f) => f !== CHUNK_INDEX_FILE);
        const worker = async () => {
          for (let rel = queue.shift(); rel !== undefined && !failed; rel = queue.shift()) {
            const key = archiveKey(dir, rel);
            written.push({ d, key });
            const src = await s.spool.source(rel, s.movable);
            await set.on(d, (b) => b.put(key, src, signal)).catch((err) => {
              failed = true;
              throw err;
            });
          }
        };
        for (let i = 0; i < PUT_CONCURRENCY; i++) workers.push(worker());
      }
      const settled = await Promise.allSettled(workers);
      const bad = settled.find((r) => r.status === 'rejected');
      if (bad) throw (bad as PromiseRejectedResult).reason;
      const index = await this.spools.get(0)!.spool.source(CHUNK_INDEX_FILE, false);
      await set.put(chunkIndexKey(dir), index, signal);
      await this.repo.writeManifestSet(dir, text, undefined, signal);
    } catch (err) {
      await this.rollback(dir, written);
      await this.discard();
      throw err;
    }
    await set.delete(pendingKey(dir)).catch(() => undefined);
    await this.discard();
    return 'published';
  }

  /**
   * One store, local: the manifest set goes into the spool, every directory is fsynced, then one rename. Nothing
   * in the spool is visible before the rename, so the three manifest files are written and fsynced side by side,
   * and so are the directories (concurrent fsyncs share the filesystem's journal commits): all of them are durable
   * before the rename starts (docs/FORMAT.md §9).
   */
  private async publishWhole(dir: string, text: string): Promise<'published' | 'exists'> {
    const s = this.spools.get(0)!;
    const sum = manifestSumText(blake3Hex(new TextEncoder().encode(text)));
    const files = [
      [MANIFEST_COPY, text],
      [MANIFEST_SUM, sum],
      [MANIFEST_FILE, text],
    ] as const;
    await settleAll(
      files.map(async ([name, body]) => {
        const f = await s.spool.create(name);
        try {
          await f.write(new TextEncoder().encode(body), 0);
          await f.finish();
        } catch (err) {
          await f.close();
          throw err;
        }
      }),
    );
    await syncTree(s.spool, s.files);
    return this.repo.set.domains[0]!.adopt!(s.spool.dir, dir);
  }

  /** Undo a failed multi-store publish, best effort: manifests first (so no store shows the archive), then the rest. */
  private async rollback(dir: string, written: { d: number; key: string }[]): Promise<void> {
    const set = this.repo.set;
    for (const key of [...MANIFEST_FILES.map((f) => manifestKey(dir, f)), chunkIndexKey(dir)]) await set.delete(key).catch(() => undefined);
    await Promise.all(written.map((w) => set.on(w.d, (b) => b.delete(w.key)).catch(() => undefined)));
    // Stores that can't be reached keep their part with the marker: cleanLeftovers() removes it later.
    await set.delete(pendingKey(dir)).catch(() => undefined);
  }
}

/** fsync every directory of a spooled tree (side by side), so a renamed tree is durable as a whole. */
async function syncTree(spool: Spool, files: string[]): Promise<void> {
  const dirs = new Set<string>();
  for (const p of files) {
    const parts = p.split('/');
    for (let i = parts.length - 1; i > 0; i--) dirs.add(parts.slice(0, i).join('/'));
  }
  await settleAll([...[...dirs].map((d) => fsyncDir(spool.path(d))), fsyncDir(spool.dir)]);
}

/**
 * Remove what crashed multi-store commits left: an archive directory with a pending marker, no manifest on any
 * store, and a writer that is gone (a dead pid on this host, or a marker older than a day). A directory without
 * a marker is never touched: it may be a damaged archive. Returns the directories removed.
 */
export async function cleanLeftovers(repo: Repository): Promise<string[]> {
  if (repo.set.size === 1 && repo.set.domains[0]!.adopt) return [];
  const removed: string[] = [];
  // Format v3: packs and large blobs are published the same way, below packs/ and blobs/ (FORMAT.md §13.10).
  const v3 = [...(await listPackDirs(repo)), ...(await listBlobDirs(repo))].map((x) => x.dir);
  for (const dir of [...(await repo.listDirs()), ...v3]) {
    const bytes = await repo.set.stat(pendingKey(dir)).catch(() => null);
    if (!bytes) continue;
    let marker: { pid?: number; host?: string; started?: string } = {};
    try {
      const buf = new Uint8Array(Math.min(bytes.size, 4096));
      await repo.set.get(pendingKey(dir), buf, 0);
      marker = JSON.parse(new TextDecoder().decode(buf));
    } catch {
      // unreadable marker: judged by age below (unknown = stale)
    }
    const age = Date.now() - Date.parse(marker.started ?? '1970-01-01T00:00:00Z');
    const alive = marker.host === hostname() ? pidAlive(Number(marker.pid)) : age < PENDING_STALE_MS;
    if (alive) continue;
    const hasManifest = await repo.loadManifest(dir).then(() => true, (err) => !(err instanceof BlockFrameError && err.code === 'BF_MANIFEST_MISSING'));
    if (hasManifest) {
      await repo.set.delete(pendingKey(dir)).catch(() => undefined);
      continue;
    }
    for (let d = 0; d < repo.set.size; d++) {
      await repo.set
        .on(d, async (b) => {
          const keys: string[] = [];
          for await (const o of b.list(archivePrefix(dir))) keys.push(o.key);
          for (const k of keys.filter((k) => k !== pendingKey(dir))) await b.delete(k);
          await b.delete(pendingKey(dir));
        })
        .catch(() => undefined);
    }
    removed.push(dir);
  }
  return removed;
}
