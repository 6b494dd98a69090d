// Which of an archive's differing manifest copies to trust (docs/FORMAT.md §7.1): the one the stores prove.
import { BlockFrameError } from '../errors.js';
import { blake3Hex, createBlake3Stream } from '../integrity/blake3.js';
import { archiveKey, chunkIndexKey } from '../layout/keys.js';
import { codeLayout } from '../layout/code.js';
import type { Manifest } from '../layout/manifest.js';
import { parseArchiveDirName, safeNameComponent } from '../layout/names.js';
import type { StoreSet } from '../store/store-set.js';

/** One distinct manifest text that validates, where it was first found (reading order: store, then file). */
export interface ManifestCandidate {
  text: string;
  /** BLAKE3 hex of the text's UTF-8 bytes. */
  hash: string;
  manifest: Manifest;
  file: string;
  store: number;
}

export interface ManifestPick {
  chosen: ManifestCandidate;
  /** The chosen text's BLAKE3 is in some store's manifest.b3. */
  proven: boolean;
  /** Set when even the chosen copy contradicts the directory name: no copy can be trusted to rewrite the others. */
  contradicted?: string;
}

/**
 * Does the manifest's `name` give the directory's name part (docs/FORMAT.md §2)? The directory was named from the
 * exact name at commit, so a copy whose name was edited since disagrees. An encrypted archive's name is sealed (its
 * directory carries `archive_id`, which parsing checks): nothing to compare, so it agrees.
 */
export function nameAgrees(dir: string, m: Manifest): boolean {
  if (m.content?.encryption !== undefined || m.name === undefined) return true;
  return parseArchiveDirName(dir)?.name === safeNameComponent(m.name);
}

/**
 * Rank the distinct valid copies and take the first (docs/FORMAT.md §7.1): a copy that agrees with the directory
 * name before one that does not; then the one more of whose chunks_hash values (against chunks.idx) and shard
 * hashes (against the shard files) the stores confirm, reading only what the copies disagree on; then one whose
 * bytes match a manifest.b3; then reading order. Evidence written apart from the manifest (the directory name at commit, the chunk index) outranks the
 * checksum, which anyone who edits a copy can rewrite with it. `candidates` is in reading order and not empty. Errors: only BF_ABORTED (a section that can't be read
 * confirms nothing).
 */
export async function pickManifest(set: StoreSet, dir: string, candidates: ManifestCandidate[], sums: ReadonlySet<string>, signal?: AbortSignal): Promise<ManifestPick> {
  const agrees = candidates.map((c) => nameAgrees(dir, c.manifest));
  const proven = candidates.map((c) => sums.has(c.hash));
  const confirmed = candidates.length > 1 ? await sectionScores(set, dir, candidates, signal) : [0];
  const order = candidates.map((_, i) => i);
  order.sort((a, b) => Number(agrees[b]) - Number(agrees[a]) || confirmed[b]! - confirmed[a]! || Number(proven[b]) - Number(proven[a]) || a - b);
  const i = order[0]!;
  const chosen = candidates[i]!;
  const pick: ManifestPick = { chosen, proven: proven[i]! };
  if (!agrees[i]) {
    pick.contradicted = `${chosen.file}: field "name" does not match the directory name, and no copy that does survives (repair will not rewrite the manifest set from it)`;
  }
  return pick;
}

/** One claim a copy makes about bytes on the stores: a chunks.idx section, or a whole shard file. */
type Claim = { kind: 'section'; offset: number; length: number; hash: string } | { kind: 'shard'; path: string; size: number; hash: string };

/**
 * For each candidate, how many of its claims that not every candidate shares some store confirms: chunks.idx
 * sections (offset, length, chunks_hash) and shard files (path, size, hash). Shared claims can't tell the copies
 * apart and are not read, so an edit of one field costs one section or one shard read.
 */
async function sectionScores(set: StoreSet, dir: string, candidates: ManifestCandidate[], signal?: AbortSignal): Promise<number[]> {
  const claims = candidates.map((c): Claim[] => {
    try {
      const code = codeLayout(c.manifest);
      return [...code.stripes.map((s): Claim => ({ kind: 'section', ...s.section })), ...code.shards.map((sh): Claim => ({ kind: 'shard', path: sh.path, size: sh.size, hash: sh.hash }))];
    } catch (err) {
      if (err instanceof BlockFrameError) return [];
      throw err;
    }
  });
  const keyOf = (c: Claim) => (c.kind === 'section' ? `s:${c.offset}:${c.length}:${c.hash}` : `f:${c.path}:${c.size}:${c.hash}`);
  const counts = new Map<string, number>();
  for (const list of claims) for (const k of new Set(list.map(keyOf))) counts.set(k, (counts.get(k) ?? 0) + 1);
  const seen = new Map<string, boolean>();
  const scores: number[] = [];
  for (const list of claims) {
    let score = 0;
    for (const c of list) {
      const k = keyOf(c);
      if (counts.get(k) === candidates.length) continue;
      if (!seen.has(k)) seen.set(k, c.kind === 'section' ? await confirmedSomewhere(set, dir, c, signal) : await shardConfirmed(set, dir, c, signal));
      if (seen.get(k)) score++;
    }
    scores.push(score);
  }
  return scores;
}

/** Bytes read at a time while hashing a shard for evidence. */
const SLICE = 1024 * 1024;

/** Does some store hold `path` of exactly `size` bytes whose BLAKE3 is `hash`? Reads it in 1 MiB slices. */
async function shardConfirmed(set: StoreSet, dir: string, c: { path: string; size: number; hash: string }, signal?: AbortSignal): Promise<boolean> {
  const key = archiveKey(dir, c.path);
  const buf = new Uint8Array(Math.min(SLICE, Math.max(1, c.size)));
  for (let d = 0; d < set.size; d++) {
    try {
      const info = await set.on(d, (b) => b.stat(key, signal));
      if (!info || info.size !== c.size) continue;
      const h = await createBlake3Stream();
      let at = 0;
      while (at < c.size) {
        const n = await set.on(d, (b) => b.get(key, buf.subarray(0, Math.min(buf.length, c.size - at)), at, signal));
        if (n <= 0) break;
        h.update(buf.subarray(0, n));
        at += n;
      }
      if (at === c.size && h.digestHex() === c.hash) return true;
    } catch (err) {
      if (err instanceof BlockFrameError && err.code === 'BF_ABORTED') throw err;
    }
  }
  return false;
}

/** Does any store's chunks.idx hold, at `offset`, `length` bytes whose BLAKE3 is `hash`? */
async function confirmedSomewhere(set: StoreSet, dir: string, s: { offset: number; length: number; hash: string }, signal?: AbortSignal): Promise<boolean> {
  for (let d = 0; d < set.size; d++) {
    const buf = new Uint8Array(s.length);
    try {
      const n = await set.on(d, (b) => b.get(chunkIndexKey(dir), buf, s.offset, signal));
      if (n === s.length && blake3Hex(buf) === s.hash) return true;
    } catch (err) {
      if (err instanceof BlockFrameError && err.code === 'BF_ABORTED') throw err;
    }
  }
  return false;
}
