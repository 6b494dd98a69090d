// The chunk index of one archive on its stores: every store keeps a full copy of chunks.idx. Sections are read
// and checked here (one place for the reader, verify and repair), and a damaged copy is rewritten whole.
import { blake3Hex } from '../integrity/blake3.js';
import { CHUNK_INDEX_FILE } from '../layout/chunks.js';
import { chunkIndexKey } from '../layout/keys.js';
import { BlockFrameError } from '../errors.js';
import { Spool } from '../store/spool.js';
import { scratchDir, type ArchiveCtx } from './shards.js';

export function indexKey(ctx: ArchiveCtx): string {
  return chunkIndexKey(ctx.dir);
}

/** Stripe `si`'s section from store `d`, if it is there and matches its manifest hash; null otherwise. */
async function sectionFrom(ctx: ArchiveCtx, d: number, si: number): Promise<Uint8Array | null> {
  const want = ctx.code.stripes[si]!.section;
  const buf = new Uint8Array(want.length);
  try {
    const n = await ctx.repo.set.on(d, (b) => b.get(indexKey(ctx), buf, want.offset, ctx.signal));
    return n === want.length && blake3Hex(buf) === want.hash ? buf : null;
  } catch (err) {
    if (err instanceof BlockFrameError && (err.code === 'BF_ABORTED' || err.code === 'BF_INTERNAL')) throw err;
    return null;
  }
}

/** Stripe `si`'s verified section from the first store whose copy is good there, or null when none is. */
export async function readSection(ctx: ArchiveCtx, si: number): Promise<Uint8Array | null> {
  for (let d = 0; d < ctx.repo.set.size; d++) {
    const got = await sectionFrom(ctx, d, si);
    if (got) return got;
  }
  return null;
}

export interface IndexCheck {
  /** Stores whose copy is missing, of the wrong size or has a bad section. */
  damagedCopies: { store: number; state: 'missing' | 'corrupt'; badSections: number[] }[];
  /** Sections no store has a good copy of: repair recomputes them from the shards. */
  badEverywhere: number[];
}

/**
 * Check every store's copy of chunks.idx, section by section; with `only` (stripe ids), just those sections (a
 * scrub batch), and then a copy's size counts only when it is missing.
 */
export async function checkIndex(ctx: ArchiveCtx, only?: readonly number[]): Promise<IndexCheck> {
  const stripes = only ? only.map((si) => ctx.code.stripes[si]!) : ctx.code.stripes;
  const goodSomewhere = new Set<number>();
  const damagedCopies: IndexCheck['damagedCopies'] = [];
  for (let d = 0; d < ctx.repo.set.size; d++) {
    let size: number | null;
    try {
      size = (await ctx.repo.set.on(d, (b) => b.stat(indexKey(ctx), ctx.signal)))?.size ?? null;
    } catch (err) {
      if (err instanceof BlockFrameError && err.code === 'BF_ABORTED') throw err;
      size = null;
    }
    if (size === null) {
      damagedCopies.push({ store: d, state: 'missing', badSections: stripes.map((s) => s.id) });
      continue;
    }
    const bad: number[] = [];
    for (const st of stripes) {
      if (await sectionFrom(ctx, d, st.id)) goodSomewhere.add(st.id);
      else bad.push(st.id);
    }
    if (bad.length || (!only && size !== ctx.code.indexSize)) damagedCopies.push({ store: d, state: 'corrupt', badSections: bad });
  }
  return { damagedCopies, badEverywhere: stripes.filter((s) => !goodSomewhere.has(s.id)).map((s) => s.id) };
}

/**
 * Assemble a whole chunks.idx in a local spool file, section by section (bounded memory): a good copy from any
 * store, or `recompute(si)` (from the shards) where no store has one; then put it on `stores`.
 */
export async function rewriteIndex(ctx: ArchiveCtx, stores: number[], recompute: (si: number) => Promise<Uint8Array>): Promise<void> {
  const spool = await Spool.create(scratchDir());
  try {
    const f = await spool.create(CHUNK_INDEX_FILE);
    try {
      for (const st of ctx.code.stripes) await f.write((await readSection(ctx, st.id)) ?? (await recompute(st.id)), st.section.offset);
      await f.finish();
    } catch (err) {
      await f.close();
      throw err;
    }
    const src = await spool.source(CHUNK_INDEX_FILE, false);
    await Promise.all(stores.map((d) => ctx.repo.set.on(d, (b) => b.put(indexKey(ctx), src, ctx.signal))));
  } finally {
    await spool.discard();
  }
}
