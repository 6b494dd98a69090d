// The repository: archives on a set of stores. Listing, the three-copy manifest set on every store, and where
// each archive's shards live (placement). Operations reach shard bytes only through here and the store set.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BlockFrameError } from '../errors.js';
import { blake3Hex } from '../integrity/blake3.js';
import { MANIFEST_COPY, MANIFEST_FILE, MANIFEST_SUM, manifestSumText, parseManifest, parseManifestSum, type Manifest } from '../layout/manifest.js';
import { ENCRYPTED_DIR_NAME, parseArchiveDirName } from '../layout/names.js';
import { getAll, textSource, type ObjectInfo } from '../store/backend.js';
import { setLeftovers, type Leftover } from '../store/leftovers.js';
import { pickManifest, type ManifestCandidate } from './manifest-pick.js';
import { resolveStores, type ResolvedStores, type StoreOptions } from '../store/config.js';
import type { StoreSet } from '../store/store-set.js';
import { checkIdentity, makeMarker, missingStores, newId, writeMarker, type IdentityCheck } from './identity.js';

/** No manifest is plausibly larger than this (a 1 TiB Tier 4 archive's is about 10 MB). */
export const MANIFEST_MAX_BYTES = 64 * 1024 * 1024;
/** Marker of a commit in progress across several stores: shards are being written, the manifest comes last. */
import { archivePrefix, isV3TopLevel, manifestKey, MANIFEST_FILES, pendingKey, PENDING_FILE, STORE_MARKER_KEY } from '../layout/keys.js';
export { PENDING_FILE };

/** One manifest file on one store. */
export interface ManifestFileRef {
  file: string;
  /** Store (failure domain) index. */
  store: number;
}

export interface ManifestRead {
  manifest: Manifest;
  /** The exact text of the manifest that was used. */
  text: string;
  /** Manifest files that are missing or wrong, on stores that answered. */
  damaged: ManifestFileRef[];
  /** Stores that did not answer at all. */
  unavailable: number[];
  /** Stores that refused access (wrong credentials or permissions): they answer, so they are not unavailable. */
  denied: number[];
  /** Set when the chosen copy contradicts the directory name (no copy agrees): it is used, but must not be copied. */
  contradicted?: ManifestFileRef & { why: string };
}

export interface ArchiveEntry {
  /** Directory name under the root, "{name}_{hash}". */
  dir: string;
  manifest?: Manifest;
  /** Set when the manifest is missing or invalid. */
  error?: BlockFrameError;
}

const FILES = MANIFEST_FILES;

export class Repository {
  set: StoreSet;
  /** What the store identity check found (undefined for a caller's own open set, which is not checked). */
  identity?: IdentityCheck;
  /** The single local directory, when that is all the repository is (paths shown to people). */
  readonly localRoot?: string;
  /** The store specs and, when they came from a config file, its path (repair --replace updates it). */
  readonly resolved: ResolvedStores;
  private readonly owned: boolean;

  constructor(r: ResolvedStores, owned: boolean) {
    this.set = r.set;
    this.localRoot = r.localRoot;
    this.resolved = r;
    this.owned = owned;
  }

  /**
   * Open the stores the options name (see resolveStores) and check their markers (docs/FORMAT.md §14): a swapped
   * store is used from where it is, an absent one fails every call without touching its path; each is told to
   * `o.onNotice`. Errors: those of resolveStores; a store that does not answer is not an error here.
   */
  static async open(o: StoreOptions & { signal?: AbortSignal }): Promise<Repository> {
    const repo = Repository.openSync(o);
    if (o.storeSet) return repo;
    try {
      await repo.checkMarkers(o.onNotice, o.signal);
    } catch (err) {
      await repo.set.close();
      throw err;
    }
    return repo;
  }

  /**
   * Check the stores' markers now (see open; for a repository opened with openSync, as a server's is): from here
   * on a swapped store is used where it is and an absent one is never written to. Tells each finding to `onNotice`.
   * A set given by the caller (StoreOptions.storeSet) is not checked.
   */
  async checkMarkers(onNotice?: (line: string) => void, signal?: AbortSignal): Promise<void> {
    if (!this.owned) return;
    const check = await checkIdentity(this.set, this.resolved.identity, this.resolved.replaced, signal);
    this.identity = check;
    this.set = check.set;
    this.resolved.set = check.set;
    // A marked local store refuses writes while its marker is gone (a disk unmounted while this process runs).
    for (const s of check.stores) if (s.state === 'ok' || s.state === 'swapped') check.set.requireMarker(s.store, STORE_MARKER_KEY);
    for (const s of check.stores) if (s.detail) onNotice?.(s.detail);
  }

  static openSync(o: StoreOptions): Repository {
    return new Repository(resolveStores(o), o.storeSet === undefined);
  }

  get label(): string {
    return this.localRoot ?? this.set.label;
  }

  /** Where archive `dir` is, for people: its directory, or "dir on N stores". */
  /** How many stores (failure domains) the repository spans, and how many whole ones an archive must survive losing. */
  get storeCount(): number {
    return this.set.size;
  }

  get failures(): number {
    return this.set.failures;
  }

  /** Store `d` (0-based) for people: a directory or an s3:// URL. */
  storeLabel(d: number): string {
    return this.set.domains[d]!.label;
  }

  /** Each store's kind for people and metrics: 'local', 's3', or 'store' (an open set given by the caller). */
  storeKinds(): string[] {
    return this.set.domains.map((_, d) => this.resolved.specs[d]?.kind ?? 'store');
  }

  /** Is store `d` (0-based) there and answering? Throws BF_STORE_UNAVAILABLE when not (see StoreSet.check). */
  checkStore(d: number, signal?: AbortSignal): Promise<void> {
    return this.set.check(d, signal);
  }

  /** Is store `d` being skipped after failing (its breaker open)? */
  storeDown(d: number): boolean {
    return this.set.isDown(d);
  }

  /** Make sure each store that stages locally has its staging directory (before a commit spools into it). */
  async prepareStaging(): Promise<void> {
    for (const b of this.set.domains) await b.stagingDir?.();
  }

  /** What running or interrupted commits hold in the local stores' staging directories. */
  leftovers(): Promise<(Leftover & { store: number })[]> {
    return setLeftovers(this.set);
  }

  /** Is archive `dir` published: does any store answer with its manifest? (Store errors count as no.) */
  async hasManifest(dir: string, signal?: AbortSignal): Promise<boolean> {
    return (await this.set.stat(manifestKey(dir), signal).catch(() => null)) !== null;
  }

  /** Every key of archive `dir` on store `d` (directories as prefix entries where the store has them). Store errors are thrown. */
  async archiveKeys(dir: string, d: number, signal?: AbortSignal): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    await this.set.on(d, async (b) => {
      for await (const o of b.list(archivePrefix(dir), { signal })) out.push(o);
    });
    return out;
  }

  /** Forget open descriptors of archive `dir` (all with none), so the next read sees the stores as they are. */
  dropHeld(dir?: string): void {
    this.set.dropHeld(dir === undefined ? '' : archivePrefix(dir));
  }

  where(dir: string): string {
    return this.localRoot ? join(this.localRoot, dir) : `${dir} on ${this.set.label}`;
  }

  async close(): Promise<void> {
    if (this.owned) await this.set.close();
  }

  /** Stores (0-based) the identity check found absent (not mounted) or holding another set's marker. */
  absentStores(): number[] {
    return this.identity ? missingStores(this.identity).map((s) => s.store) : [];
  }

  /**
   * Before writing to every store (commit): fail with the first absent store's error (BF_STORE_NOT_MOUNTED or
   * BF_STORE_FOREIGN), which names the store and what to do, so nothing lands on some stores and not others.
   */
  requireAllStores(): void {
    const d = this.absentStores()[0];
    if (d === undefined) return;
    const b = this.set.domains[d] as { err?: BlockFrameError };
    throw b.err ?? new BlockFrameError('BF_STORE_NOT_MOUNTED', `store ${d + 1} is not mounted`, { slot: d + 1 });
  }

  /**
   * Give a single archive directory its marker when it is new: missing or holding nothing but hidden names (commit
   * creates it: docs/FORMAT.md §14). An older directory that holds archives is left unmarked, and so is a set of
   * several stores named by --store alone (`blockframe init` marks those). Returns the new set id, or undefined.
   */
  async markIfNew(signal?: AbortSignal): Promise<string | undefined> {
    const id = this.identity;
    if (!id || this.set.size !== 1 || id.setId !== undefined || id.stores.some((s) => s.state !== 'unmarked')) return undefined;
    for (let d = 0; d < this.set.size; d++) {
      const empty = await this.set.on(d, async (b) => {
        for await (const o of b.list('', { delimiter: '/', signal })) if (!o.key.startsWith('.')) return false;
        return true;
      });
      if (!empty) return undefined;
    }
    const setId = newId();
    const n = this.set.size;
    for (let d = 0; d < n; d++) {
      const m = makeMarker(setId, d, n);
      await this.set.on(d, (b) => writeMarker(b, m, signal));
      this.set.requireMarker(d, STORE_MARKER_KEY);
      id.markers[d] = m;
      id.stores[d] = { ...id.stores[d]!, state: 'ok', storeId: m.store_id };
    }
    id.setId = setId;
    return setId;
  }

  /**
   * A single archive directory must exist for anything but commit (which creates it): a mistyped --archive is an
   * error, not "no archives" (a cron check would report healthy forever). Stores of a set may be missing: that
   * is a dead store, which verify reports.
   */
  requireRoot(): void {
    if (this.localRoot && !existsSync(this.localRoot)) {
      throw new BlockFrameError('BF_ARCHIVE_ROOT_MISSING', `no archive directory at ${this.localRoot} (check --archive or BLOCKFRAME_ARCHIVE; commit creates it)`, { path: this.localRoot });
    }
  }

  /**
   * Every archive directory name on any store (hidden, non-archive and version-3 names are skipped), sorted. With
   * `namePrefix` (no '/'), only names starting with it: the stores list by that prefix, so the cost follows the
   * matches, not every archive of the root (commit looks up an archive of the same name this way). `onStoreError`
   * hears of each store that could not be listed (left out; the listing fails only when no store answers).
   */
  async listDirs(namePrefix = '', onStoreError?: (d: number, err: unknown) => void): Promise<string[]> {
    this.requireRoot();
    if (namePrefix.includes('/')) throw new BlockFrameError('BF_INTERNAL', `bad archive name prefix ${JSON.stringify(namePrefix)}`);
    const out: string[] = [];
    for await (const o of this.set.listEach(namePrefix, { delimiter: '/' }, onStoreError)) {
      if (!o.prefix) continue;
      const name = o.key.slice(0, -1);
      // Version-3 names (packs/, snapshots/, catalog/, …: docs/FORMAT.md §13.10) are never archive directories.
      if (!name.startsWith('.') && !isV3TopLevel(name) && parseArchiveDirName(name) !== null) out.push(name);
    }
    return out.sort();
  }

  /** The archive's manifest, from any store and any of its copies (see loadManifest). */
  async readManifest(dir: string): Promise<Manifest> {
    return (await this.loadManifest(dir)).manifest;
  }

  /**
   * Read manifest.json, manifest.copy.json and manifest.b3 from every store and pick, among the copies that
   * validate, the one the stores prove best (pickManifest; docs/FORMAT.md §7.1). `damaged` names each file (and
   * store) that is missing or differs from it, so verify can report them and repair can rewrite them.
   * Errors: BF_MANIFEST_MISSING, the first copy's BF_MANIFEST_INVALID when none validates, BF_STORE_UNAVAILABLE.
   */
  async loadManifest(dir: string, signal?: AbortSignal): Promise<ManifestRead> {
    const n = this.set.size;
    const texts: (string | null)[][] = [];
    const unavailable: number[] = [];
    const denied: number[] = [];
    let deniedErr: BlockFrameError | undefined;
    await Promise.all(
      this.set.domains.map(async (_, d) => {
        try {
          texts[d] = await Promise.all(FILES.map(async (f) => this.readText(d, manifestKey(dir, f))));
        } catch (err) {
          if (err instanceof BlockFrameError && err.code === 'BF_ABORTED') throw err;
          if (err instanceof BlockFrameError && err.code === 'BF_STORE_DENIED') {
            denied.push(d);
            deniedErr ??= err;
          } else unavailable.push(d);
          texts[d] = [null, null, null];
        }
      }),
    );
    const sums = new Set<string>();
    for (let d = 0; d < n; d++) {
      const s = texts[d]![2];
      const h = s === null ? null : parseManifestSum(s);
      if (h) sums.add(h);
    }
    let firstError: BlockFrameError | undefined;
    const tried = new Set<string>();
    const candidates: ManifestCandidate[] = [];
    for (let d = 0; d < n; d++) {
      for (const i of [0, 1]) {
        const text = texts[d]![i];
        if (text === null) continue;
        const hash = blake3Hex(new TextEncoder().encode(text));
        if (tried.has(hash)) continue;
        tried.add(hash);
        try {
          const m = parseManifest(text, manifestKey(dir, FILES[i]!));
          // The directory name carries original_hash, or an encrypted archive's random id (docs/FORMAT.md §12.5).
          const id = m.content?.encryption?.archive_id;
          const named = parseArchiveDirName(dir);
          if (id !== undefined ? named?.hash !== id || named.name !== ENCRYPTED_DIR_NAME : named?.hash !== m.original_hash) {
            const field = id !== undefined ? 'content.encryption.archive_id' : 'original_hash';
            throw new BlockFrameError('BF_MANIFEST_INVALID', `${manifestKey(dir, FILES[i]!)}: field "${field}" does not match the directory name`, { archive: dir, field });
          }
          candidates.push({ text, hash, manifest: m, file: FILES[i]!, store: d });
        } catch (err) {
          if (!(err instanceof BlockFrameError)) throw err;
          firstError ??= err;
        }
      }
    }
    if (candidates.length === 0) {
      if (tried.size === 0) {
        if (deniedErr && unavailable.length + denied.length === n) throw deniedErr;
        if (unavailable.length === n) throw new BlockFrameError('BF_STORE_UNAVAILABLE', `archive ${dir}: no store answered (${this.set.label})`, { archive: dir });
        throw new BlockFrameError('BF_MANIFEST_MISSING', `archive ${dir} has no ${MANIFEST_FILE}`, { archive: dir });
      }
      throw firstError!;
    }
    const pick = await pickManifest(this.set, dir, candidates, sums, signal);
    const good = pick.chosen;
    const damaged: ManifestFileRef[] = [];
    const wantSum = manifestSumText(good.hash);
    for (let d = 0; d < n; d++) {
      if (unavailable.includes(d) || denied.includes(d)) continue;
      FILES.forEach((file, i) => {
        const t = texts[d]![i];
        const ok = i === 2 ? t !== null && parseManifestSum(t) === good.hash && t === wantSum : t !== null && t === good.text;
        if (!ok) damaged.push({ file, store: d });
      });
    }
    return {
      manifest: good.manifest,
      text: good.text,
      damaged,
      unavailable: unavailable.sort((a, b) => a - b),
      denied: denied.sort((a, b) => a - b),
      ...(pick.contradicted ? { contradicted: { file: good.file, store: good.store, why: pick.contradicted } } : {}),
    };
  }

  /**
   * One manifest file's text, or null when it is missing, is not a regular file (a symlink is never followed), or
   * is implausibly large: all of those are a damaged copy, not a dead store.
   */
  private async readText(d: number, key: string): Promise<string | null> {
    try {
      const bytes = await this.set.on(d, (b) => getAll(b, key, MANIFEST_MAX_BYTES));
      return bytes === null ? null : new TextDecoder().decode(bytes);
    } catch (err) {
      if (err instanceof BlockFrameError && (err.code === 'BF_STORE_NOT_A_FILE' || err.context.tooLarge === true)) return null;
      throw err;
    }
  }

  /** All archives with their manifests; damaged ones carry `error` instead of failing the listing. */
  async list(onStoreError?: (d: number, err: unknown) => void): Promise<ArchiveEntry[]> {
    const out: ArchiveEntry[] = [];
    for (const dir of await this.listDirs('', onStoreError)) {
      try {
        out.push({ dir, manifest: await this.readManifest(dir) });
      } catch (err) {
        if (!(err instanceof BlockFrameError)) throw err;
        // A commit in flight (its shards are landing, its manifest comes last) is not an archive yet.
        if (err.code === 'BF_MANIFEST_MISSING' && (await this.set.stat(pendingKey(dir)).catch(() => null))) continue;
        out.push({ dir, error: err });
      }
    }
    return out;
  }

  /**
   * Write manifest.copy.json, manifest.b3 and manifest.json (in that order, each atomically) to the given stores
   * (all by default), so a crash part-way always leaves one manifest that matches its checksum.
   */
  async writeManifestSet(dir: string, text: string, stores: number[] = this.set.domains.map((_, d) => d), signal?: AbortSignal): Promise<void> {
    const sum = manifestSumText(blake3Hex(new TextEncoder().encode(text)));
    const results = await Promise.allSettled(
      stores.map((d) =>
        this.set.on(d, async (b) => {
          await b.put(manifestKey(dir, MANIFEST_COPY), textSource(text), signal);
          await b.put(manifestKey(dir, MANIFEST_SUM), textSource(sum), signal);
          await b.put(manifestKey(dir, MANIFEST_FILE), textSource(text), signal);
        }),
      ),
    );
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }
}

/** Open the repository the options name, run `fn`, and close it (unless the caller passed its own store set). */
export async function withRepo<T>(o: StoreOptions, fn: (repo: Repository) => Promise<T>): Promise<T> {
  const repo = await Repository.open(o);
  try {
    return await fn(repo);
  } finally {
    await repo.close();
  }
}
