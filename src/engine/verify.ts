// verify: check every shard once against the manifest (both cores), name each problem and whether it is repairable.
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BlockFrameError, EXIT } from '../errors.js';
import { SlabPool, type ComputePool } from '../compute/pool.js';
import { blake3Hex } from '../integrity/blake3.js';
import { merkleProof, verifyMerkleProof } from '../integrity/merkle.js';
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
  /** The stripe (Tier 2 segment, Tier 3 block) the file belongs to, when it belongs to one. */
  stripe?: number;
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
  /** Internal: what repair needs (lost shard numbers per stripe, damaged chunk-index sections). */
  lost: Map<number, number[]>;
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
  const h: ArchiveHealth = { dir, name: dir, status: 'healthy', problems: [], bytesChecked: 0, lost: new Map(), badSections: [] };
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
  const total = m.stripes.reduce((n, st) => n + st.data.reduce((x, d) => x + d.size, 0) + st.parity.reduce((x, p) => x + p.size, 0), 0);
  ctx.onBytes = (n) => opts.onProgress?.((h.bytesChecked += n), total);
  await checkShards(ctx, h);
  await checkChunkIndex(ctx, h);
  await findUnexpected(ctx, h);
  h.status = worst(h.problems.map((p) => (p.repairable ? 'repairable' : 'unrecoverable')));
  return h;
}

/** Every shard hashed once, a few at a time so both workers stay busy. */
async function checkShards(ctx: ArchiveCtx, h: ArchiveHealth): Promise<void> {
  const jobs = ctx.layout.flatMap((st, si) => st.shards.map((_, n) => [si, n] as const));
  const width = ctx.pool.size + 1;
  const slabs = Array.from({ length: width }, () => new SlabPool(3, 4 * 1024 * 1024));
  let next = 0;
  const states = new Map<string, ShardState>();
  await Promise.all(
    slabs.map(async (s) => {
      while (next < jobs.length) {
        const [si, n] = jobs[next++]!;
        const c = await checkShard(ctx, si, n, s);
        if (c.state === 'ok') continue;
        states.set(c.path, c.state);
        const lost = h.lost.get(si) ?? [];
        lost.push(n);
        h.lost.set(si, lost);
      }
    }),
  );
  const m = ctx.manifest.erasure_coding.parity_shards;
  for (const [si, lost] of [...h.lost.entries()].sort((a, b) => a[0] - b[0])) {
    lost.sort((a, b) => a - b);
    const ok = lost.length <= m;
    for (const n of lost) {
      const sh = ctx.layout[si]!.shards[n]!;
      const state = states.get(sh.path) as Exclude<ShardState, 'ok'>;
      h.problems.push({
        kind: state,
        path: sh.path,
        stripe: si,
        repairable: ok,
        detail: `${state} shard${ok ? '' : `: stripe ${si} lost ${lost.length} shards, more than the ${m} parity can rebuild`}`,
      });
    }
  }
}

/** Each stripe's section of chunks.idx against its hash in the manifest. */
async function checkChunkIndex(ctx: ArchiveCtx, h: ArchiveHealth): Promise<void> {
  const fh = await open(ctx.store.path(ctx.dir, CHUNK_INDEX_FILE), 'r').catch(() => null);
  try {
    for (const [si, lay] of ctx.layout.entries()) {
      const buf = new Uint8Array(lay.length);
      const n = fh ? await readFully(fh, buf, lay.length, lay.offset) : -1;
      if (n !== lay.length || blake3Hex(buf) !== ctx.manifest.stripes[si]!.chunks_hash) h.badSections.push(si);
    }
    const size = fh ? (await fh.stat()).size : 0;
    const expected = ctx.layout.reduce((s, l) => s + l.length, 0);
    if (fh && size !== expected && h.badSections.length === 0) h.badSections.push(ctx.layout.length - 1);
  } finally {
    await fh?.close();
  }
  if (h.badSections.length) {
    const m = ctx.manifest.erasure_coding.parity_shards;
    const ok = h.badSections.every((si) => (h.lost.get(si)?.length ?? 0) <= m);
    h.problems.push({
      kind: fh ? 'corrupt' : 'missing',
      path: CHUNK_INDEX_FILE,
      repairable: ok,
      detail: `chunk index damaged for stripe${h.badSections.length > 1 ? 's' : ''} ${h.badSections.join(', ')}`,
    });
  }
}

/** Files and directories in the archive that the format does not put there. */
async function findUnexpected(ctx: ArchiveCtx, h: ArchiveHealth): Promise<void> {
  const files = new Set([MANIFEST_FILE, MANIFEST_COPY, MANIFEST_SUM, CHUNK_INDEX_FILE]);
  const dirs = new Set<string>();
  for (const lay of ctx.layout) {
    for (const sh of lay.shards) {
      files.add(sh.path);
      const parts = sh.path.split('/');
      for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
    }
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
  const leaves = merkleLeaves(m);
  let leaf = 0;
  let found: { si: number; n: number } | undefined;
  for (const [si, st] of m.stripes.entries()) {
    const n = st.data.findIndex((d) => d.index === segment);
    if (n >= 0) {
      found = { si, n };
      leaf += n;
      break;
    }
    leaf += st.data.length + st.parity.length;
  }
  if (!found) {
    const count = m.stripes.reduce((n, s) => n + s.data.length, 0);
    throw new BlockFrameError('BF_USAGE', `archive ${dir} has no segment ${segment} (it has ${count}: 0-${count - 1})`, { archive: dir });
  }
  return withPool(opts, async (pool) => {
    const ctx = archiveCtx(store, dir, m, pool, opts);
    const path = m.stripes[found!.si]!.data[found!.n]!.path;
    const c = await checkShard(ctx, found!.si, found!.n, new SlabPool(3, 4 * 1024 * 1024));
    const proof = merkleProof(leaves, leaf);
    // The proof is checked with the hash of the bytes on disk as the leaf, so a corrupt segment fails it.
    const hash = c.digest ?? null;
    const ok = hash !== null && verifyMerkleProof({ ...proof, leaf: hash }, m.merkle.root);
    return { segment, path, ok, hash, proofSteps: proof.steps.length, merkleRoot: m.merkle.root };
  });
}
