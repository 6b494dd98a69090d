// Object keys: the one place where an archive's keys on a store are spelled ("{dir}/manifest.json", shard paths…).
// It imports nothing: the format modules (manifest, chunks, geometry) take their names from here.

export const MANIFEST_FILE = 'manifest.json';
/** A byte-identical redundant copy of manifest.json. */
export const MANIFEST_COPY = 'manifest.copy.json';
/** BLAKE3 of manifest.json in b3sum's format, so `b3sum -c manifest.b3` checks it. */
export const MANIFEST_SUM = 'manifest.b3';
/** The chunk index: per-chunk BLAKE3 hashes of every shard (docs/FORMAT.md). */
export const CHUNK_INDEX_FILE = 'chunks.idx';

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

/** Prefix of the S3 API's catalogue on the stores (bucket table, key records): readers of archives skip names with '.'. */
export const S3_META_PREFIX = '.s3/';

/** The S3 bucket table: one JSON array of bucket records. */
export const S3_BUCKETS_KEY = `${S3_META_PREFIX}buckets.json`;

/** Every S3 key record starts with this (then "{bucket}/"). */
export const S3_KEYS_PREFIX = `${S3_META_PREFIX}keys/`;

/** The record of one S3 object key, by bucket and the SHA-256 (hex) of the key (keys may be 1024 bytes of anything). */
export function s3RecordKey(bucket: string, keySha256Hex: string): string {
  return `${S3_KEYS_PREFIX}${bucket}/${keySha256Hex}.json`;
}

/** The bucket of a key record's store key (the inverse of s3RecordKey's first part). */
export function s3RecordBucket(recordKey: string): string {
  return recordKey.slice(S3_KEYS_PREFIX.length).split('/')[0]!;
}

/** The store-set probe: a key whose stat tells whether a store answers (it need not exist). */
export const PROBE_KEY = '.bf-probe';

/**
 * Shard paths inside an archive (docs/FORMAT.md §2), by tier: Tier 1 one data file and its parity files; Tier 2 a
 * stripe per segment; Tiers 3 and 4 a stripe per block of segments; Tier 4 also level-2 parity per group and
 * segment position. Indexes are 0-based.
 */
export const shardPath = {
  tier1Data: (): string => 'data.dat',
  tier1Parity: (j: number): string => `parity_${j}.dat`,
  tier2Segment: (i: number): string => `segments/segment_${i}.dat`,
  tier2Parity: (i: number, j: number): string => `parity/segment_${i}_parity_${j}.dat`,
  blockSegment: (block: number, i: number): string => `blocks/block_${block}/segments/segment_${i}.dat`,
  blockParity: (block: number, j: number): string => `blocks/block_${block}/parity/block_parity_${j}.dat`,
  level2Parity: (group: number, position: number, j: number): string => `level2/group_${group}/position_${position}_parity_${j}.dat`,
} as const;

/**
 * The store marker (docs/FORMAT.md §14): one small JSON object at the top of every store of a marked set, saying
 * which store set it belongs to and which slot it fills. Hidden (a dot name), so archive listings skip it.
 */
export const STORE_MARKER_KEY = '.bf-store.json';

/**
 * The scrub ledger's files, relative to the ledger directory (a local state directory, never on a store; see
 * docs/patrol.md): one small file per archive, named by a digest of the archive's directory name (fanned out by
 * its first two hex digits), and the record of the last runs.
 */
export function ledgerEntryKey(dirDigest: string): string {
  return `archives/${dirDigest.slice(0, 2)}/${dirDigest}.json`;
}

export const LEDGER_RUNS_FILE = 'runs.json';

// ---- Format v3: packs, large blobs and the blob index (docs/FORMAT.md §13.2, §13.1, §13.5, §13.10) ----

/** Every pack's directory starts with this (a v1/v2 listing of the root skips it: not `{name}_{hash}`). */
export const PACKS_PREFIX = 'packs/';
/** Every large blob's archive directory starts with this. */
export const BLOBS_PREFIX = 'blobs/';
/** Every index file's key starts with this. */
export const INDEX_PREFIX = 'index/';

/** The archive directory of pack `p` (64 hex): `packs/{p[0:2]}/pack_{p}`. */
export function packDir(p: string): string {
  return `${PACKS_PREFIX}${p.slice(0, 2)}/pack_${p}`;
}

/** The archive directory of large blob `h` (64 hex): `blobs/{h[0:2]}/blob_{h}`. */
export function blobDir(h: string): string {
  return `${BLOBS_PREFIX}${h.slice(0, 2)}/blob_${h}`;
}

/** The key of index file `i` (the BLAKE3 of its bytes, 64 hex): `index/{i}.jsonl`. */
export function indexKey(i: string): string {
  return `${INDEX_PREFIX}${i}.jsonl`;
}

/** The index file id in key `key` (the inverse of indexKey), or null when `key` is not an index file's. */
export function indexIdOf(key: string): string | null {
  const m = /^index\/([0-9a-f]{64})\.jsonl$/.exec(key);
  return m ? m[1]! : null;
}

/** The pack id of a pack directory (the inverse of packDir), or null. */
export function packIdOf(dir: string): string | null {
  const m = /^packs\/([0-9a-f]{2})\/pack_([0-9a-f]{64})$/.exec(dir);
  return m && m[2]!.startsWith(m[1]!) ? m[2]! : null;
}

// ---- Format v3 (catalog): snapshot header sets, name records and repository locks (docs/FORMAT.md §13.3, §13.4, §13.6) ----

/** Every snapshot header set's key starts with this: `snapshots/{id}/…` (docs/FORMAT.md §13.3). */
export const SNAPSHOTS_PREFIX = 'snapshots/';
/** A snapshot's header (its id is the BLAKE3 of these bytes). */
export const SNAPSHOT_FILE = 'snapshot.json';
/** A byte-identical redundant copy of snapshot.json. */
export const SNAPSHOT_COPY = 'snapshot.copy.json';
/** The BLAKE3 of snapshot.json in b3sum's format, so `b3sum -c snapshot.b3` checks it. */
export const SNAPSHOT_SUM = 'snapshot.b3';
/** The header set's three files, in the order a writer puts them (snapshot.json last; a delete removes it last). */
export const SNAPSHOT_FILES = [SNAPSHOT_COPY, SNAPSHOT_SUM, SNAPSHOT_FILE] as const;
export type SnapshotFileName = (typeof SNAPSHOT_FILES)[number];

/** The directory of snapshot `id` (64 lowercase hex digits): `snapshots/{id}`. */
export function snapshotDir(id: string): string {
  return `${SNAPSHOTS_PREFIX}${id}`;
}

/** Key of one file of snapshot `id`'s header set. */
export function snapshotKey(id: string, file: SnapshotFileName = SNAPSHOT_FILE): string {
  return `${snapshotDir(id)}/${file}`;
}

/**
 * The snapshot id and file of a key below SNAPSHOTS_PREFIX (as a recursive listing gives them), or null for
 * anything else (a stray name, a directory entry, a deeper key).
 */
export function parseSnapshotKey(key: string): { id: string; file: SnapshotFileName } | null {
  const m = /^snapshots\/([0-9a-f]{64})\/(snapshot\.json|snapshot\.copy\.json|snapshot\.b3)$/.exec(key);
  return m ? { id: m[1]!, file: m[2] as SnapshotFileName } : null;
}

/** Prefix of the catalog (docs/FORMAT.md §13.4). */
export const CATALOG_PREFIX = 'catalog/';
/** Every name record's key starts with this. */
export const NAMES_PREFIX = `${CATALOG_PREFIX}names/`;

/** The record of one snapshot name, by the SHA-256 (64 lowercase hex) of the name's UTF-8 bytes. */
export function nameRecordKey(nameSha256Hex: string): string {
  return `${NAMES_PREFIX}${nameSha256Hex}.json`;
}

/** The name hash (64 hex) of a name record's key, or null when `key` is not one. */
export function parseNameRecordKey(key: string): string | null {
  const m = /^catalog\/names\/([0-9a-f]{64})\.json$/.exec(key);
  return m ? m[1]! : null;
}

/** The format-v3 repository marker (docs/FORMAT.md §13.10): its presence on a store says the repository is version 3. */
export const V3_MARKER_KEY = `${CATALOG_PREFIX}repository.json`;

/** Every repository lock's key starts with this (docs/FORMAT.md §13.6 "Locks"). */
export const LOCKS_PREFIX = 'locks/';

/** The key of one repository lock, by its random id (lowercase hex). */
export function lockKey(random: string): string {
  return `${LOCKS_PREFIX}${random}.json`;
}

/** The random id of a lock key, or null when `key` is not a lock's key. */
export function parseLockKey(key: string): string | null {
  const m = /^locks\/([0-9a-f]{16,64})\.json$/.exec(key);
  return m ? m[1]! : null;
}

/**
 * The top-level names a version-3 repository adds beside the version-1/2 archive directories (docs/FORMAT.md
 * §13.10). They are never archives: listings, verify, repair and leftovers cleanup of version-2 archives skip them.
 */
export const V3_TOP_LEVEL = ['packs', 'blobs', 'snapshots', 'catalog', 'index', 'locks'] as const;

/** Is `name` (one path component at the top of a store) one of the version-3 names of V3_TOP_LEVEL? */
export function isV3TopLevel(name: string): boolean {
  return (V3_TOP_LEVEL as readonly string[]).includes(name);
}

// ---- Format v3: S3 objects in packs (docs/FORMAT.md §13.9) ----

/** Every version-3 S3 object record starts with this (then "{bucket}/"). */
export const S3_OBJECTS_PREFIX = `${S3_META_PREFIX}objects/`;

/** The version-3 record of one S3 object key, by bucket and the SHA-256 (hex) of the key: `.s3/objects/{bucket}/{sha256}.json`. */
export function s3ObjectKey(bucket: string, keySha256Hex: string): string {
  return `${S3_OBJECTS_PREFIX}${bucket}/${keySha256Hex}.json`;
}

/** The bucket of a version-3 object record's store key (the inverse of s3ObjectKey's first part). */
export function s3ObjectBucket(recordKey: string): string {
  return recordKey.slice(S3_OBJECTS_PREFIX.length).split('/')[0]!;
}

/** Every staging segment's key starts with this. */
export const S3_STAGING_PREFIX = `${S3_META_PREFIX}staging/`;

/** The key of staging segment `s` (the BLAKE3 of its bytes, 64 hex): `.s3/staging/{s}.seg`. */
export function stagingKey(s: string): string {
  return `${S3_STAGING_PREFIX}${s}.seg`;
}

/** The segment id in key `key` (the inverse of stagingKey), or null when `key` is not a segment's. */
export function stagingIdOf(key: string): string | null {
  const m = /^\.s3\/staging\/([0-9a-f]{64})\.seg$/.exec(key);
  return m ? m[1]! : null;
}
