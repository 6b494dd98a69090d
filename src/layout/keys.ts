// Object keys: the one place where an archive's keys on a store are spelled ("{dir}/manifest.json", shard paths…).
import { CHUNK_INDEX_FILE } from './chunks.js';
import { MANIFEST_COPY, MANIFEST_FILE, MANIFEST_SUM } from './manifest.js';

/** The marker a multi-store publish leaves while it runs (docs/FORMAT.md §9): its presence means "not done yet". */
export const PENDING_FILE = '.bf-pending';

/** The manifest set's three files, in the order a reader trusts them (docs/FORMAT.md §7.1). */
export const MANIFEST_FILES = [MANIFEST_FILE, MANIFEST_COPY, MANIFEST_SUM] as const;

/** Every key of archive `dir` starts with this (for listings). */
export function archivePrefix(dir: string): string {
  return `${dir}/`;
}

/** Every key below `key` (as if it were a directory) starts with this. */
export function childrenPrefix(key: string): string {
  return `${key}/`;
}

/** Key of `rel` (a shard path such as "segments/segment_3.dat", or a metadata file name) inside archive `dir`. */
export function archiveKey(dir: string, rel: string): string {
  return `${dir}/${rel}`;
}

export function manifestKey(dir: string, file: (typeof MANIFEST_FILES)[number] = MANIFEST_FILE): string {
  return archiveKey(dir, file);
}

export function chunkIndexKey(dir: string): string {
  return archiveKey(dir, CHUNK_INDEX_FILE);
}

export function pendingKey(dir: string): string {
  return archiveKey(dir, PENDING_FILE);
}

/** Is `key` one of an archive's manifest files? (They are removed first and written last.) */
export function isManifestKey(key: string): boolean {
  const base = key.slice(key.lastIndexOf('/') + 1);
  return (MANIFEST_FILES as readonly string[]).includes(base);
}

/**
 * The scrub ledger's files, relative to the ledger directory (a local state directory, never on a store; see
 * docs/patrol.md): one small file per archive, named by a digest of the archive's directory name (fanned out by
 * its first two hex digits), and the record of the last runs.
 */
export function ledgerEntryKey(dirDigest: string): string {
  return `archives/${dirDigest.slice(0, 2)}/${dirDigest}.json`;
}

export const LEDGER_RUNS_FILE = 'runs.json';
