// manifest.json: the zod schema, semantic checks against the geometry, and (de)serialisation. No I/O here.
import { z } from 'zod';
import { BlockFrameError } from '../errors.js';
import { merkleRootHex } from '../integrity/merkle.js';
import { computeGeometry, type Geometry, type ParityGeometry } from './geometry.js';
import { CHUNK_INDEX_FILE, chunkIndexLayout, MAX_SECTION_BYTES } from './chunks.js';
import { MANIFEST_FILE } from './keys.js';
import { FrameTable, GCM_TAG_BYTES, MAX_FRAME_SIZE, MIN_FRAME_SIZE } from '../transform/frames.js';
import { ZSTD_MAX_LEVEL, ZSTD_MIN_LEVEL } from '../transform/zstd.js';
import { PACK_MAX_BLOBS, PACK_NAME } from './pack.js';

/** The format version this code writes for single-file archives; it reads every version from 1 up to PACK_FORMAT_VERSION. */
export const FORMAT_VERSION = 2;
/** The format version of a pack's manifest (docs/FORMAT.md §13.2): version 2 plus the `pack` field. */
export const PACK_FORMAT_VERSION = 3;
export const FORMAT_VERSIONS = [1, 2, 3] as const;
export { MANIFEST_COPY, MANIFEST_FILE, MANIFEST_SUM } from './keys.js';
export const MERKLE_ALGORITHM = 'blake3-merkle-v1';

const hex32 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits (a BLAKE3 hash)');
const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

const shardSchema = z.strictObject({ index: count, path: z.string(), size: count, hash: hex32 });
const segmentSchema = z.strictObject({ index: count, path: z.string(), offset: count, size: count, hash: hex32 });

const b64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64');
const keyslotSchema = z.strictObject({
  id: z.string().regex(/^[0-9a-f]{16}$/, 'must be 16 lowercase hex digits'),
  kind: z.enum(['passphrase', 'keyfile']),
  kdf: z.union([
    z.strictObject({ name: z.literal('scrypt'), n: z.number().int().min(1024).max(1 << 22).refine((n) => (n & (n - 1)) === 0, 'must be a power of two'), r: z.number().int().min(1).max(32), p: z.number().int().min(1).max(16), salt: b64 }),
    z.strictObject({ name: z.literal('hkdf-sha256'), salt: b64 }),
  ]),
  wrapped: b64.max(200),
  created_at: z.iso.datetime({ offset: true }),
});
/** Format v2: the plaintext's frames and transforms (docs/FORMAT.md §12.2). Absent = the stored stream is the file. */
const contentSchema = z.strictObject({
  frame_size: z.number().int().min(MIN_FRAME_SIZE).max(MAX_FRAME_SIZE).refine((n) => (n & (n - 1)) === 0, 'must be a power of two'),
  stored_size: count,
  transforms: z
    .array(z.union([z.strictObject({ type: z.literal('zstd'), level: z.number().int().min(ZSTD_MIN_LEVEL).max(ZSTD_MAX_LEVEL) }), z.strictObject({ type: z.literal('aes-256-gcm') })]))
    .min(1)
    .max(2),
  frames: b64,
  encryption: z
    .strictObject({
      archive_id: hex32,
      metadata: b64.max(64 * 1024),
      keyslots: z.array(keyslotSchema).min(1).max(64),
    })
    .optional(),
});

export const manifestSchema = z.strictObject({
  format_version: z.union([z.literal(1), z.literal(2), z.literal(3)]),
  /** Absent only in an encrypted (v2) archive, whose name is in content.encryption.metadata. */
  name: z.string().min(1).max(4096).optional(),
  /** The file's size in bytes (the plaintext; see content.stored_size for the stored stream). */
  size: count,
  /** Absent only in an encrypted (v2) archive. */
  original_hash: hex32.optional(),
  tier: z.union([z.literal(1), z.literal(2), z.literal(3), z.literal(4)]),
  segment_size: count,
  erasure_coding: z.strictObject({
    type: z.literal('reed-solomon'),
    field: z.literal('gf(2^8)/0x11d'),
    matrix: z.string().min(1),
    data_shards: z.number().int().min(1).max(255),
    parity_shards: z.number().int().min(0).max(255),
  }),
  chunk_index: z.strictObject({
    path: z.literal(CHUNK_INDEX_FILE),
    chunk_size: z.number().int().min(1024).max(256 * 1024).refine((n) => (n & (n - 1)) === 0, 'must be a power of two'),
  }),
  stripes: z.array(
    z.strictObject({ index: count, shard_size: count, data: z.array(segmentSchema), parity: z.array(shardSchema), chunks_hash: hex32 }),
  ),
  /** Tier 4 only: level-2 parity across groups of blocks (docs/FORMAT.md §3.1). */
  level2: z
    .strictObject({
      group_blocks: z.number().int().min(1).max(100),
      /** Version 1 defines level 2 with one parity shard per stripe (the XOR of its column). */
      parity_shards: z.literal(1),
      stripes: z.array(
        z.strictObject({ index: count, group: count, position: count, shard_size: count, parity: z.array(shardSchema), chunks_hash: hex32 }),
      ),
    })
    .optional(),
  /** The input file's permission bits and modification time at commit, restored with the file (absent in older archives). */
  source: z.strictObject({ mode: z.number().int().min(0).max(0o7777), mtime: z.iso.datetime({ offset: true }) }).optional(),
  /** Several stores only: how shards spread over failure domains (docs/FORMAT.md §11). Absent = one store. */
  placement: z
    .strictObject({
      rule: z.literal('rotate-v1'),
      stores: z.number().int().min(1).max(64),
      failures: z.number().int().min(0).max(63),
    })
    .optional(),
  content: contentSchema.optional(),
  /** Format v3 packs only (docs/FORMAT.md §13.2): where the blob table is in the stored stream, and its hash. */
  pack: z
    .strictObject({
      blobs: z.number().int().min(1).max(PACK_MAX_BLOBS),
      table_offset: count,
      table_size: count,
      table_hash: hex32,
    })
    .optional(),
  merkle: z.strictObject({ algorithm: z.literal(MERKLE_ALGORITHM), leaf_count: count, root: hex32 }),
  created_at: z.iso.datetime({ offset: true }),
  generator: z.string(),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type ManifestContent = NonNullable<Manifest['content']>;

/** Bytes of the stored stream, which the geometry describes: the file itself unless the archive has transforms. */
export function storedSize(m: Pick<Manifest, 'size' | 'content'>): number {
  return m.content?.stored_size ?? m.size;
}

/**
 * How a run of chunks starting at chunk `firstUnit` of a `total`-byte shard is hashed: as chaining values in format
 * v2 (the returned position), plainly in format v1 (undefined). docs/FORMAT.md §6.1, §12.1.
 */
export function chunkCv(m: Pick<Manifest, 'format_version'>, firstUnit: number, total: number): { firstUnit: number; total: number } | undefined {
  return m.format_version >= 2 ? { firstUnit, total } : undefined;
}

/** Is the archive encrypted (name, original_hash and source only under its key)? */
export function isEncrypted(m: Pick<Manifest, 'content'>): boolean {
  return m.content?.encryption !== undefined;
}
export type ManifestStripe = Manifest['stripes'][number];
export type ManifestLevel2 = NonNullable<Manifest['level2']>;

/** Merkle leaves in canonical order: per stripe, its data shards then its parity shards; then level-2 parity. */
export function merkleLeaves(m: Pick<Manifest, 'stripes' | 'level2'>): string[] {
  return [
    ...m.stripes.flatMap((s) => [...s.data.map((d) => d.hash), ...s.parity.map((p) => p.hash)]),
    ...(m.level2?.stripes.flatMap((s) => s.parity.map((p) => p.hash)) ?? []),
  ];
}

/** The geometry a manifest claims; parse/validate first. */
export function manifestGeometry(m: Manifest): Geometry {
  return computeGeometry({
    tier: m.tier,
    size: storedSize(m),
    segmentSize: m.segment_size,
    blockSegments: m.erasure_coding.data_shards,
    parityShards: m.erasure_coding.parity_shards,
    groupBlocks: m.level2?.group_blocks,
    level2ParityShards: m.level2?.parity_shards,
  });
}

function invalid(where: string, field: string, problem: string): BlockFrameError {
  return new BlockFrameError('BF_MANIFEST_INVALID', `${where}: field "${field}" ${problem}`, { path: where, field });
}

/**
 * Parse and fully validate manifest text: JSON syntax, the schema, the geometry (every path, offset and size
 * must be exactly what the format prescribes, so no path can point outside the archive) and the Merkle root.
 * `where` names the file in errors.
 */
export function parseManifest(text: string, where = MANIFEST_FILE): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    // Only the position: the parser's own message quotes the text, and a damaged file's bytes are never echoed.
    const at = /position (\d+)/.exec((err as Error).message)?.[1];
    throw new BlockFrameError('BF_MANIFEST_INVALID', `${where}: not valid JSON${at === undefined ? '' : ` (at byte ${at})`}`, { path: where });
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.length ? issue.path.map(String).join('.') : '(root)';
    throw invalid(where, field, issue.message.toLowerCase());
  }
  const m = parsed.data;
  checkGeometry(m, where);
  const root = merkleRootHex(merkleLeaves(m));
  if (m.merkle.leaf_count !== merkleLeaves(m).length) throw invalid(where, 'merkle.leaf_count', `is ${m.merkle.leaf_count}, expected ${merkleLeaves(m).length}`);
  if (root !== m.merkle.root) throw invalid(where, 'merkle.root', 'does not match the shard hashes');
  return m;
}

/** Format-v2 rules (docs/FORMAT.md §12.5): what may appear in which version, and the content section. */
function checkContent(m: Manifest, where: string): void {
  const c = m.content;
  if (m.format_version === 1 && c) throw invalid(where, 'content', 'is not allowed in format version 1');
  const encrypted = c?.encryption !== undefined;
  for (const f of ['name', 'original_hash'] as const) {
    if (!encrypted && m[f] === undefined) throw invalid(where, f, 'is required');
    if (encrypted && m[f] !== undefined) throw invalid(where, f, 'must be absent in an encrypted archive (it is sealed in content.encryption.metadata)');
  }
  if (encrypted && m.source !== undefined) throw invalid(where, 'source', 'must be absent in an encrypted archive');
  if (!c) return;
  const types = c.transforms.map((t) => t.type);
  if (new Set(types).size !== types.length || (types.length === 2 && types[0] !== 'zstd')) throw invalid(where, 'content.transforms', 'must be zstd, aes-256-gcm, or zstd then aes-256-gcm');
  if (types.includes('aes-256-gcm') !== encrypted) throw invalid(where, 'content.encryption', encrypted ? 'needs an aes-256-gcm transform' : 'is required with aes-256-gcm');
  FrameTable.parse(c.frames, m.size, c.frame_size, c.stored_size, encrypted ? GCM_TAG_BYTES : 0, where, 'content.frames');
}

/** The frame table of an archive with transforms (validated by parseManifest). */
export function frameTable(m: Manifest): FrameTable {
  const c = m.content!;
  return FrameTable.parse(c.frames, m.size, c.frame_size, c.stored_size, c.encryption ? GCM_TAG_BYTES : 0, MANIFEST_FILE, 'content.frames');
}

/** Format-v3 rules (docs/FORMAT.md §13.2): `pack` in version 3 only and always there, Tier 3, a plain stream. */
function checkPack(m: Manifest, where: string): void {
  if (m.format_version !== 3) {
    if (m.pack !== undefined) throw invalid(where, 'pack', `is not allowed in format version ${m.format_version}`);
    return;
  }
  const p = m.pack;
  if (!p) throw invalid(where, 'pack', 'is required in format version 3');
  if (m.tier !== 3) throw invalid(where, 'tier', `is ${m.tier}, a pack is tier 3`);
  if (m.name !== PACK_NAME) throw invalid(where, 'name', `must be "${PACK_NAME}" in a pack`);
  if (m.content !== undefined) throw invalid(where, 'content', 'is not allowed in a pack (format version 3.0)');
  if (m.source !== undefined) throw invalid(where, 'source', 'is not allowed in a pack');
  if (p.table_offset + p.table_size !== m.size) throw invalid(where, 'pack.table_size', `is ${p.table_size}: table_offset + table_size (${p.table_offset + p.table_size}) must equal size (${m.size})`);
  if (p.table_size < 1) throw invalid(where, 'pack.table_size', 'must be at least 1 (a table lists at least one blob)');
  if (p.table_offset < p.blobs) throw invalid(where, 'pack.table_offset', `is ${p.table_offset}, below one byte for each of ${p.blobs} blobs`);
}

function checkGeometry(m: Manifest, where: string): void {
  checkContent(m, where);
  checkPack(m, where);
  if (m.tier < 3 && m.erasure_coding.data_shards !== 1) throw invalid(where, 'erasure_coding.data_shards', `must be 1 for tier ${m.tier}`);
  if (m.tier === 1 && m.segment_size !== storedSize(m)) throw invalid(where, 'segment_size', 'must equal size for tier 1');
  if (m.tier !== 1 && m.segment_size < 1) throw invalid(where, 'segment_size', 'must be at least 1 for tiers 2 to 4');
  if ((m.tier === 4) !== (m.level2 !== undefined)) throw invalid(where, 'level2', m.tier === 4 ? 'is required for tier 4' : `must be absent for tier ${m.tier}`);
  const pl = m.placement;
  if (pl) {
    if (pl.failures >= pl.stores) throw invalid(where, 'placement.failures', `is ${pl.failures}, must be below placement.stores (${pl.stores})`);
    // rotate-v1 puts at most ceil(width / stores) shards of a stripe in one store.
    const width = m.erasure_coding.data_shards + m.erasure_coding.parity_shards;
    if (pl.failures * Math.ceil(width / pl.stores) > m.erasure_coding.parity_shards) {
      throw invalid(where, 'placement', `RS(${m.erasure_coding.data_shards},${m.erasure_coding.parity_shards}) over ${pl.stores} stores cannot survive ${pl.failures} store failures`);
    }
  }
  // Count stripes arithmetically first, so a crafted size/segment_size can't make us build a huge geometry.
  const segments = m.tier === 1 ? 1 : Math.max(1, Math.ceil(storedSize(m) / m.segment_size));
  const stripes = m.tier === 1 ? 1 : m.tier === 2 ? segments : Math.ceil(segments / m.erasure_coding.data_shards);
  if (m.stripes.length !== stripes) throw invalid(where, 'stripes', `has ${m.stripes.length} entries, expected ${stripes}`);
  const g = manifestGeometry(m);
  if (m.stripes.length !== g.stripes.length) throw invalid(where, 'stripes', `has ${m.stripes.length} entries, expected ${g.stripes.length}`);
  g.stripes.forEach((gs, i) => {
    const ms = m.stripes[i]!;
    const at = `stripes.${i}`;
    if (ms.index !== gs.index) throw invalid(where, `${at}.index`, `is ${ms.index}, expected ${gs.index}`);
    if (ms.shard_size !== gs.shardSize) throw invalid(where, `${at}.shard_size`, `is ${ms.shard_size}, expected ${gs.shardSize}`);
    if (ms.data.length !== gs.segments.length) throw invalid(where, `${at}.data`, `has ${ms.data.length} entries, expected ${gs.segments.length}`);
    gs.segments.forEach((s, j) => {
      const d = ms.data[j]!;
      for (const key of ['index', 'path', 'offset', 'size'] as const) {
        if (d[key] !== s[key]) throw invalid(where, `${at}.data.${j}.${key}`, `is ${JSON.stringify(d[key])}, expected ${JSON.stringify(s[key])}`);
      }
    });
    checkParity(where, `${at}.parity`, ms.parity, gs.parity);
  });
  // Bound what a reader will allocate for one stripe's chunk hashes, whatever sizes the manifest claims.
  const sections = chunkIndexLayout(g, m.chunk_index.chunk_size);
  const widest = sections.reduce((mx, s) => Math.max(mx, s.length), 0);
  if (widest > MAX_SECTION_BYTES) throw invalid(where, 'stripes', `claim a chunk-index section of ${widest} bytes, more than the ${MAX_SECTION_BYTES} a reader accepts`);
  const l2 = m.level2?.stripes ?? [];
  if (l2.length !== g.level2.length) throw invalid(where, 'level2.stripes', `has ${l2.length} entries, expected ${g.level2.length}`);
  g.level2.forEach((gs, i) => {
    const ms = l2[i]!;
    const at = `level2.stripes.${i}`;
    const want = { index: gs.index, group: gs.group, position: gs.position, shard_size: gs.shardSize };
    for (const key of ['index', 'group', 'position', 'shard_size'] as const) {
      if (ms[key] !== want[key]) throw invalid(where, `${at}.${key}`, `is ${ms[key]}, expected ${want[key]}`);
    }
    checkParity(where, `${at}.parity`, ms.parity, gs.parity);
  });
}

function checkParity(where: string, at: string, got: { index: number; path: string; size: number }[], want: ParityGeometry[]): void {
  if (got.length !== want.length) throw invalid(where, at, `has ${got.length} entries, expected ${want.length}`);
  want.forEach((p, j) => {
    const d = got[j]!;
    for (const key of ['index', 'path', 'size'] as const) {
      if (d[key] !== p[key]) throw invalid(where, `${at}.${j}.${key}`, `is ${JSON.stringify(d[key])}, expected ${JSON.stringify(p[key])}`);
    }
  });
}

/** Canonical manifest text: stable key order, two-space indent, trailing newline. */
export function serializeManifest(m: Manifest): string {
  return `${JSON.stringify(m, null, 2)}\n`;
}

/** The text of manifest.b3 for a manifest's text hash. */
export function manifestSumText(hashHex: string): string {
  return `${hashHex}  ${MANIFEST_FILE}\n`;
}

/** The hash in a manifest.b3 file, or null when it is not in the expected form. */
export function parseManifestSum(text: string): string | null {
  const m = /^([0-9a-f]{64})  manifest\.json\n?$/.exec(text);
  return m ? m[1]! : null;
}
