// verify: check every shard once against the manifest (both cores), name each problem and whether it is repairable.
import { loadSecrets, shownName } from '../archive/keyring.js';
import { BlockFrameError, EXIT } from '../errors.js';
import { SlabPool, type ComputePool } from '../compute/pool.js';
import { merkleProof, verifyMerkleProof } from '../integrity/merkle.js';
import { lossReasons, planRecovery, type CodeLayout, type RecoveryPlan } from '../layout/code.js';
import { archiveMargin, totalMargin } from '../layout/margin.js';
import { merkleLeaves, MANIFEST_COPY, MANIFEST_FILE, MANIFEST_SUM, type Manifest } from '../layout/manifest.js';
import { CHUNK_INDEX_FILE } from '../layout/chunks.js';
import { checkIndex } from '../archive/chunk-index.js';
import { withRepo, type Repository } from '../archive/repo.js';
import type { Leftover } from '../store/leftovers.js';
import { withPool, type OperationOptions } from './context.js';
import { resolveArchive, resolveMany } from './find.js';
import { archiveCtx, checkShard, computeSection, type ArchiveCtx, type ShardState } from '../archive/read/stripe.js';

export type ProblemKind = 'missing' | 'truncated' | 'corrupt' | 'unexpected' | 'manifest';
export type Health = 'healthy' | 'repairable' | 'unrecoverable';

export interface Problem {
  kind: ProblemKind;
  /** Path relative to the archive directory. */
  path: string;
  /** The stripe (Tier 2 segment, Tier 3/4 block, Tier 4 level-2 stripe) the file belongs to, numbered within its level. */
  stripe?: number;
  /** 2 for Tier 4 level-2 parity shards, 1 for every other shard. */
  level?: 1 | 2;
  /** With several stores: the store (1-based, in the order given) the file is on or belongs on. */
  store?: number;
  repairable: boolean;
  detail: string;
}

/** One store's part of an archive, as verify found it. */
export interface StoreHealth {
  /** 1-based, in the order the stores were given. */
  store: number;
  label: string;
  /** Shards of this archive placed on the store, and how many of them are missing or unreadable. */
  shards: number;
  lost: number;
  /**
   * 'lost': every shard placed there is gone (a dead or replaced disk); 'unavailable': the store did not answer;
   * 'denied': the store refused access (check credentials): it is not down, and replacing it is never the fix;
   * 'absent': the store's marker is missing (not mounted) or another set's: a state, not damage; its shards are read
   * from the others, and it is never written to (docs/FORMAT.md §14).
   */
  state: 'ok' | 'damaged' | 'lost' | 'unavailable' | 'denied' | 'absent';
}

export interface ArchiveHealth {
  dir: string;
  name: string;
  status: Health;
  problems: Problem[];
  /** Per store, with several stores (one entry for a single directory). */
  stores: StoreHealth[];
  /** Shard bytes hashed. */
  bytesChecked: number;
  /**
   * How many more shards it can lose and still be rebuilt whole, given what verify found lost (layout/margin.ts;
   * docs/FORMAT.md §15); -1 when it is beyond repair (or its manifest is).
   */
  margin: number;
  /** Internal: what repair needs (lost shard ids, the order to rebuild them in, damaged chunk-index sections by stripe id). */
  lost: number[];
  plan?: RecoveryPlan;
  code?: CodeLayout;
  badSections: number[];
  /** Internal: stores (0-based) whose copy of chunks.idx must be rewritten, and whose manifest files must be. */
  indexStores: number[];
  manifestStores: number[];
  manifest?: Manifest;
  manifestText?: string;
}

export interface VerifyReport {
  status: Health;
  /** The smallest margin of the archives checked (null for none): how many more shard losses all of them survive. */
  margin: number | null;
  archives: ArchiveHealth[];
  /** Names that match no archive (or several): the others are still checked. */
  notFound: { name: string; code: string; message: string }[];
  /**
   * Work in progress or left behind by interrupted commits in the local stores' staging directories (not part of
   * any archive, so not damage; `running: false` ones are removed by the next commit).
   */
  leftovers: (Leftover & { store: number })[];
}

export function exitCodeFor(status: Health): number {
  return status === 'healthy' ? EXIT.OK : status === 'repairable' ? EXIT.DAMAGED_REPAIRABLE : EXIT.UNRECOVERABLE;
}

export function worst(states: Health[]): Health {
  return states.includes('unrecoverable') ? 'unrecoverable' : states.includes('repairable') ? 'repairable' : 'healthy';
}

/** Verify the named archives (all of them when `names` is empty). */
export async function verify(names: string[] = [], opts: OperationOptions = {}): Promise<VerifyReport> {
  return withRepo(opts, async (repo) => {
    const notFound: VerifyReport['notFound'] = [];
    let dirs: string[];
    if (names.length === 0) dirs = await resolveMany(repo, names);
    else {
      dirs = [];
      // A key is never needed to verify, only to find an encrypted archive by its (sealed) name.
      const secrets = await loadSecrets(opts.keys);
      for (const n of names) {
        try {
          dirs.push(await resolveArchive(repo, n, secrets));
        } catch (err) {
          if (!(err instanceof BlockFrameError) || (err.code !== 'BF_ARCHIVE_NOT_FOUND' && err.code !== 'BF_AMBIGUOUS_NAME')) throw err;
          notFound.push({ name: n, code: err.code, message: err.message });
        }
      }
      dirs = [...new Set(dirs)];
    }
    return withPool(opts, async (pool) => {
      const archives: ArchiveHealth[] = [];
      for (const dir of dirs) archives.push(await verifyArchive(repo, dir, pool, opts));
      return { status: worst(archives.map((a) => a.status)), margin: totalMargin(archives.map((a) => a.margin)), archives, notFound, leftovers: await repo.leftovers() };
    });
  });
}

export async function verifyArchive(repo: Repository, dir: string, pool: ComputePool, opts: OperationOptions = {}): Promise<ArchiveHealth> {
  const h: ArchiveHealth = { dir, name: dir, status: 'healthy', problems: [], stores: [], bytesChecked: 0, margin: -1, lost: [], badSections: [], indexStores: [], manifestStores: [] };
  const multi = repo.storeCount > 1;
  const storeNo = (d: number) => (multi ? { store: d + 1 } : {});
  let read;
  try {
    read = await repo.loadManifest(dir, opts.signal);
  } catch (err) {
    if (!(err instanceof BlockFrameError)) throw err;
    h.problems.push({ kind: 'manifest', path: MANIFEST_FILE, repairable: false, detail: `${err.message} (and no intact copy)` });
    h.status = 'unrecoverable';
    return h;
  }
  const m = read.manifest;
  h.name = shownName(m);
  h.manifest = m;
  h.manifestText = read.text;
  // Shard files are read through held descriptors (one lstat and one pread per slab instead of four lstats, open,
  // fstat, pread and close: on the main thread that bookkeeping, not hashing, was what kept the workers waiting),
  // and let go once the archive is checked.
  const ctx = archiveCtx(repo, dir, m, pool, { signal: opts.signal, holdFiles: true });
  // A chosen copy that contradicts the directory name can't be proven: nothing is rewritten from it (§7.1).
  const c = read.contradicted;
  if (c) h.problems.push({ kind: 'manifest', path: c.file, ...storeNo(c.store), repairable: false, detail: c.why });
  for (const f of read.damaged) {
    h.problems.push({ kind: 'manifest', path: f.file, ...storeNo(f.store), repairable: !c, detail: `${f.file} is missing or does not match the ${c ? 'chosen' : 'intact'} manifest` });
  }
  const absent = new Set(repo.absentStores());
  for (const d of read.unavailable) {
    h.problems.push({ kind: 'manifest', path: MANIFEST_FILE, ...storeNo(d), repairable: true, detail: `store ${d + 1} (${repo.storeLabel(d)}) ${absent.has(d) ? 'is not mounted (its store marker is missing)' : 'did not answer'}` });
  }
  for (const d of read.denied) {
    h.problems.push({ kind: 'manifest', path: MANIFEST_FILE, ...storeNo(d), repairable: true, detail: `store ${d + 1} (${repo.storeLabel(d)}): access denied (check credentials)` });
  }
  h.manifestStores = [...new Set([...read.damaged.map((f) => f.store), ...read.unavailable, ...read.denied])].sort((a, b) => a - b);
  const total = ctx.code.shards.reduce((n, sh) => n + sh.size, 0);
  ctx.onBytes = (n) => opts.onProgress?.((h.bytesChecked += n), total);
  let unanswered;
  try {
    unanswered = await checkShards(ctx, h);
    await checkChunkIndex(ctx, h);
    await findUnexpected(ctx, h);
  } finally {
    repo.dropHeld(dir);
  }
  summarizeStores(ctx, h, new Set([...unanswered.unavailable, ...read.unavailable]), new Set([...unanswered.denied, ...read.denied]));
  h.status = worst(h.problems.map((p) => (p.repairable ? 'repairable' : 'unrecoverable')));
  if (h.status === 'unrecoverable') h.margin = -1;
  return h;
}

/** Slab sizes for checking shards: 256 KiB is a multiple of every chunk size the format allows (1 KiB to 256 KiB). */
const SLAB_MIN = 256 * 1024;
const SLAB_MAX = 4 * 1024 * 1024;

export interface ShardSetCheck {
  /** Damaged shards (shard ids) and what is wrong with each. */
  states: Map<number, Exclude<ShardState, 'ok'>>;
  /** Stores (0-based) that did not answer, or refused access, for some shard. */
  unavailable: Set<number>;
  denied: Set<number>;
}

/**
 * Hash the shards `ids` (shard ids; every shard by default) once each, a few at a time so both workers stay busy,
 * against the manifest's hashes (which the manifest's Merkle root covers). Verify checks every shard this way and
 * a scrub batch its stripes' shards. Errors: BF_ABORTED (ctx.signal); store failures are states, not errors.
 */
export async function checkShardSet(ctx: ArchiveCtx, ids?: readonly number[]): Promise<ShardSetCheck> {
  const todo = ids ?? ctx.code.shards.map((_, n) => n);
  const width = ctx.pool.size + 1;
  // Slabs no bigger than the largest shard needs (a multiple of every chunk size), and back to the spares after:
  // a scrub of many tiny archives neither clears nor leaves behind 4 MiB slabs per archive.
  const largest = todo.reduce((mx, n) => Math.max(mx, ctx.code.shards[n]!.size), 0);
  const slabSize = Math.min(SLAB_MAX, Math.max(SLAB_MIN, Math.ceil(largest / SLAB_MIN) * SLAB_MIN));
  const slabs = Array.from({ length: Math.min(width, Math.max(1, todo.length)) }, () => new SlabPool(3, slabSize));
  let next = 0;
  const states = new Map<number, Exclude<ShardState, 'ok'>>();
  const unavailable = new Set<number>();
  const denied = new Set<number>();
  try {
    await Promise.all(
      slabs.map(async (s) => {
        while (next < todo.length) {
          const c = await checkShard(ctx, todo[next++]!, s);
          if (c.state !== 'ok') states.set(c.n, c.state);
          if (c.unavailable) unavailable.add(ctx.where[c.n]!);
          if (c.denied) denied.add(ctx.where[c.n]!);
        }
      }),
    );
  } finally {
    for (const s of slabs) s.dispose();
  }
  return { states, unavailable, denied };
}

/** Every shard hashed once; then which of the lost can be rebuilt, and the margin left. */
async function checkShards(ctx: ArchiveCtx, h: ArchiveHealth): Promise<{ unavailable: Set<number>; denied: Set<number> }> {
  const code = ctx.code;
  const { states, unavailable, denied } = await checkShardSet(ctx);
  h.code = code;
  h.lost = [...states.keys()].sort((a, b) => a - b);
  h.plan = planRecovery(code, h.lost);
  h.margin = archiveMargin(code, h.lost).margin;
  const beyond = new Set(h.plan.lost);
  const multi = ctx.repo.storeCount > 1;
  for (const n of h.lost) {
    const sh = code.shards[n]!;
    const home = code.stripes[sh.home]!;
    const state = states.get(n)!;
    const ok = !beyond.has(n);
    const store = multi ? { store: ctx.where[n]! + 1 } : {};
    const why = denied.has(ctx.where[n]!) ? ' (its store denies access: check credentials)' : '';
    h.problems.push({ kind: state, path: sh.path, stripe: home.index, level: home.level, ...store, repairable: ok, detail: ok ? `${state} shard${why}` : `${state} shard${why}: ${lossReasons(code, n, states).join('; and ')}` });
  }
  return { unavailable, denied };
}

/** Every store's copy of chunks.idx, section by section, against the hashes in the manifest. */
async function checkChunkIndex(ctx: ArchiveCtx, h: ArchiveHealth): Promise<void> {
  const stripes = ctx.code.stripes;
  const check = await checkIndex(ctx);
  h.badSections = check.badEverywhere;
  h.indexStores = check.damagedCopies.map((c) => c.store);
  // A section no copy has is recomputed from its own shards, so it can be rewritten once those are intact again.
  const beyond = new Set(h.plan?.lost ?? []);
  const ok = h.badSections.every((si) => stripes[si]!.section.shards.every((n) => !beyond.has(n)));
  const multi = ctx.repo.storeCount > 1;
  // A section bad everywhere whose shards are all intact is recomputed now: if that disagrees with the manifest's
  // chunks_hash, the manifest is wrong, and verify, repair and reads must all call it so (never BF_INTERNAL).
  const lost = new Set(h.lost);
  for (const si of h.badSections) {
    if (stripes[si]!.section.shards.some((n) => lost.has(n))) continue;
    const err = await computeSection(ctx, si).then(
      () => null,
      (e: unknown) => e,
    );
    if (err instanceof BlockFrameError && err.code === 'BF_MANIFEST_INVALID') {
      h.problems.push({ kind: 'manifest', path: MANIFEST_FILE, repairable: false, detail: err.message });
    } else if (err) throw err;
  }
  for (const c of check.damagedCopies) {
    const which = c.badSections.length === stripes.length ? 'every stripe' : c.badSections.map((si) => stripes[si]!.label).join(', ') || 'its size';
    h.problems.push({
      kind: c.state,
      path: CHUNK_INDEX_FILE,
      ...(multi ? { store: c.store + 1 } : {}),
      repairable: ok,
      detail: c.state === 'missing' ? 'chunk index missing' : `chunk index damaged for ${which}`,
    });
  }
}

/** Files and directories in the archive that the format does not put there (per store: a shard on the wrong store is one). */
async function findUnexpected(ctx: ArchiveCtx, h: ArchiveHealth): Promise<void> {
  const multi = ctx.repo.storeCount > 1;
  for (let d = 0; d < ctx.repo.storeCount; d++) {
    const files = new Set([MANIFEST_FILE, MANIFEST_COPY, MANIFEST_SUM, CHUNK_INDEX_FILE]);
    const dirs = new Set<string>();
    ctx.code.shards.forEach((sh, n) => {
      if (ctx.where[n] !== d) return;
      files.add(sh.path);
      const parts = sh.path.split('/');
      for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
    });
    const reported = new Set<string>();
    let entries: { key: string; size: number; prefix?: true }[];
    try {
      entries = await ctx.repo.archiveKeys(ctx.dir, d, ctx.signal);
    } catch (err) {
      if (err instanceof BlockFrameError && err.code === 'BF_ABORTED') throw err;
      continue; // an unanswering store was reported with its shards
    }
    for (const o of entries) {
      const rel = o.key.slice(ctx.dir.length + 1).replace(/\/$/, '');
      if (rel === '' || files.has(rel) || (o.prefix && dirs.has(rel))) continue;
      // Report the top-most path the format does not have: a junk directory once, not each file inside it.
      const parts = rel.split('/');
      let top = rel;
      for (let i = 1; i < parts.length; i++) {
        const p = parts.slice(0, i).join('/');
        if (!dirs.has(p)) {
          top = p;
          break;
        }
      }
      if (reported.has(top)) continue;
      reported.add(top);
      const isDir = top !== rel || o.prefix === true;
      h.problems.push({ kind: 'unexpected', path: top, ...(multi ? { store: d + 1 } : {}), repairable: true, detail: `unexpected ${isDir ? 'directory' : 'file'} (repair removes it)` });
    }
  }
}

/** Per store: how many of the archive's shards it should hold and how many are gone; a store that lost them all is named. */
function summarizeStores(ctx: ArchiveCtx, h: ArchiveHealth, unavailable: Set<number>, denied: Set<number>): void {
  const lost = new Set(h.lost);
  const absent = new Set(ctx.repo.absentStores());
  for (let d = 0; d < ctx.repo.storeCount; d++) {
    const mine = ctx.where.map((w, n) => (w === d ? n : -1)).filter((n) => n >= 0);
    const gone = mine.filter((n) => lost.has(n)).length;
    const state: StoreHealth['state'] = absent.has(d) ? 'absent' : denied.has(d) ? 'denied' : unavailable.has(d) ? 'unavailable' : gone === 0 ? 'ok' : gone === mine.length ? 'lost' : 'damaged';
    h.stores.push({ store: d + 1, label: ctx.repo.storeLabel(d), shards: mine.length, lost: gone, state });
  }
}

export interface SegmentCheck {
  segment: number;
  path: string;
  ok: boolean;
  hash: string | null;
  /** Merkle proof steps checked: O(log n) in the number of shards. */
  proofSteps: number;
  merkleRoot: string;
}

/** Verify one data segment in O(log n): read only that segment, hash it, check its Merkle proof against the root. */
export async function verifySegment(query: string, segment: number, opts: OperationOptions = {}): Promise<SegmentCheck> {
  return withRepo(opts, (repo) => verifySegmentIn(repo, query, segment, opts));
}

async function verifySegmentIn(repo: Repository, query: string, segment: number, opts: OperationOptions): Promise<SegmentCheck> {
  const dir = await resolveArchive(repo, query, await loadSecrets(opts.keys));
  const m = await repo.readManifest(dir);
  const code = archiveCtx(repo, dir, m, undefined as never).code;
  // Merkle leaves are the shards in code order, so a segment's leaf index is its shard id.
  const leaf = code.segments[segment];
  if (!Number.isInteger(segment) || leaf === undefined) {
    throw new BlockFrameError('BF_USAGE', `archive ${dir} has no segment ${segment} (it has ${code.segments.length}: 0-${code.segments.length - 1})`, { archive: dir });
  }
  return withPool(opts, async (pool) => {
    const ctx = archiveCtx(repo, dir, m, pool, opts);
    const path = code.shards[leaf]!.path;
    const c = await checkShard(ctx, leaf, new SlabPool(3, 4 * 1024 * 1024));
    const proof = merkleProof(merkleLeaves(m), leaf);
    // The proof is checked with the hash of the bytes on disk as the leaf, so a corrupt segment fails it.
    const hash = c.digest ?? null;
    const ok = hash !== null && verifyMerkleProof({ ...proof, leaf: hash }, m.merkle.root);
    return { segment, path, ok, hash, proofSteps: proof.steps.length, merkleRoot: m.merkle.root };
  });
}
