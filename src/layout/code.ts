// The erasure code of an archive as one graph: every shard file, every stripe (level 1 blocks, level 2 columns)
import { BlockFrameError } from '../errors.js';
// that protects it, and where its chunk hashes sit. Verify, repair and the reader work on this, whatever the tier.
import { chunkIndexLayout, type StripeChunks } from './chunks.js';
import { manifestGeometry, type Manifest } from './manifest.js';

export interface CodeShard {
  /** Shard number in the archive: level-1 stripes in order (data then parity), then level-2 parity. */
  id: number;
  path: string;
  size: number;
  /** BLAKE3 from the manifest. */
  hash: string;
  role: 'data' | 'parity';
  level: 1 | 2;
  /** The stripe whose chunks.idx section holds this shard's chunk hashes (its level-1 block, or its level-2 stripe). */
  home: number;
  /** Absolute offset of the shard's first chunk hash in chunks.idx, and how many it has. */
  chunkOffset: number;
  chunkCount: number;
}

export interface CodeStripe {
  /** Stripe number in the archive: level-1 stripes first, then level-2 stripes. */
  id: number;
  level: 1 | 2;
  /** Index within its level (the manifest's stripes[] or level2.stripes[]). */
  index: number;
  k: number;
  m: number;
  shardSize: number;
  /** k data slots then m parity slots: a shard id, or null for a slot that is known zeros (a short last block). */
  slots: (number | null)[];
  /** This stripe's section of chunks.idx (it lists the shards whose home this stripe is). */
  section: { offset: number; length: number; hash: string; shards: number[] };
  /** For messages: "block 3" or "level-2 group 0 position 5". */
  label: string;
}

export interface CodeLayout {
  shards: CodeShard[];
  stripes: CodeStripe[];
  /** Shard id → the stripes it belongs to, level 1 first. */
  stripesOf: number[][];
  /** Global segment index → shard id. */
  segments: number[];
  chunkSize: number;
  /** Expected size of chunks.idx. */
  indexSize: number;
}

export function codeLayout(m: Manifest): CodeLayout {
  const g = manifestGeometry(m);
  const chunkSize = m.chunk_index.chunk_size;
  const sections = chunkIndexLayout(g, chunkSize);
  const shards: CodeShard[] = [];
  const stripes: CodeStripe[] = [];
  const add = (sec: StripeChunks, n: number, hash: string, level: 1 | 2, home: number): number => {
    const c = sec.shards[n]!;
    shards.push({ id: shards.length, path: c.path, size: c.size, hash, role: c.role, level, home, chunkOffset: c.offset, chunkCount: c.count });
    return shards.length - 1;
  };
  const segments: number[] = [];
  m.stripes.forEach((st, i) => {
    const sec = sections[i]!;
    const data = st.data.map((d, j) => add(sec, j, d.hash, 1, i));
    const parity = st.parity.map((p, j) => add(sec, st.data.length + j, p.hash, 1, i));
    segments.push(...data);
    const k = m.erasure_coding.data_shards;
    const slots = [...data, ...new Array<null>(k - data.length).fill(null), ...parity];
    const label = m.tier >= 3 ? `block ${i}` : m.tier === 2 ? `segment ${i}` : 'the file';
    stripes.push({ id: i, level: 1, index: i, k, m: parity.length, shardSize: st.shard_size, slots, section: section(sec, st.chunks_hash, [...data, ...parity]), label });
  });
  const l2 = m.level2?.stripes ?? [];
  l2.forEach((st, i) => {
    const id = stripes.length;
    const sec = sections[m.stripes.length + i]!;
    const gs = g.level2[i]!;
    const parity = st.parity.map((p, j) => add(sec, j, p.hash, 2, id));
    // A member is the segment at this position in each block of the group; segment index = block * k + position.
    const data = gs.members.map((s) => (s === null ? null : segments[s.index]!));
    const label = `level-2 group ${st.group} position ${st.position}`;
    stripes.push({ id, level: 2, index: i, k: data.length, m: parity.length, shardSize: st.shard_size, slots: [...data, ...parity], section: section(sec, st.chunks_hash, parity), label });
  });
  const stripesOf: number[][] = shards.map(() => []);
  for (const st of stripes) for (const s of st.slots) if (s !== null) stripesOf[s]!.push(st.id);
  const indexSize = sections.reduce((n, s) => n + s.length, 0);
  return { shards, stripes, stripesOf, segments, chunkSize, indexSize };
}

function section(sec: StripeChunks, hash: string, shards: number[]): CodeStripe['section'] {
  return { offset: sec.offset, length: sec.length, hash, shards };
}

/** A shard's slot in a stripe it belongs to. */
export function slotOf(st: CodeStripe, shard: number): number {
  const i = st.slots.indexOf(shard);
  if (i < 0) throw new BlockFrameError('BF_INTERNAL', `shard ${shard} is not in stripe ${st.id}`);
  return i;
}

/** Why shard `n` can't be rebuilt: for each of its stripes, how many of its shards are in `lost`, against its m. */
export function lossReasons(code: CodeLayout, n: number, lost: { has(shard: number): boolean }): string[] {
  return code.stripesOf[n]!.map((si) => {
    const st = code.stripes[si]!;
    const gone = st.slots.filter((s) => s !== null && lost.has(s)).length;
    return `${st.label} lost ${gone} shards, more than the ${st.m} its parity can rebuild`;
  });
}

/** BLAKE3 of no bytes (the BLAKE3 specification's test vector for empty input): the hash of every empty shard. */
export const EMPTY_HASH = 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262';

/**
 * True for a shard the manifest alone determines, so it is never lost beyond repair: an empty one (size 0 and the
 * hash of no bytes). Only an empty file has them: its one segment and every parity shard of its stripe.
 */
export function knownShard(sh: CodeShard): boolean {
  return sh.size === 0 && sh.hash === EMPTY_HASH;
}

/** How a plan names the source of a shard the manifest determines. */
export const FROM_MANIFEST = 'the manifest: an empty shard';

export interface RecoveryStep {
  stripe: number;
  /** Shard ids rebuilt by this step, from the other shards of the stripe (all intact by then). */
  shards: number[];
  /** The stripe's label, for plans shown to people. */
  via: string;
}

export interface RecoveryPlan {
  steps: RecoveryStep[];
  /** Shards no sequence of steps can rebuild. */
  lost: number[];
}

/**
 * Order the rebuild of lost shards (peeling): every level-1 stripe that lost at most m shards first; only when
 * none is left, one level-2 stripe, then level 1 again. So level 2 rebuilds just enough shards of a block for
 * level 1 to rebuild the rest from one read of the block. A step only uses shards that are intact or rebuilt
 * by earlier steps, so repair can carry the plan out file by file. Pure: it looks at shard ids only.
 * With `target` (a reader wanting one shard back), the plan stops once that shard is rebuilt, and a stripe that
 * rebuilds it straight away goes first: the fewest reads for one shard, where repair wants the fewest for all.
 */
export function planRecovery(code: CodeLayout, lost: Iterable<number>, target?: number): RecoveryPlan {
  const missing = new Set(lost);
  const steps: RecoveryStep[] = [];
  // Shards the manifest determines come first, one step per stripe (their home), whatever else the stripe lost.
  const known = new Map<number, number[]>();
  for (const n of missing) {
    const sh = code.shards[n]!;
    if (!knownShard(sh) || (target !== undefined && n !== target)) continue;
    known.set(sh.home, [...(known.get(sh.home) ?? []), n]);
  }
  for (const [stripe, shards] of known) {
    steps.push({ stripe, shards: shards.sort((a, b) => a - b), via: FROM_MANIFEST });
    for (const s of shards) missing.delete(s);
  }
  const take = (st: CodeStripe): boolean => {
    const gone = st.slots.filter((s): s is number => s !== null && missing.has(s));
    if (gone.length === 0 || gone.length > st.m) return false;
    steps.push({ stripe: st.id, shards: gone, via: st.label });
    for (const s of gone) missing.delete(s);
    return true;
  };
  const round = (level: 1 | 2, once: boolean): boolean => {
    let progress = false;
    for (const st of code.stripes) {
      if (st.level !== level || !take(st)) continue;
      progress = true;
      if (once) break;
    }
    return progress;
  };
  // With a target (one shard a reader wants), stop once it is rebuilt and take any stripe that rebuilds it at once.
  const done = () => (target === undefined ? missing.size === 0 : !missing.has(target));
  while (!done()) {
    if (target !== undefined && code.stripesOf[target]!.some((si) => take(code.stripes[si]!))) continue;
    if (round(1, false)) continue;
    if (!round(2, true)) break;
  }
  return { steps, lost: [...missing].sort((a, b) => a - b) };
}
