// repair: rebuild lost shards, the chunk index and the manifest set from what survives; all or nothing per archive.
import type { ComputePool } from '../compute/pool.js';
import { BlockFrameError } from '../errors.js';
import { CHUNK_INDEX_FILE } from '../layout/chunks.js';
import { rewriteIndex } from '../archive/chunk-index.js';
import { withRepo, type Repository } from '../archive/repo.js';
import { withArchiveLock } from '../archive/lock.js';
import { removeKeyTree } from '../archive/remove.js';
import { archiveKey } from '../layout/keys.js';
import { withPool, type OperationOptions } from './context.js';
import { loadConfig, specText, writeConfig } from '../store/config.js';
import { markNewStores } from '../archive/identity.js';
import { resolveMany } from './find.js';
import { loadSecrets } from '../archive/keyring.js';
import { archiveCtx, computeSection, rebuildShards } from '../archive/read/stripe.js';
import { verifyArchive, worst, type ArchiveHealth, type Health, type Problem } from './verify.js';

export interface RepairAction {
  action: 'rebuild' | 'rewrite' | 'remove';
  path: string;
  /** With several stores: the store (1-based) the action writes to or removes from. */
  store?: number;
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
  /**
   * 'repaired' when actions were carried out; 'partial' when some wait for a store that is absent or not answering
   * (`queued`); 'planned' for --dry-run; 'unrecoverable' changes nothing.
   */
  outcome: 'healthy' | 'repaired' | 'partial' | 'planned' | 'unrecoverable';
  actions: RepairAction[];
  /** Actions left for later because their store is absent (not mounted) or did not answer: the next repair does them. */
  queued: RepairAction[];
  /** For an unrecoverable archive: exactly which files are lost beyond repair. */
  lost: string[];
  problems: Problem[];
  /** Shard bytes read to rebuild (only the damaged stripes), and shard bytes written. */
  bytesReadForRebuild: number;
  bytesWritten: number;
}

export interface RepairReport {
  status: Health;
  archives: ArchiveRepair[];
  /** After `replace`: the config file that now names the replacement store. */
  configUpdated?: string;
}

export interface RepairOptions extends OperationOptions {
  dryRun?: boolean;
}

/** Repair the named archives (all when `names` is empty). */
export async function repair(names: string[] = [], opts: RepairOptions = {}): Promise<RepairReport> {
  return withRepo(opts, async (repo) => {
    const dirs = await resolveMany(repo, names, names.length ? await loadSecrets(opts.keys) : []);
    // A new disk (--replace) gets its marker before any shard lands on it, and the config file its store id.
    if (repo.identity && !opts.dryRun) {
      const ids = await markNewStores(repo.identity, opts.signal);
      const { configPath } = repo.resolved;
      if (ids.size && configPath) {
        const cfg = loadConfig(configPath);
        if (cfg.store_ids) await writeConfig(configPath, { ...cfg, store_ids: cfg.store_ids.map((id, d) => ids.get(d) ?? id) });
      }
    }
    const report: RepairReport = await withPool(opts, async (pool) => {
      const archives: ArchiveRepair[] = [];
      // One repair (or rewriting commit) of an archive at a time: a second one waits, then finds it healthy.
      for (const dir of dirs) archives.push(await withArchiveLock(repo, dir, () => repairArchive(repo, dir, pool, opts), opts.signal));
      const after = archives.map((a): Health => (a.outcome === 'unrecoverable' ? 'unrecoverable' : a.outcome === 'planned' || a.outcome === 'partial' ? 'repairable' : 'healthy'));
      return { status: worst(after), archives };
    });
    // Every archive now lives on the replacement: the config file names it from now on.
    const { configPath, specs } = repo.resolved;
    if (opts.replace?.length && configPath && report.status === 'healthy' && !opts.dryRun) {
      const cfg = loadConfig(configPath);
      await writeConfig(configPath, { ...cfg, stores: specs.map(specText) });
      report.configUpdated = configPath;
    }
    return report;
  });
}

/** What repair does, in the order it does it: removals, rebuilds (verify's plan), then rewrites. */
export function plan(h: ArchiveHealth): RepairAction[] {
  const rebuilds: RepairAction[] = [];
  const order = new Map<string, [number, string]>();
  h.plan?.steps.forEach((s, i) => s.shards.forEach((n) => order.set(h.code!.shards[n]!.path, [i, s.via])));
  const store = (p: Problem) => (p.store === undefined ? {} : { store: p.store });
  const removals: RepairAction[] = [];
  const rewrites: RepairAction[] = [];
  for (const p of h.problems) {
    if (p.kind === 'unexpected') removals.push({ action: 'remove', path: p.path, ...store(p) });
    else if (p.kind === 'manifest') rewrites.push({ action: 'rewrite', path: p.path, ...store(p) });
    else if (p.path === CHUNK_INDEX_FILE) rewrites.push({ action: 'rewrite', path: p.path, ...store(p) });
    else rebuilds.push({ action: 'rebuild', path: p.path, stripe: p.stripe, level: p.level, ...store(p), via: order.get(p.path)?.[1] });
  }
  const rank = (a: RepairAction) => order.get(a.path)?.[0] ?? Infinity;
  return [...removals, ...rebuilds.sort((a, b) => rank(a) - rank(b)), ...rewrites];
}

/**
 * Verify one archive and rebuild what it lost (the caller holds its lock: withArchiveLock). Errors: BF_STORE_DENIED,
 * BF_STORE_UNAVAILABLE (nothing changed), BF_ABORTED, store write errors.
 */
export async function repairArchive(repo: Repository, dir: string, pool: ComputePool, opts: RepairOptions): Promise<ArchiveRepair> {
  const h = await verifyArchive(repo, dir, pool, opts);
  const r: ArchiveRepair = { dir, name: h.name, before: h.status, outcome: 'healthy', actions: plan(h), queued: [], lost: [], problems: h.problems, bytesReadForRebuild: 0, bytesWritten: 0 };
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
  // A store that refuses our credentials is not dead: replacing it would copy a healthy bucket over a typo.
  const denied = h.stores.filter((s) => s.state === 'denied');
  if (denied.length) {
    throw new BlockFrameError(
      'BF_STORE_DENIED',
      `archive ${dir}: ${denied.map((s) => `store ${s.store} (${s.label})`).join(', ')}: access denied (check credentials); fix the credentials or permissions and run repair again`,
      { archive: dir, stores: denied.map((s) => s.store) },
    );
  }
  // A store that is absent (not mounted) or does not answer can't take its shards back now: what belongs there is
  // queued (rebuilt again by the next repair, once it is back), and everything else is repaired from the rest.
  const down = new Set(h.stores.filter((s) => s.state === 'unavailable' || s.state === 'absent').map((s) => s.store - 1));
  const onDown = (a: RepairAction) => down.has((a.store ?? 1) - 1);
  r.queued = r.actions.filter(onDown);
  const ctx = archiveCtx(repo, dir, h.manifest!, pool, { signal: opts.signal });
  const keep = (n: number) => !down.has(ctx.where[n]!);
  // Unexpected files go first: one may squat on the name of a directory a rebuilt shard needs.
  for (const a of r.actions) {
    if (a.action !== 'remove' || onDown(a)) continue;
    await removeKeyTree(repo, (a.store ?? 1) - 1, archiveKey(dir, a.path), opts.signal);
  }
  // Level 1 first; level-2 stripes only for what level 1 can't rebuild, then level 1 again (verify's plan).
  let stalled = false;
  for (const step of h.plan?.steps ?? []) {
    if (down.size && step.shards.every((n) => !keep(n))) continue;
    try {
      const got = await rebuildShards(ctx, step.stripe, step.shards, true, keep);
      r.bytesReadForRebuild += got.bytesRead;
      r.bytesWritten += got.bytesWritten;
    } catch (err) {
      // A later step may need a shard an earlier one rebuilt but could not write (its store is down): it waits too.
      if (!down.size || !(err instanceof BlockFrameError) || err.code !== 'BF_UNRECOVERABLE') throw err;
      stalled = true;
      for (const n of step.shards) {
        const path = ctx.code.shards[n]!.path;
        const a = r.actions.find((x) => x.path === path);
        if (a && !r.queued.includes(a)) r.queued.push(a);
      }
    }
  }
  const indexStores = h.indexStores.filter((d) => !down.has(d));
  if (indexStores.length) {
    try {
      if (stalled) throw new BlockFrameError('BF_UNRECOVERABLE', 'index waits for its shards');
      await rewriteIndex(ctx, indexStores, async (si) => (await computeSection(ctx, si)).bytes);
    } catch (err) {
      if (!down.size || !(err instanceof BlockFrameError) || err.code !== 'BF_UNRECOVERABLE') throw err;
      for (const a of r.actions) if (a.path === CHUNK_INDEX_FILE && !r.queued.includes(a)) r.queued.push(a);
    }
  }
  const manifestStores = h.manifestStores.filter((d) => !down.has(d));
  if (manifestStores.length) await repo.writeManifestSet(dir, h.manifestText!, manifestStores, opts.signal);
  r.outcome = r.queued.length ? 'partial' : 'repaired';
  // A store that does not answer is a fault, not a state: the command says so (after repairing what it could).
  const silent = h.stores.filter((s) => s.state === 'unavailable');
  if (silent.length && r.queued.length) {
    throw new BlockFrameError(
      'BF_STORE_UNAVAILABLE',
      `archive ${dir}: ${silent.map((s) => `store ${s.store} (${s.label})`).join(', ')} did not answer; repaired what the other stores allow, ${r.queued.length} action${r.queued.length === 1 ? '' : 's'} wait for it: bring it back and run repair again, or give a replacement with --replace OLD=NEW`,
      { archive: dir, stores: silent.map((s) => s.store), queued: r.queued.length },
    );
  }
  return r;
}
