// repair: rebuild lost shards, the chunk index and the manifest set from what survives; all or nothing per archive.
import { open, rename, rm } from 'node:fs/promises';
import type { ComputePool } from '../compute/pool.js';
import { CHUNK_INDEX_FILE } from '../layout/chunks.js';
import { fsyncDir, readFully, tempSibling, writeFully } from '../store/fsutil.js';
import { writeManifestSet, type LocalStore } from '../store/local.js';
import { storeFor, withPool, type OperationOptions } from './context.js';
import { resolveMany } from './find.js';
import { archiveCtx, computeSection, rebuildShards, type ArchiveCtx } from './stripe.js';
import { verifyArchive, worst, type ArchiveHealth, type Health, type Problem } from './verify.js';

export interface RepairAction {
  action: 'rebuild' | 'rewrite' | 'remove';
  path: string;
  stripe?: number;
  level?: 1 | 2;
  /** For a rebuild: the stripe whose other shards it is rebuilt from ("block 3", "level-2 group 0 position 5"). */
  via?: string;
}

export interface ArchiveRepair {
  dir: string;
  name: string;
  /** Health found before repairing. */
  before: Health;
  /** 'repaired' when actions were carried out; 'planned' for --dry-run; 'unrecoverable' changes nothing. */
  outcome: 'healthy' | 'repaired' | 'planned' | 'unrecoverable';
  actions: RepairAction[];
  /** For an unrecoverable archive: exactly which files are lost beyond repair. */
  lost: string[];
  problems: Problem[];
  /** Shard bytes read to rebuild (only the damaged stripes). */
  bytesReadForRebuild: number;
}

export interface RepairReport {
  status: Health;
  archives: ArchiveRepair[];
}

export interface RepairOptions extends OperationOptions {
  dryRun?: boolean;
}

/** Repair the named archives (all when `names` is empty). */
export async function repair(names: string[] = [], opts: RepairOptions = {}): Promise<RepairReport> {
  const store = storeFor(opts);
  const dirs = await resolveMany(store, names);
  return withPool(opts, async (pool) => {
    const archives: ArchiveRepair[] = [];
    for (const dir of dirs) archives.push(await repairArchive(store, dir, pool, opts));
    const after = archives.map((a): Health => (a.outcome === 'unrecoverable' ? 'unrecoverable' : a.outcome === 'planned' ? 'repairable' : 'healthy'));
    return { status: worst(after), archives };
  });
}

/** What repair does, in the order it does it: removals, rebuilds (verify's plan), then rewrites. */
export function plan(h: ArchiveHealth): RepairAction[] {
  const rebuilds: RepairAction[] = [];
  const order = new Map<string, [number, string]>();
  h.plan?.steps.forEach((s, i) => s.shards.forEach((n) => order.set(h.code!.shards[n]!.path, [i, s.via])));
  const removals: RepairAction[] = [];
  const rewrites: RepairAction[] = [];
  for (const p of h.problems) {
    if (p.kind === 'unexpected') removals.push({ action: 'remove', path: p.path });
    else if (p.kind === 'manifest') rewrites.push({ action: 'rewrite', path: p.path });
    else if (p.path === CHUNK_INDEX_FILE) rewrites.push({ action: 'rewrite', path: p.path });
    else rebuilds.push({ action: 'rebuild', path: p.path, stripe: p.stripe, level: p.level, via: order.get(p.path)?.[1] });
  }
  const rank = (a: RepairAction) => order.get(a.path)?.[0] ?? Infinity;
  return [...removals, ...rebuilds.sort((a, b) => rank(a) - rank(b)), ...rewrites];
}

async function repairArchive(store: LocalStore, dir: string, pool: ComputePool, opts: RepairOptions): Promise<ArchiveRepair> {
  const h = await verifyArchive(store, dir, pool, opts);
  const r: ArchiveRepair = { dir, name: h.name, before: h.status, outcome: 'healthy', actions: plan(h), lost: [], problems: h.problems, bytesReadForRebuild: 0 };
  if (h.status === 'healthy') return r;
  if (h.status === 'unrecoverable') {
    // Beyond tolerance nothing is touched: name what is lost and stop.
    r.outcome = 'unrecoverable';
    r.lost = h.problems.filter((p) => !p.repairable).map((p) => p.path);
    return r;
  }
  if (opts.dryRun) {
    r.outcome = 'planned';
    return r;
  }
  const ctx = archiveCtx(store, dir, h.manifest!, pool, { signal: opts.signal });
  // Unexpected files go first: one may squat on the name of a directory a rebuilt shard needs.
  for (const a of r.actions) if (a.action === 'remove') await rm(store.path(dir, a.path), { recursive: true, force: true });
  // Level 1 first; level-2 stripes only for what level 1 can't rebuild, then level 1 again (verify's plan).
  for (const step of h.plan?.steps ?? []) {
    r.bytesReadForRebuild += (await rebuildShards(ctx, step.stripe, step.shards, true)).bytesRead;
  }
  if (h.badSections.length) await rewriteChunkIndex(ctx, h.badSections);
  if (h.problems.some((p) => p.kind === 'manifest')) await writeManifestSet(store.path(dir), h.manifestText!);
  r.outcome = 'repaired';
  return r;
}

/** Write a new chunks.idx: intact sections copied, damaged ones recomputed from the (now intact) shards. */
async function rewriteChunkIndex(ctx: ArchiveCtx, bad: number[]): Promise<void> {
  const total = ctx.code.indexSize;
  const final = ctx.store.path(ctx.dir, CHUNK_INDEX_FILE);
  const tmp = tempSibling(final, 'repair');
  const old = await open(final, 'r').catch(() => null);
  const out = await open(tmp, 'wx', 0o444);
  try {
    for (const st of ctx.code.stripes) {
      let section: Uint8Array;
      if (bad.includes(st.id) || !old) {
        section = (await computeSection(ctx, st.id)).bytes;
      } else {
        section = new Uint8Array(st.section.length);
        await readFully(old, section, st.section.length, st.section.offset);
      }
      await writeFully(out, section, st.section.offset);
    }
    await out.truncate(total);
    await out.sync();
    await out.close();
    await rename(tmp, final);
    await fsyncDir(ctx.store.path(ctx.dir));
  } catch (err) {
    await out.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  } finally {
    await old?.close();
  }
}
