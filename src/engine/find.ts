// find/list/info: locate archives by file name, directory name or hash prefix, and summarise manifests.
import { BlockFrameError } from '../errors.js';
import type { Manifest } from '../layout/manifest.js';
import type { LocalStore } from '../store/local.js';
import { storeFor, type OperationOptions } from './context.js';

export interface ArchiveSummary {
  name: string;
  dir: string;
  path: string;
  size: number;
  tier: number;
  originalHash: string;
  createdAt: string;
  segments: number;
  stripes: number;
  dataShards: number;
  parityShards: number;
  /** Parity bytes stored per data byte, e.g. 0.1 for RS(30,3) with full blocks. */
  overhead: number;
  merkleRoot: string;
}

export interface ArchiveListing {
  archives: ArchiveSummary[];
  /** Archives whose manifest is missing or invalid, with the reason. */
  damaged: { dir: string; code: string; message: string }[];
}

export function summarize(store: LocalStore, dir: string, m: Manifest): ArchiveSummary {
  const parity = m.stripes.reduce((n, s) => n + s.parity.reduce((x, p) => x + p.size, 0), 0);
  return {
    name: m.name,
    dir,
    path: store.path(dir),
    size: m.size,
    tier: m.tier,
    originalHash: m.original_hash,
    createdAt: m.created_at,
    segments: m.stripes.reduce((n, s) => n + s.data.length, 0),
    stripes: m.stripes.length,
    dataShards: m.erasure_coding.data_shards,
    parityShards: m.erasure_coding.parity_shards,
    overhead: m.size === 0 ? 0 : parity / m.size,
    merkleRoot: m.merkle.root,
  };
}

export async function list(opts: OperationOptions = {}): Promise<ArchiveListing> {
  const store = storeFor(opts);
  const out: ArchiveListing = { archives: [], damaged: [] };
  for (const e of await store.list()) {
    if (e.manifest) out.archives.push(summarize(store, e.dir, e.manifest));
    else out.damaged.push({ dir: e.dir, code: e.error!.code, message: e.error!.message });
  }
  return out;
}

/**
 * Resolve NAME to exactly one archive directory: an exact directory name, else an exact file name, else a
 * hash prefix (at least 4 hex digits). Several matches are a BF_AMBIGUOUS_NAME error listing the candidates.
 */
export async function resolveArchive(store: LocalStore, query: string): Promise<string> {
  const dirs = await store.listDirs();
  if (dirs.includes(query)) return query;
  const byName: string[] = [];
  for (const dir of dirs) {
    const m = await store.readManifest(dir).catch(() => null);
    if (m?.name === query) byName.push(dir);
  }
  let matches = byName;
  if (matches.length === 0 && /^[0-9a-fA-F]{4,64}$/.test(query)) {
    const prefix = query.toLowerCase();
    matches = dirs.filter((d) => d.slice(-64).startsWith(prefix));
  }
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) {
    throw new BlockFrameError('BF_ARCHIVE_NOT_FOUND', `no archive named "${query}" in ${store.root} (try: blockframe list)`, { archive: query });
  }
  throw new BlockFrameError('BF_AMBIGUOUS_NAME', `"${query}" matches ${matches.length} archives: ${matches.join(', ')} (use a directory name or hash prefix)`, {
    archive: query,
    candidates: matches,
  });
}

/** Each name resolved to its archive directory, or every archive when no name is given. */
export async function resolveMany(store: LocalStore, names: string[]): Promise<string[]> {
  if (names.length === 0) return store.listDirs();
  const dirs: string[] = [];
  for (const n of names) dirs.push(await resolveArchive(store, n));
  return [...new Set(dirs)];
}

/** The summary of one archive by name, directory name or hash prefix. */
export async function find(query: string, opts: OperationOptions = {}): Promise<ArchiveSummary> {
  const store = storeFor(opts);
  const dir = await resolveArchive(store, query);
  return summarize(store, dir, await store.readManifest(dir));
}

/** The full, validated manifest of one archive. */
export async function info(query: string, opts: OperationOptions = {}): Promise<{ summary: ArchiveSummary; manifest: Manifest }> {
  const store = storeFor(opts);
  const dir = await resolveArchive(store, query);
  const manifest = await store.readManifest(dir);
  return { summary: summarize(store, dir, manifest), manifest };
}
