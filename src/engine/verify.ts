// verify: check every shard once against the manifest (both cores), name each problem and whether it is repairable.
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BlockFrameError, EXIT } from '../errors.js';
import { SlabPool, type ComputePool } from '../compute/pool.js';
import { blake3Hex } from '../integrity/blake3.js';
import { merkleProof, verifyMerkleProof } from '../integrity/merkle.js';
import { codeLayout, lossReasons, planRecovery, type CodeLayout, type RecoveryPlan } from '../layout/code.js';
import { merkleLeaves, MANIFEST_COPY, MANIFEST_FILE, MANIFEST_SUM, type Manifest } from '../layout/manifest.js';
import { CHUNK_INDEX_FILE } from '../layout/chunks.js';
import { readFully } from '../store/fsutil.js';
import type { LocalStore } from '../store/local.js';
import { storeFor, withPool, type OperationOptions } from './context.js';
import { resolveArchive, resolveMany } from './find.js';
import { archiveCtx, checkShard, type ArchiveCtx, type ShardState } from './stripe.js';

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
  repairable: boolean;
  detail: string;
}

export interface ArchiveHealth {
  dir: string;
  name: string;
  status: Health;
  problems: Problem[];
  /** Shard bytes hashed. */
  bytesChecked: number;
  /** Internal: what repair needs (lost shard ids, the order to rebuild them in, damaged chunk-index sections by stripe id). */
  lost: number[];
  plan?: RecoveryPlan;
  code?: CodeLayout;
  badSections: number[];
  manifest?: Manifest;
  manifestText?: string;
}

export interface VerifyReport {
  status: Health;
  archives: ArchiveHealth[];
}

export function exitCodeFor(status: Health): number {
  return status === 'healthy' ? EXIT.OK : status === 'repairable' ? EXIT.DAMAGED_REPAIRABLE : EXIT.UNRECOVERABLE;
}

export function worst(states: Health[]): Health {
  return states.includes('unrecoverable') ? 'unrecoverable' : states.includes('repairable') ? 'repairable' : 'healthy';
}

/** Verify the named archives (all of them when `names` is empty). */
export async function verify(names: string[] = [], opts: OperationOptions = {}): Promise<VerifyReport> {
  const store = storeFor(opts);
  const dirs = await resolveMany(store, names);
  return withPool(opts, async (pool) => {
    const archives: ArchiveHealth[] = [];
    for (const dir of dirs) archives.push(await verifyArchive(store, dir, pool, opts));
    return { status: worst(archives.map((a) => a.status)), archives };
  });
}

export async function verifyArchive(store: LocalStore, dir: string, pool: ComputePool, opts: OperationOptions = {}): Promise<ArchiveHealth> {
  const h: ArchiveHealth = { dir, name: dir, status: 'healthy', problems: [], bytesChecked: 0, lost: [], badSections: [] };
  let read;
  try {
    read = await store.loadManifest(dir);
  } catch (err) {
    if (!(err instanceof BlockFrameError)) throw err;
    h.problems.push({ kind: 'manifest', path: MANIFEST_FILE, repairable: false, detail: `${err.message} (and no intact copy)` });
    h.status = 'unrecoverable';
    return h;
  }
  const m = read.manifest;
  h.name = m.name;
  h.manifest = m;
  h.manifestText = read.text;
  for (const f of read.damaged) h.problems.push({ kind: 'manifest', path: f, repairable: true, detail: `${f} is missing or does not match the intact manifest` });
  const ctx = archiveCtx(store, dir, m, pool, { signal: opts.signal });
  const total = ctx.code.shards.reduce((n, sh) => n + sh.size, 0);
  ctx.onBytes = (n) => opts.onProgress?.((h.bytesChecked += n), total);
  await checkShards(ctx, h);
  await checkChunkIndex(ctx, h);
  await findUnexpected(ctx, h);
  h.status = worst(h.problems.map((p) => (p.repairable ? 'repairable' : 'unrecoverable')));
  return h;
}

/** Every shard hashed once, a few at a time so both workers stay busy; then which of the lost can be rebuilt. */
async function checkShards(ctx: ArchiveCtx, h: ArchiveHealth): Promise<void> {
  const code = ctx.code;
  const width = ctx.pool.size + 1;
  const slabs = Array.from({ length: width }, () => new SlabPool(3, 4 * 1024 * 1024));
  let next = 0;
  const states = new Map<number, Exclude<ShardState, 'ok'>>();
  await Promise.all(
    slabs.map(async (s) => {
      while (next < code.shards.length) {
        const c = await checkShard(ctx, next++, s);
        if (c.state !== 'ok') states.set(c.n, c.state);
      }
    }),
  );
  h.code = code;
  h.lost = [...states.keys()].sort((a, b) => a - b);
  h.plan = planRecovery(code, h.lost);
  const beyond = new Set(h.plan.lost);
  for (const n of h.lost) {
    const sh = code.shards[n]!;
    const home = code.stripes[sh.home]!;
    const state = states.get(n)!;
    const ok = !beyond.has(n);
    h.problems.push({ kind: state, path: sh.path, stripe: home.index, level: home.level, repairable: ok, detail: ok ? `${state} shard` : `${state} shard: ${lossReasons(code, n, states).join('; and ')}` });
  }
}

/** Each stripe's section of chunks.idx against its hash in the manifest. */
async function checkChunkIndex(ctx: ArchiveCtx, h: ArchiveHealth): Promise<void> {
  const fh = await open(ctx.store.path(ctx.dir, CHUNK_INDEX_FILE), 'r').catch(() => null);
  const stripes = ctx.code.stripes;
  try {
    for (const st of stripes) {
      const buf = new Uint8Array(st.section.length);
      const n = fh ? await readFully(fh, buf, st.section.length, st.section.offset) : -1;
      if (n !== st.section.length || blake3Hex(buf) !== st.section.hash) h.badSections.push(st.id);
    }
    const size = fh ? (await fh.stat()).size : 0;
    if (fh && size !== ctx.code.indexSize && h.badSections.length === 0) h.badSections.push(stripes.length - 1);
  } finally {
    await fh?.close();
  }
  if (h.badSections.length) {
    // A section is recomputed from its own shards, so it can be rewritten once those are intact again.
    const beyond = new Set(h.plan?.lost ?? []);
    const ok = h.badSections.every((si) => stripes[si]!.section.shards.every((n) => !beyond.has(n)));
    h.problems.push({
      kind: fh ? 'corrupt' : 'missing',
      path: CHUNK_INDEX_FILE,
      repairable: ok,
      detail: `chunk index damaged for ${h.badSections.map((si) => stripes[si]!.label).join(', ')}`,
    });
  }
}

/** Files and directories in the archive that the format does not put there. */
async function findUnexpected(ctx: ArchiveCtx, h: ArchiveHealth): Promise<void> {
  const files = new Set([MANIFEST_FILE, MANIFEST_COPY, MANIFEST_SUM, CHUNK_INDEX_FILE]);
  const dirs = new Set<string>();
  for (const sh of ctx.code.shards) {
    files.add(sh.path);
    const parts = sh.path.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  const root = ctx.store.path(ctx.dir);
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory() && dirs.has(p)) await walk(p);
      // A non-file at a shard's own path is reported as a corrupt shard, not twice.
      else if (!files.has(p)) {
        h.problems.push({ kind: 'unexpected', path: p, repairable: true, detail: `unexpected ${e.isDirectory() ? 'directory' : 'file'} (repair removes it)` });
      }
    }
  };
  await walk('');
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
  const store = storeFor(opts);
  const dir = await resolveArchive(store, query);
  const m = await store.loadManifest(dir).then((r) => r.manifest);
  const code = codeLayout(m);
  // Merkle leaves are the shards in code order, so a segment's leaf index is its shard id.
  const leaf = code.segments[segment];
  if (!Number.isInteger(segment) || leaf === undefined) {
    throw new BlockFrameError('BF_USAGE', `archive ${dir} has no segment ${segment} (it has ${code.segments.length}: 0-${code.segments.length - 1})`, { archive: dir });
  }
  return withPool(opts, async (pool) => {
    const ctx = archiveCtx(store, dir, m, pool, opts);
    const path = code.shards[leaf]!.path;
    const c = await checkShard(ctx, leaf, new SlabPool(3, 4 * 1024 * 1024));
    const proof = merkleProof(merkleLeaves(m), leaf);
    // The proof is checked with the hash of the bytes on disk as the leaf, so a corrupt segment fails it.
    const hash = c.digest ?? null;
    const ok = hash !== null && verifyMerkleProof({ ...proof, leaf: hash }, m.merkle.root);
    return { segment, path, ok, hash, proofSteps: proof.steps.length, merkleRoot: m.merkle.root };
  });
}
