// find/list/info: locate archives by file name, directory name or hash prefix, and summarise manifests.
import { BlockFrameError } from '../errors.js';
import { overheadByLevel, parityOverhead, type Geometry } from '../layout/geometry.js';
import { isEncrypted, manifestGeometry, storedSize, type Manifest } from '../layout/manifest.js';
import type { KeySecret } from '../transform/keys.js';
import { loadSecrets, openContent, shownName, type Content, type KeyInput } from '../archive/keyring.js';
import { withRepo, type Repository } from '../archive/repo.js';
import type { Leftover } from '../store/leftovers.js';
import type { OperationOptions } from './context.js';
import { Ledger, ledgerDir, type LedgerEntry } from './ledger.js';
import { codeLayout } from '../layout/code.js';
import { archiveMargin, totalMargin } from '../layout/margin.js';

export interface ArchiveSummary {
  /** The file's name; "(encrypted)" for an encrypted archive listed without its key. */
  name: string;
  dir: string;
  /** Where it is: its directory for a single store, else "dir on N stores (…)". */
  path: string;
  size: number;
  tier: number;
  /** BLAKE3 of the file; null for an encrypted archive listed without its key. */
  originalHash: string | null;
  /** Format version of the archive (1 or 2). */
  formatVersion: number;
  /** Bytes of the stored stream (after compression and encryption; = size without transforms). */
  storedSize: number;
  /** zstd compression: its level and size / storedSize; null when uncompressed. */
  compression: { type: 'zstd'; level: number; ratio: number } | null;
  /** AES-256-GCM with this many keyslots; null when not encrypted. */
  encryption: { cipher: 'aes-256-gcm'; keyslots: number } | null;
  createdAt: string;
  segments: number;
  stripes: number;
  dataShards: number;
  parityShards: number;
  /** Parity bytes stored per data byte, level 2 included, e.g. 0.1 for RS(30,3) with full blocks. */
  overhead: number;
  merkleRoot: string;
  /** Tier 4's level-2 parity across groups of blocks; null for tiers 1 to 3. */
  level2: Level2Summary | null;
  /** Several stores: the placement; null for a single store. */
  placement: PlacementSummary | null;
  /**
   * How many more shards it can lose and still be rebuilt whole (layout/margin.ts; docs/FORMAT.md §15): with the
   * shards the last scrub found lost when the ledger knows the archive (`marginFrom: 'scrub'`), else with every
   * shard present, as the manifest alone says (`'manifest'`). -1: beyond repair.
   */
  margin: number;
  marginFrom: 'scrub' | 'manifest';
}

export interface Level2Summary {
  /** Groups of consecutive blocks. */
  groups: number;
  /** Level-2 stripes: one per (group, segment position). */
  stripes: number;
  /** Target blocks per group (the manifest's level2.group_blocks); groups hold between this and twice this many. */
  groupBlocks: number;
  /** Data shards per level-2 stripe = blocks in its group: the smallest and largest group. */
  dataShards: { min: number; max: number };
  parityShards: number;
  /** Level-2 parity bytes per data byte (already counted in the archive's overhead). */
  overhead: number;
}

export interface ArchiveListing {
  archives: ArchiveSummary[];
  /** The smallest margin of the archives listed (null for none): how many more shard losses all of them survive. */
  margin: number | null;
  /** Archives whose manifest is missing or invalid, with the reason. */
  damaged: { dir: string; code: string; message: string }[];
  /** What running or interrupted commits hold in the local stores' staging directories (see VerifyReport). */
  leftovers: (Leftover & { store: number })[];
  /**
   * Stores (1-based) that could not be listed, with the reason: BF_STORE_DENIED (access denied: check credentials)
   * or BF_STORE_UNAVAILABLE (not answering, or a listing that would not end), BF_STORE_NOT_MOUNTED or BF_STORE_FOREIGN
   * (docs/FORMAT.md §14). The archives come from the others.
   */
  unlisted: { store: number; label: string; code: string; message: string }[];
}

/** How an archive spreads over stores: RS(k,m) over N stores, surviving `failures` of them. */
export interface PlacementSummary {
  stores: number;
  failures: number;
  rule: string;
  /** Shards of one full level-1 stripe on each store. */
  shardsPerStore: number;
}

export function summarize(repo: Repository, dir: string, m: Manifest, opened?: Content): ArchiveSummary {
  const g = manifestGeometry(m);
  const zstd = m.content?.transforms.find((t) => t.type === 'zstd');
  return {
    name: opened?.name ?? shownName(m),
    dir,
    path: repo.where(dir),
    size: m.size,
    tier: m.tier,
    originalHash: opened?.originalHash ?? m.original_hash ?? null,
    formatVersion: m.format_version,
    storedSize: storedSize(m),
    compression: zstd?.type === 'zstd' ? { type: 'zstd', level: zstd.level, ratio: storedSize(m) > 0 ? m.size / storedSize(m) : 1 } : null,
    encryption: m.content?.encryption ? { cipher: 'aes-256-gcm', keyslots: m.content.encryption.keyslots.length } : null,
    createdAt: m.created_at,
    segments: m.stripes.reduce((n, s) => n + s.data.length, 0),
    stripes: m.stripes.length,
    dataShards: m.erasure_coding.data_shards,
    parityShards: m.erasure_coding.parity_shards,
    overhead: parityOverhead(g),
    merkleRoot: m.merkle.root,
    level2: level2Summary(m, g),
    placement: m.placement
      ? { stores: m.placement.stores, failures: m.placement.failures, rule: m.placement.rule, shardsPerStore: Math.ceil((m.erasure_coding.data_shards + m.erasure_coding.parity_shards) / m.placement.stores) }
      : null,
    margin: archiveMargin(codeLayout(m), []).margin,
    marginFrom: 'manifest',
  };
}

function level2Summary(m: Manifest, g: Geometry): Level2Summary | null {
  if (!m.level2) return null;
  const blocks = g.groups.map((x) => x.blocks);
  return {
    groups: g.groups.length,
    stripes: m.level2.stripes.length,
    groupBlocks: m.level2.group_blocks,
    dataShards: { min: Math.min(...blocks), max: Math.max(...blocks) },
    parityShards: m.level2.parity_shards,
    overhead: overheadByLevel(g).level2,
  };
}

/** The summary of archive `dir` (its manifest given); an encrypted one under its real name when `keys` open it. */
export async function summaryWithKeys(repo: Repository, dir: string, m: Manifest, keys?: KeyInput[]): Promise<ArchiveSummary> {
  return summarize(repo, dir, m, isEncrypted(m) ? await opened(dir, m, await loadSecrets(keys)) : undefined);
}

/** With keys, encrypted archives that a key opens are shown under their real name and hash. */
async function opened(dir: string, m: Manifest, secrets: readonly KeySecret[]): Promise<Content | undefined> {
  if (!isEncrypted(m) || secrets.length === 0) return undefined;
  return (await openContent(dir, m, secrets).catch(() => undefined)) ?? undefined;
}

export async function list(opts: OperationOptions & { ledger?: string } = {}): Promise<ArchiveListing> {
  const secrets = await loadSecrets(opts.keys);
  return withRepo(opts, (repo) => listIn(repo, secrets, opts));
}

/** list() on an open repository (engine/listing.ts adds the snapshots through the same one). */
export async function listIn(repo: Repository, secrets: KeySecret[], opts: { ledger?: string } = {}): Promise<ArchiveListing> {
  {
    const out: ArchiveListing = { archives: [], margin: null, damaged: [], leftovers: await repo.leftovers(), unlisted: [] };
    const onStoreError = (d: number, err: unknown) => {
      const code = err instanceof BlockFrameError ? err.code : 'BF_IO';
      out.unlisted.push({ store: d + 1, label: repo.storeLabel(d), code, message: err instanceof Error ? err.message : String(err) });
    };
    const ledger = new Ledger(ledgerDir(repo.resolved, opts.ledger));
    for (const e of await repo.list(onStoreError)) {
      if (e.manifest) out.archives.push(withLedger(summarize(repo, e.dir, e.manifest, await opened(e.dir, e.manifest, secrets)), e.manifest, await ledger.read(e.dir)));
      else out.damaged.push({ dir: e.dir, code: e.error!.code, message: e.error!.message });
    }
    out.margin = totalMargin(out.archives.map((a) => a.margin));
    return out;
  }
}

import { resolveArchive } from '../archive/catalog.js';
export { resolveArchive, type ArchiveFilter } from '../archive/catalog.js';
/** The margin the last scrub found, when the ledger has it for this very manifest. */
function withLedger(s: ArchiveSummary, m: Manifest, e: LedgerEntry | null): ArchiveSummary {
  return e && e.root === m.merkle.root ? { ...s, margin: e.margin, marginFrom: 'scrub' } : s;
}


/** Is archive `dir` published: does any store answer with its manifest? (Store errors count as no.) */
export async function isPublished(repo: Repository, dir: string, signal?: AbortSignal): Promise<boolean> {
  return repo.hasManifest(dir, signal);
}

/** Each name resolved to its archive directory, or every archive when no name is given. */
export async function resolveMany(store: Repository, names: string[], secrets: readonly KeySecret[] = []): Promise<string[]> {
  // Every archive: a directory whose commit is still landing (pending marker, no manifest yet) is not one.
  if (names.length === 0) return (await store.list()).map((e) => e.dir);
  const dirs: string[] = [];
  for (const n of names) dirs.push(await resolveArchive(store, n, secrets));
  return [...new Set(dirs)];
}

/** The summary of one archive by name, directory name or hash prefix. */
export async function find(query: string, opts: OperationOptions = {}): Promise<ArchiveSummary> {
  const secrets = await loadSecrets(opts.keys);
  return withRepo(opts, async (repo) => {
    const dir = await resolveArchive(repo, query, secrets);
    const m = await repo.readManifest(dir);
    return summarize(repo, dir, m, await opened(dir, m, secrets));
  });
}

/** The full, validated manifest of one archive. */
export async function info(query: string, opts: OperationOptions = {}): Promise<{ summary: ArchiveSummary; manifest: Manifest }> {
  const secrets = await loadSecrets(opts.keys);
  return withRepo(opts, async (repo) => {
    const dir = await resolveArchive(repo, query, secrets);
    const manifest = await repo.readManifest(dir);
    return { summary: summarize(repo, dir, manifest, await opened(dir, manifest, secrets)), manifest };
  });
}
