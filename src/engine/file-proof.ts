// Proof of one file of a snapshot (docs/FORMAT.md §13.8 "Proof of one file"): snapshot id → header → body line → blob → the segments that hold it, each with its Merkle proof to the pack's root; and checkFileProof, which checks one without the stores.
import { BlockFrameError, isBlockFrameError } from '../errors.js';
import { createBlake3Stream, blake3Hex } from '../integrity/blake3.js';
import { merkleProof, verifyMerkleProof, type MerkleProofStep } from '../integrity/merkle.js';
import { blobDir, packDir } from '../layout/keys.js';
import { merkleLeaves, type Manifest } from '../layout/manifest.js';
import { EMPTY_BLOB } from '../layout/pack.js';
import { parseEntryLine, type SnapshotEntry } from '../layout/snapshot.js';
import { parseSnapshotHeader } from '../layout/snapshot-header.js';
import { describePath, utf8OrNull } from '../tree-path.js';
import { ArchiveReader } from '../archive/read/reader.js';
import { readStored } from '../archive/read/plain.js';
import { readSnapshotHeader } from '../archive/snapshots.js';
import { resolveSnapshot } from '../archive/names.js';
import { parseSnapshotRef, withSnapshotSession, type SnapshotReadOptions, type SnapshotSession } from './snapshots.js';

/** The kind string of a file proof (its `kind` field); `version` 1 is the shape below. */
export const FILE_PROOF_KIND = 'blockframe-file-proof';

/** One data segment (shard file) holding bytes of the blob, and its inclusion proof in the archive's Merkle tree. */
export interface ProofSegment {
  /** The shard file, relative to the archive directory (`location.dir`). */
  path: string;
  /** Where the segment's bytes sit in the archive's stored stream, bytes. */
  offset: number;
  size: number;
  /** The Merkle leaf: BLAKE3 of the shard file (64 hex), as the manifest lists it. */
  hash: string;
  /** The leaf's index in the tree (docs/merkle.md: stripes in order, data then parity shards). */
  leaf: number;
  /** Siblings from the leaf to the top (docs/merkle.md "Inclusion proofs"). */
  steps: MerkleProofStep[];
}

/**
 * A proof that file `path` of snapshot `snapshot.id` has content `blob` and that those bytes are the bytes
 * [location.offset, location.offset + size) of an archive (a pack, or a large blob's own archive) with Merkle root
 * `merkle.root`. JSON as `verify NAME[@ID]:PATH --proof --json` prints it. Hashes are 64 lowercase hex digits.
 */
export interface FileProof {
  kind: typeof FILE_PROOF_KIND;
  version: 1;
  /** Every check below held when the proof was made (the verified bytes were read and hashed). */
  ok: boolean;
  /** What failed, one line each (empty when ok). */
  problems: string[];
  /** The snapshot: its id is BLAKE3 of `header` (the exact bytes of snapshot.json, UTF-8 text, ending in "\n"). */
  snapshot: { id: string; name: string; header: string };
  /** The body blob (the header's root_hash and root_size) and the file's line of it (1-based, without its "\n"). */
  body: { hash: string; size: number; line: number; text: string };
  /** The path as text (UTF-8), or `pathB64` (base64 of its bytes) when it is not UTF-8; the content's BLAKE3 and size: from the body line. */
  path?: string;
  pathB64?: string;
  blob: string;
  size: number;
  /** Where the blob's bytes are: the archive directory, its kind and id, and the blob's offset in its stored stream. */
  location: { kind: 'pack' | 'archive'; id: string; dir: string; offset: number } | null;
  /** The archive manifest's Merkle root and leaf count. */
  merkle: { root: string; leafCount: number } | null;
  /** The data segments covering [offset, offset + size), in stream order (none for an empty file). */
  segments: ProofSegment[];
  /** BLAKE3 of the bytes cut from the segments: equal to `blob` when the proof holds. */
  cutHash: string;
}

/**
 * Make the proof of file `text` (NAME[@ID]:PATH, or `opts.path`; FORMAT.md §13.8). Reads the header (checked
 * against its id), the whole body (to hash it against root_hash, keeping only the file's line), the first valid
 * location of the blob (pack table or large blob manifest) and the verified bytes of each segment covering the blob
 * (one at a time: memory for one segment), hashing each segment against its leaf and the cut bytes against the blob.
 * Damage the read healed around is not a failure (the verified bytes are the segment's): run repair for the files.
 * @throws BlockFrameError BF_USAGE (no path), BF_FILE_NOT_FOUND, BF_OUTPUT_INVALID (not a file), BF_ARCHIVE_NOT_FOUND,
 * BF_AMBIGUOUS_NAME, BF_SNAPSHOT_INVALID, BF_BLOB_MISSING (the body or the file has no valid location), BF_ABORTED.
 */
export async function proveFile(text: string, opts: SnapshotReadOptions & { path?: string } = {}): Promise<FileProof> {
  const ref = parseSnapshotRef(text, opts.path);
  if (ref.path.length === 0) throw new BlockFrameError('BF_USAGE', `verify --proof names one file of a snapshot: ${ref.spec}:PATH`, { field: 'path' });
  return withSnapshotSession(opts, (s) => proveIn(s, ref.spec, ref.path, opts.signal));
}

async function proveIn(s: SnapshotSession, spec: string, path: Buffer, signal?: AbortSignal): Promise<FileProof> {
  const id = (await resolveSnapshot(s.repo, spec, signal)).id;
  const headerBytes = (await readSnapshotHeader(s.repo, id, { signal })).bytes;
  const h = parseSnapshotHeader(headerBytes, id);
  const line = await findLine(s, h.root_hash, path, signal);
  const shown = describePath(path);
  if (!line) throw new BlockFrameError('BF_FILE_NOT_FOUND', `no entry ${shown} in snapshot ${h.name}@${id.slice(0, 12)}`, { path: shown, snapshot: id });
  const e = line.entry;
  if (e.type !== 'file') throw new BlockFrameError('BF_OUTPUT_INVALID', `${shown} is a ${e.type === 'dir' ? 'directory' : 'symlink'}, not a file: a proof is of a file's content`, { path: shown, type: e.type });
  const proof: FileProof = {
    kind: FILE_PROOF_KIND,
    version: 1,
    ok: true,
    problems: [],
    snapshot: { id, name: h.name, header: Buffer.from(headerBytes).toString('utf8') },
    body: { hash: h.root_hash, size: h.root_size, line: line.number, text: line.text },
    ...pathFields(path),
    blob: e.blob,
    size: e.size,
    location: null,
    merkle: null,
    segments: [],
    cutHash: EMPTY_BLOB,
  };
  if (e.size > 0) await proveBytes(s, e, proof, signal);
  proof.problems.push(...checkFileProof(proof));
  proof.ok = proof.problems.length === 0;
  return proof;
}

function pathFields(path: Buffer): { path?: string; pathB64?: string } {
  const text = utf8OrNull(path);
  return text !== null ? { path: text } : { pathB64: path.toString('base64') };
}

/** The body's line for `path` (its number, text and entry), reading the whole body (checked against its hash by the stream). */
async function findLine(s: SnapshotSession, root: string, path: Buffer, signal?: AbortSignal): Promise<{ number: number; text: string; entry: SnapshotEntry } | null> {
  if (root === EMPTY_BLOB) return null;
  let found: { number: number; text: string; entry: SnapshotEntry } | null = null;
  let n = 0;
  let rest = Buffer.alloc(0);
  const take = (l: Buffer): void => {
    n++;
    if (found) return;
    const entry = parseEntryLine(l, n);
    if (entry.path.equals(path)) found = { number: n, text: l.toString('utf8'), entry };
  };
  for await (const chunk of s.reader.stream(root) as AsyncIterable<Buffer>) {
    if (signal?.aborted) throw new BlockFrameError('BF_ABORTED', 'cancelled while proving');
    let buf = rest.length ? Buffer.concat([rest, chunk]) : chunk;
    for (let nl = buf.indexOf(0x0a); nl >= 0; nl = buf.indexOf(0x0a)) {
      take(buf.subarray(0, nl));
      buf = buf.subarray(nl + 1);
    }
    rest = Buffer.from(buf);
  }
  return found;
}

/** The first valid location of the blob (a pack whose verified table lists it, or its large-blob archive) and its manifest. */
async function locate(s: SnapshotSession, blob: string, size: number): Promise<{ loc: NonNullable<FileProof['location']>; m: Manifest }> {
  const tried: string[] = [];
  for (const l of s.live.lookup(blob)) {
    const dir = l.kind === 'pack' ? packDir(l.pack) : blobDir(l.hash);
    try {
      if (l.kind === 'pack') {
        const row = (await s.reader.table(l.pack)).find((r) => r.hash === blob);
        if (!row || row.offset !== l.offset || row.size !== size) throw new BlockFrameError('BF_BLOB_MISSING', `${dir} does not list the blob`, { archive: dir });
        return { loc: { kind: 'pack', id: l.pack, dir, offset: l.offset }, m: await s.repo.readManifest(dir) };
      }
      const m = await s.repo.readManifest(dir);
      if (m.original_hash !== blob || m.size !== size || m.content) throw new BlockFrameError('BF_BLOB_MISSING', `${dir} is not the blob`, { archive: dir });
      return { loc: { kind: 'archive', id: blob, dir, offset: 0 }, m };
    } catch (err) {
      if (!isBlockFrameError(err) || err.code === 'BF_ABORTED') throw err;
      tried.push(`${dir} (${err.code})`);
    }
  }
  throw new BlockFrameError('BF_BLOB_MISSING', `blob ${blob} has no valid location${tried.length ? `; tried ${tried.join(', ')}` : ''}`, { blob, tried });
}

async function proveBytes(s: SnapshotSession, e: SnapshotEntry & { type: 'file' }, proof: FileProof, signal?: AbortSignal): Promise<void> {
  const seen = s.live.generation;
  const { loc, m } = await locate(s, e.blob, e.size).catch(async (err: unknown) => {
    if (!isBlockFrameError(err, 'BF_BLOB_MISSING')) throw err;
    await s.live.reloadSince(seen); // a prune may have moved it (blob-retry.ts)
    return locate(s, e.blob, e.size);
  });
  proof.location = loc;
  const leaves = merkleLeaves(m);
  proof.merkle = { root: m.merkle.root, leafCount: leaves.length };
  const reader = new ArchiveReader(s.repo, loc.dir, m, s.pool, signal, (d) => s.damage.push(d));
  const cut = await createBlake3Stream();
  try {
    let leaf = 0;
    const from = loc.offset;
    const to = loc.offset + e.size;
    for (const st of m.stripes) {
      for (const d of st.data) {
        const at = leaf++;
        if (d.offset === undefined || d.offset >= to || d.offset + d.size <= from) continue;
        const bytes = Buffer.allocUnsafe(d.size);
        await readStored(reader, d.offset, bytes);
        if (blake3Hex(bytes) !== d.hash) proof.problems.push(`segment ${d.path}: its verified bytes do not hash to its leaf`);
        cut.update(bytes.subarray(Math.max(0, from - d.offset), Math.min(d.size, to - d.offset)));
        proof.segments.push({ path: d.path, offset: d.offset, size: d.size, hash: d.hash, leaf: at, steps: merkleProof(leaves, at).steps });
      }
      leaf += st.parity.length;
    }
  } finally {
    await reader.close();
  }
  proof.cutHash = cut.digestHex();
}

/**
 * Check a proof without the stores (FORMAT.md §13.8): the header hashes to the snapshot id and names the body's hash
 * and size; the body line parses, is the file's, and names `blob` and `size`; the segments are contiguous data
 * segments covering [offset, offset + size), each leaf's Merkle proof reaches `merkle.root`; `cutHash` is `blob`.
 * What it cannot check alone: that the line is in the body (that needs the body: its BLAKE3 is `body.hash`) and
 * that the segment files hash to their leaves and cut to `cutHash` (that needs the files: b3sum and dd do it).
 * Returns the problems found (empty: the proof holds). Never throws for a malformed proof.
 */
export function checkFileProof(p: FileProof): string[] {
  const out: string[] = [];
  try {
    const header = Buffer.from(p.snapshot.header, 'utf8');
    if (blake3Hex(header) !== p.snapshot.id) out.push('the header does not hash to the snapshot id');
    const h = parseSnapshotHeader(header, p.snapshot.id);
    if (h.root_hash !== p.body.hash || h.root_size !== p.body.size) out.push('the header names another body');
    const e = parseEntryLine(Buffer.from(p.body.text, 'utf8'), p.body.line);
    if (e.type !== 'file') out.push('the body line is not a file');
    else if (e.blob !== p.blob || e.size !== p.size) out.push('the body line names another blob or size');
    const want = pathFields(e.path);
    if (want.path !== p.path || want.pathB64 !== p.pathB64) out.push('the body line is of another path');
    if (p.size === 0) {
      if (p.segments.length || p.blob !== EMPTY_BLOB) out.push('an empty file has no segments and the empty blob');
    } else {
      if (!p.merkle || !p.location) return [...out, 'no location or Merkle root for a non-empty file'];
      let next = p.segments[0]?.offset ?? -1;
      const from = p.location.offset;
      const to = from + p.size;
      if (next > from || !p.segments.length) out.push('the segments do not start at the blob');
      for (const s of p.segments) {
        if (s.offset !== next || s.size < 1) out.push(`segment ${s.path}: not contiguous with the one before`);
        next = s.offset + s.size;
        if (!verifyMerkleProof({ index: s.leaf, leafCount: p.merkle.leafCount, leaf: s.hash, steps: s.steps }, p.merkle.root)) out.push(`segment ${s.path}: its Merkle proof does not reach the root`);
      }
      if (next < to) out.push('the segments end before the blob does');
    }
    if (p.cutHash !== p.blob) out.push('the cut bytes do not hash to the blob');
  } catch (err) {
    out.push(err instanceof Error ? err.message : String(err));
  }
  return out;
}

