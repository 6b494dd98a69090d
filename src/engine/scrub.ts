// scrub: prove the stalest stripes first (shard hashes against the manifest's Merkle-rooted hashes), record each
// batch in the ledger, then repair what it found, lowest margin first. The patrol in `serve` runs this in a loop.
import type { ComputePool } from '../compute/pool.js';
import { BlockFrameError } from '../errors.js';
import { checkIndex } from '../archive/chunk-index.js';
import { withArchiveLock } from '../archive/lock.js';
import { withRepo, type Repository } from '../archive/repo.js';
import { archiveCtx, type ArchiveCtx } from '../archive/read/stripe.js';
import { archiveMargin } from '../layout/margin.js';
import { checkAborted, withPool, type OperationOptions } from './context.js';
import { decodeProofs, encodeProofs, Ledger, ledgerDir, oldestProof, type LedgerEntry, type RunRecord } from './ledger.js';
import { Pacer } from './pacer.js';
import { CoverageTally, summaryOf, type PatrolStatus } from './scrub-status.js';
import { checkShardSet, worst, type Health } from './verify.js';
import { repairArchive } from './repair.js';

export type { PatrolStatus } from './scrub-status.js';

/** What a scrub (or the patrol) tells a listener as it happens: alerts are built on these. */
export type PatrolEvent =
  | { kind: 'damage-found'; archive: string; shards: string[]; margin: number }
  | { kind: 'damage-healed'; archive: string; rebuilt: string[] }
  | { kind: 'beyond-repair'; archive: string; lost: string[] }
  | { kind: 'repair-failed'; archive: string; code: string; message: string }
  | { kind: 'overdue'; overdueStripes: number; oldestProofAgeSeconds: number | null };

/** One batch proven and recorded in the ledger (after its ledger entry is written). */
export interface BatchRecord {
  archive: string;
  /** Stripe ids (CodeLayout numbering) checked in this batch, and the shard bytes read. */
  stripes: number[];
  bytes: number;
  damaged: boolean;
}

export interface ScrubOptions extends OperationOptions {
  /** Byte-rate limit for the checking reads, bytes per second (repairs are not paced). */
  rate?: number;
  /** Stop starting batches after this many ms (a batch under way finishes). */
  budgetMs?: number;
  /** The coverage contract: every stripe proven at least once per period (ms; default 30 days). */
  periodMs?: number;
  /**
   * Skip stripes proven less than this long ago (ms; default 0: a run proves every stripe it reaches). So a run
   * killed part-way is resumed by the next: what it recorded is fresh. The CLI and the patrol default to half the period.
   */
  freshMs?: number;
  /** Repair what is found (default true); false only reports. */
  repair?: boolean;
  /** The ledger directory (default: ledgerDir). */
  ledger?: string;
  /** Shard bytes per batch (default 64 MiB); a batch is never more than one archive. */
  batchBytes?: number;
  onEvent?: (e: PatrolEvent) => void;
  onBatch?: (b: BatchRecord) => void;
}

export interface ScrubReport {
  /** Health after the run: healthy, repairable (found and not repaired) or unrecoverable. */
  status: Health;
  stoppedBy: 'done' | 'budget';
  elapsedMs: number;
  checked: { archives: number; stripes: number; bytes: number; batches: number };
  /** Measured checking rate, from the first batch's start to the last one's end (bytes per second), and the limit, if any. */
  rate: { limit: number | null; observed: number };
  damaged: { archive: string; shards: string[]; margin: number; outcome: 'repaired' | 'unrecoverable' | 'not-repaired' | 'failed'; detail?: string }[];
  coverage: PatrolStatus;
  ledger: string;
}

export const DEFAULT_PERIOD_MS = 30 * 86_400_000;
const DEFAULT_BATCH = 64 * 1024 * 1024;
const BATCH_STRIPES = 64;

/** Run one scrub over every archive of the store set. Errors: BF_ABORTED (the ledger stays consistent), store errors. */
export async function scrub(opts: ScrubOptions = {}): Promise<ScrubReport> {
  return withRepo(opts, (repo) => withPool(opts, (pool) => scrubRepo(repo, pool, opts)));
}

/** Min-heap of archives by their oldest proof (then name): the stalest first. */
class Queue {
  private a: { dir: string; oldest: number }[] = [];
  private less = (x: { dir: string; oldest: number }, y: { dir: string; oldest: number }) => x.oldest < y.oldest || (x.oldest === y.oldest && x.dir < y.dir);
  get size(): number {
    return this.a.length;
  }
  peek() {
    return this.a[0];
  }
  push(x: { dir: string; oldest: number }): void {
    const a = this.a;
    a.push(x);
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop() {
    const a = this.a;
    const top = a[0];
    const last = a.pop()!;
    if (a.length) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l]!, a[m]!)) m = l;
        if (r < a.length && this.less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

interface Open {
  dir: string;
  ctx: ArchiveCtx;
  times: number[];
  lost: Set<number>;
  done: Set<number>;
  reported: boolean;
  created: number;
}

/** The scrub on an open repository and pool (the patrol keeps both across runs). */
export async function scrubRepo(repo: Repository, pool: ComputePool, opts: ScrubOptions = {}): Promise<ScrubReport> {
  const start = Date.now();
  const period = opts.periodMs ?? DEFAULT_PERIOD_MS;
  const ledger = new Ledger(ledgerDir(repo.resolved, opts.ledger));
  const pacer = opts.rate ? new Pacer(opts.rate, opts.signal) : undefined;
  const batchBytes = opts.batchBytes ?? DEFAULT_BATCH;
  // Stripes proven at or after this are not checked again in this run.
  const horizon = start - (opts.freshMs ?? 0);
  let listedAll = true;
  const dirs = await repo.listDirs('', () => (listedAll = false));
  if (listedAll) await ledger.prune(dirs);
  // Only the queue is held for every archive (a name and a time); the coverage is taken from the ledger at the end.
  const queue = new Queue();
  for (const dir of dirs) {
    const e = await ledger.read(dir);
    queue.push({ dir, oldest: e ? oldestProof(e) : 0 });
  }
  const report: ScrubReport = {
    status: 'healthy',
    stoppedBy: 'done',
    elapsedMs: 0,
    checked: { archives: 0, stripes: 0, bytes: 0, batches: 0 },
    rate: { limit: opts.rate ?? null, observed: 0 },
    damaged: [],
    coverage: undefined as never,
    ledger: ledger.dir,
  };
  const found = new Map<string, { shards: Set<string>; margin: number; unreadableManifest?: string }>();
  let cur: Open | undefined;
  let firstRead: number | undefined;
  let lastRead = 0;
  const run: RunRecord = { started: new Date(start).toISOString(), finished: '', stoppedBy: 'done', stripes: 0, bytes: 0, damaged: [], healed: [], beyondRepair: [] };
  try {
    while (queue.size) {
      checkAborted(opts.signal);
      if (opts.budgetMs !== undefined && Date.now() - start >= opts.budgetMs) {
        report.stoppedBy = 'budget';
        break;
      }
      if (queue.peek()!.oldest >= horizon) break;
      const item = queue.pop()!;
      if (cur?.dir !== item.dir) {
        cur = await openArchive(repo, pool, ledger, item.dir, pacer, opts, found);
        if (!cur) continue;
        report.checked.archives++;
      }
      const t0 = performance.now();
      firstRead ??= t0;
      const limit = queue.peek()?.oldest ?? Infinity;
      const batch = pickBatch(cur, horizon, limit, batchBytes);
      if (batch.length === 0) continue;
      const bytes = await checkBatch(cur, batch, found, opts);
      lastRead = performance.now();
      report.checked.stripes += batch.length;
      report.checked.bytes += bytes;
      report.checked.batches++;
      const entry = entryOf(cur);
      await ledger.write(entry);
      opts.onBatch?.({ archive: cur.dir, stripes: batch, bytes, damaged: found.has(cur.dir) });
      const left = cur.ctx.code.stripes.filter((st) => !cur!.done.has(st.id) && cur!.times[st.id]! < horizon).map((st) => cur!.times[st.id]!);
      if (left.length) queue.push({ dir: cur.dir, oldest: Math.min(...left) });
    }
  } catch (err) {
    run.stoppedBy = 'aborted';
    run.finished = new Date().toISOString();
    await ledger.recordRun(run).catch(() => undefined);
    throw err;
  }
  const checkingMs = firstRead === undefined ? 0 : lastRead - firstRead;
  report.rate.observed = checkingMs > 0 ? Math.round((report.checked.bytes / checkingMs) * 1000) : 0;
  await repairFound(repo, pool, ledger, found, report, opts);
  report.elapsedMs = Date.now() - start;
  report.coverage = await ledgerCoverage(ledger, dirs, period);
  report.status = worst(report.damaged.map((d) => (d.outcome === 'repaired' ? 'healthy' : d.outcome === 'unrecoverable' || d.margin < 0 ? 'unrecoverable' : 'repairable')));
  if (!report.coverage.onTrack && report.coverage.overdueStripes > 0) {
    opts.onEvent?.({ kind: 'overdue', overdueStripes: report.coverage.overdueStripes, oldestProofAgeSeconds: report.coverage.oldestProofAgeSeconds });
  }
  Object.assign(run, { finished: new Date().toISOString(), stoppedBy: report.stoppedBy, stripes: report.checked.stripes, bytes: report.checked.bytes });
  run.damaged = report.damaged.map((d) => d.archive);
  run.healed = report.damaged.filter((d) => d.outcome === 'repaired').map((d) => d.archive);
  run.beyondRepair = report.damaged.filter((d) => d.outcome === 'unrecoverable').map((d) => d.archive);
  await ledger.recordRun(run);
  return report;
}

/** Load an archive's manifest and ledger entry; an unreadable manifest is damage for repair to look at. */
async function openArchive(repo: Repository, pool: ComputePool, ledger: Ledger, dir: string, pacer: Pacer | undefined, opts: ScrubOptions, found: Map<string, { shards: Set<string>; margin: number; unreadableManifest?: string }>): Promise<Open | undefined> {
  let read;
  try {
    read = await repo.loadManifest(dir, opts.signal);
  } catch (err) {
    if (!(err instanceof BlockFrameError) || err.code === 'BF_ABORTED') throw err;
    // A commit still landing has no manifest yet: not damage.
    if (err.code === 'BF_MANIFEST_MISSING' && !(await repo.hasManifest(dir, opts.signal))) return undefined;
    found.set(dir, { shards: new Set(['manifest.json']), margin: -1, unreadableManifest: err.message });
    opts.onEvent?.({ kind: 'damage-found', archive: dir, shards: ['manifest.json'], margin: -1 });
    return undefined;
  }
  const m = read.manifest;
  const ctx = archiveCtx(repo, dir, m, pool, { signal: opts.signal, throttle: pacer?.take });
  const e = await ledger.read(dir);
  const same = e && e.root === m.merkle.root && e.stripes === ctx.code.stripes.length;
  const times = same ? decodeProofs(e.proofs, e.stripes) : new Array<number>(ctx.code.stripes.length).fill(0);
  const o: Open = { dir, ctx, times, lost: new Set(same ? e.lost : []), done: new Set(), reported: false, created: Date.parse(m.created_at) || 0 };
  // Manifest copies that are damaged are repair's work too (the stripes themselves may all be fine).
  if (read.damaged.length) {
    found.set(dir, { shards: new Set(read.damaged.map((f) => f.file)), margin: archiveMargin(ctx.code, o.lost).margin });
    opts.onEvent?.({ kind: 'damage-found', archive: dir, shards: read.damaged.map((f) => f.file), margin: archiveMargin(ctx.code, o.lost).margin });
    o.reported = true;
  }
  return o;
}

/** The stalest stripes of the open archive not yet proven in this run, up to the batch size, none fresher than `limit` unless it is the first. */
function pickBatch(o: Open, horizon: number, limit: number, batchBytes: number): number[] {
  const code = o.ctx.code;
  const homeBytes = new Array<number>(code.stripes.length).fill(0);
  for (const sh of code.shards) homeBytes[sh.home]! += sh.size;
  const todo = code.stripes.map((st) => st.id).filter((id) => !o.done.has(id) && o.times[id]! < horizon);
  todo.sort((a, b) => o.times[a]! - o.times[b]! || a - b);
  const batch: number[] = [];
  let bytes = 0;
  for (const id of todo) {
    if (batch.length && (bytes + homeBytes[id]! > batchBytes || batch.length >= BATCH_STRIPES || o.times[id]! > limit)) break;
    batch.push(id);
    bytes += homeBytes[id]!;
  }
  return batch;
}

/** Check the shards whose home is in `batch` and those stripes' chunk-index sections; update times, lost and damage. */
async function checkBatch(o: Open, batch: number[], found: Map<string, { shards: Set<string>; margin: number }>, opts: ScrubOptions): Promise<number> {
  const code = o.ctx.code;
  const inBatch = new Set(batch);
  const ids = code.shards.filter((sh) => inBatch.has(sh.home)).map((sh) => sh.id);
  let bytes = 0;
  o.ctx.onBytes = (n) => (bytes += n);
  const shards = await checkShardSet(o.ctx, ids);
  const index = await checkIndex(o.ctx, batch);
  const now = Date.now();
  for (const n of ids) o.lost.delete(n);
  for (const n of shards.states.keys()) o.lost.add(n);
  const badStripes = new Set<number>([...shards.states.keys()].map((n) => code.shards[n]!.home));
  for (const c of index.damagedCopies) for (const si of c.badSections) badStripes.add(si);
  for (const si of batch) {
    o.done.add(si);
    if (!badStripes.has(si)) o.times[si] = now;
  }
  if (badStripes.size) {
    const names = [...shards.states.keys()].map((n) => code.shards[n]!.path);
    if (index.damagedCopies.length) names.push('chunks.idx');
    const margin = archiveMargin(code, o.lost).margin;
    const f = found.get(o.dir) ?? { shards: new Set<string>(), margin };
    for (const s of names) f.shards.add(s);
    f.margin = margin;
    found.set(o.dir, f);
    opts.onEvent?.({ kind: 'damage-found', archive: o.dir, shards: names, margin });
  }
  return bytes;
}

function entryOf(o: Open): LedgerEntry {
  const code = o.ctx.code;
  return {
    v: 1,
    dir: o.dir,
    root: o.ctx.manifest.merkle.root,
    stripes: code.stripes.length,
    bytes: code.shards.reduce((n, sh) => n + sh.size, 0),
    proofs: encodeProofs(o.times),
    lost: [...o.lost].sort((a, b) => a - b),
    margin: archiveMargin(code, o.lost).margin,
    created: o.created,
  };
}

/** Repair the damaged archives, lowest margin first; record the outcome in the ledger and as events. */
async function repairFound(repo: Repository, pool: ComputePool, ledger: Ledger, found: Map<string, { shards: Set<string>; margin: number; unreadableManifest?: string }>, report: ScrubReport, opts: ScrubOptions): Promise<void> {
  const order = [...found].sort((a, b) => a[1].margin - b[1].margin || (a[0] < b[0] ? -1 : 1));
  for (const [dir, f] of order) {
    const d: ScrubReport['damaged'][number] = { archive: dir, shards: [...f.shards], margin: f.margin, outcome: 'not-repaired' };
    report.damaged.push(d);
    if (opts.repair === false) {
      if (f.margin >= 0 && f.unreadableManifest === undefined) continue;
      d.outcome = 'unrecoverable';
      continue;
    }
    checkAborted(opts.signal);
    const at = Date.now();
    try {
      const r = await withArchiveLock(repo, dir, () => repairArchive(repo, dir, pool, { signal: opts.signal }), opts.signal);
      if (r.outcome === 'unrecoverable') {
        d.outcome = 'unrecoverable';
        d.detail = `lost beyond repair: ${r.lost.join(', ')}`;
        opts.onEvent?.({ kind: 'beyond-repair', archive: dir, lost: r.lost });
        continue;
      }
      d.outcome = 'repaired';
      opts.onEvent?.({ kind: 'damage-healed', archive: dir, rebuilt: r.actions.map((a) => a.path) });
      // Repair verified every shard of the archive before rebuilding from them: every stripe is proven as of `at`.
      const m = await repo.readManifest(dir);
      const code = archiveCtx(repo, dir, m, pool).code;
      const e: LedgerEntry = { v: 1, dir, root: m.merkle.root, stripes: code.stripes.length, bytes: code.shards.reduce((n, sh) => n + sh.size, 0), proofs: [[0, code.stripes.length - 1, at]], lost: [], margin: archiveMargin(code, []).margin, created: Date.parse(m.created_at) || 0 };
      await ledger.write(e);
    } catch (err) {
      if (!(err instanceof BlockFrameError) || err.code === 'BF_ABORTED') throw err;
      d.outcome = 'failed';
      d.detail = `${err.code}: ${err.message}`;
      opts.onEvent?.({ kind: 'repair-failed', archive: dir, code: err.code, message: err.message });
    }
  }
}

/** The coverage of the ledger now, without checking anything (for `scrub --status` and the patrol's status). */
export async function scrubStatus(opts: Pick<ScrubOptions, 'ledger' | 'periodMs'> & OperationOptions = {}): Promise<PatrolStatus> {
  return withRepo(opts, async (repo) => {
    const ledger = new Ledger(ledgerDir(repo.resolved, opts.ledger));
    return ledgerCoverage(ledger, await repo.listDirs(), opts.periodMs ?? DEFAULT_PERIOD_MS);
  });
}

/** The coverage of `dirs` as the ledger has it now, one entry read at a time. */
async function ledgerCoverage(ledger: Ledger, dirs: readonly string[], periodMs: number): Promise<PatrolStatus> {
  const t = new CoverageTally(Date.now(), periodMs);
  for (const dir of dirs) t.add(summaryOf(dir, await ledger.read(dir)));
  return t.result();
}
