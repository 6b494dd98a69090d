// Which of an archive's differing manifest copies to trust (docs/FORMAT.md §7.1): the one the stores prove.
import { BlockFrameError } from '../errors.js';
import { blake3Hex } from '../integrity/blake3.js';
import { CHUNK_INDEX_FILE } from '../layout/chunks.js';
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
 * name before one that does not; then the one whose chunks_hash values more chunks.idx sections on the stores
 * confirm (only sections the copies disagree on are read); then one whose bytes match a manifest.b3; then reading
 * order. Evidence written apart from the manifest (the directory name at commit, the chunk index) outranks the
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

/**
 * For each candidate, how many of its chunks.idx sections that not every candidate shares (offset, length and
 * chunks_hash) some store's chunks.idx confirms. Shared sections can't tell the copies apart and are not read.
 */
async function sectionScores(set: StoreSet, dir: string, candidates: ManifestCandidate[], signal?: AbortSignal): Promise<number[]> {
  const sections = candidates.map((c) => {
    try {
      return codeLayout(c.manifest).stripes.map((s) => s.section);
    } catch (err) {
      if (err instanceof BlockFrameError) return [];
      throw err;
    }
  });
  const keyOf = (s: { offset: number; length: number; hash: string }) => `${s.offset}:${s.length}:${s.hash}`;
  const counts = new Map<string, number>();
  for (const list of sections) for (const k of new Set(list.map(keyOf))) counts.set(k, (counts.get(k) ?? 0) + 1);
  const seen = new Map<string, boolean>();
  const scores: number[] = [];
  for (const list of sections) {
    let score = 0;
    for (const s of list) {
      const k = keyOf(s);
      if (counts.get(k) === candidates.length) continue;
      if (!seen.has(k)) seen.set(k, await confirmedSomewhere(set, dir, s, signal));
      if (seen.get(k)) score++;
    }
    scores.push(score);
  }
  return scores;
}

/** Does any store's chunks.idx hold, at `offset`, `length` bytes whose BLAKE3 is `hash`? */
async function confirmedSomewhere(set: StoreSet, dir: string, s: { offset: number; length: number; hash: string }, signal?: AbortSignal): Promise<boolean> {
  for (let d = 0; d < set.size; d++) {
    const buf = new Uint8Array(s.length);
    try {
      const n = await set.on(d, (b) => b.get(`${dir}/${CHUNK_INDEX_FILE}`, buf, s.offset, signal));
      if (n === s.length && blake3Hex(buf) === s.hash) return true;
    } catch (err) {
      if (err instanceof BlockFrameError && err.code === 'BF_ABORTED') throw err;
    }
  }
  return false;
}
