// The background patrol of `serve`: the scrub engine in a loop (unref'd timers), with an event hook and a status.
import type { Serving } from './serving.js';
import { scrubRepo, type PatrolEvent, type PatrolStatus, type ScrubOptions, type ScrubReport } from './scrub.js';
import { DEFAULT_PERIOD_MS, scrubStatus } from './scrub.js';
import { ledgerDir } from './ledger.js';

export interface PatrolOptions extends Omit<ScrubOptions, 'signal' | 'onEvent' | 'storeSet' | 'pool'> {
  /** Pause between two runs, ms (default 60 s). A run skips stripes proven within half the period (freshMs). Each run proves what is stalest for at most `budgetMs` (default 10 min). */
  intervalMs?: number;
  /**
   * Hears state changes only: damage found in an archive, beyond repair, a repair that failed (each once per
   * archive until it is healed), healed, and the coverage falling behind its period (once until it is back on
   * track). Called synchronously; a listener that throws is ignored.
   */
  onEvent?: (e: PatrolEvent) => void;
  /** After each run (for logs). */
  onRun?: (r: ScrubReport) => void;
  /** A run that failed (a store error, say); the loop goes on. */
  onError?: (err: unknown) => void;
}

export interface Patrol {
  /** Coverage, oldest proof age and margins as of the last run (null before the first one ends). */
  status(): PatrolStatus | null;
  /** The last run's report (null before the first one ends). */
  lastRun(): ScrubReport | null;
  /** Stop: abort a run under way (its current batch is dropped; the ledger stays consistent) and wait for it. */
  stop(): Promise<void>;
}

/** Start the patrol on a server's repository and pool (it shares the server's cache: healed archives are reopened). */
export function startPatrol(serving: Serving, opts: PatrolOptions = {}): Patrol {
  const ac = new AbortController();
  const ledger = ledgerDir(serving.repo.resolved, opts.ledger);
  const interval = opts.intervalMs ?? 60_000;
  let status: PatrolStatus | null = null;
  let last: ScrubReport | null = null;
  let running: Promise<void> | null = null;
  let timer: NodeJS.Timeout | undefined;
  const damaged = new Set<string>();
  const stuck = new Map<string, 'beyond-repair' | 'repair-failed'>();
  let overdue = false;
  const emit = (e: PatrolEvent) => {
    alert(serving, e);
    try {
      opts.onEvent?.(e);
    } catch {
      // a listener's failure is not the patrol's
    }
  };
  const onEvent = (e: PatrolEvent) => {
    if (e.kind === 'damage-found') {
      if (damaged.has(e.archive)) return;
      damaged.add(e.archive);
    } else if (e.kind === 'damage-healed') {
      // A healed archive's readers must not keep a handle on the replaced files.
      serving.cache.invalidate(e.archive);
      damaged.delete(e.archive);
      stuck.delete(e.archive);
    } else if (e.kind === 'beyond-repair' || e.kind === 'repair-failed') {
      // Said once per archive, until it is healed: the next runs find it again and would say it again.
      if (stuck.get(e.archive) === e.kind) return;
      stuck.set(e.archive, e.kind);
    } else if (e.kind === 'overdue') {
      if (overdue) return;
      overdue = true;
    }
    emit(e);
  };
  const once = async () => {
    try {
      last = await scrubRepo(serving.repo, serving.pool, { freshMs: (opts.periodMs ?? DEFAULT_PERIOD_MS) / 2, ...opts, ledger, budgetMs: opts.budgetMs ?? 600_000, signal: ac.signal, onEvent });
      status = last.coverage;
      if (status.onTrack) {
        if (overdue) serving.notifier.scrubOverdue(false, `the patrol is on track again: coverage ${(status.coverage * 100).toFixed(1)}%`);
        overdue = false;
      }
      opts.onRun?.(last);
    } catch (err) {
      if (!ac.signal.aborted) opts.onError?.(err);
    }
  };
  const schedule = (ms: number) => {
    if (ac.signal.aborted) return;
    timer = setTimeout(() => {
      running = once().finally(() => {
        running = null;
        schedule(interval);
      });
    }, ms);
    timer.unref();
  };
  // A first status from the ledger alone, so a status asked for before the first run ends has numbers.
  scrubStatus({ storeSet: serving.repo.set, ledger, periodMs: opts.periodMs })
    .then((s) => (status ??= s))
    .catch(() => undefined);
  schedule(0);
  const unregister = registerPatrolMetrics(serving, () => status);
  return {
    status: () => status,
    lastRun: () => last,
    async stop() {
      ac.abort();
      clearTimeout(timer);
      await running;
      unregister();
    },
  };
}

/** The patrol's news as alerts (the notifier keeps one alert per change of state). */
function alert(serving: Serving, e: PatrolEvent): void {
  const n = serving.notifier;
  if (e.kind === 'damage-found') n.event({ kind: 'damage-found', archive: e.archive, detail: `the patrol found ${e.shards.length} damaged file(s) in archive ${e.archive} (margin now ${e.margin})` });
  else if (e.kind === 'damage-healed') n.event({ kind: 'damage-cleared', archive: e.archive, detail: `the patrol repaired archive ${e.archive}` });
  else if (e.kind === 'beyond-repair') n.event({ kind: 'damage-unrepairable', archive: e.archive, detail: `archive ${e.archive} is damaged beyond repair: ${e.lost.length} file(s) lost` });
  else if (e.kind === 'repair-failed') n.event({ kind: 'damage-unrepairable', archive: e.archive, detail: `the patrol could not repair archive ${e.archive}: ${e.code}` });
  else n.scrubOverdue(true, `${e.overdueStripes} stripe(s) not proven within the patrol's period`);
}

/** Scrub coverage, the oldest proof's age and the margins in /metrics, computed from the last status at each scrape. */
function registerPatrolMetrics(serving: Serving, status: () => PatrolStatus | null): () => void {
  const m = serving.metrics.metrics;
  const off = [
    m.register({ name: 'blockframe_scrub_coverage_ratio', help: 'Stripes proven within the patrol period / all stripes (1 when there are none).', type: 'gauge', collect: () => { const s = status(); return s ? [{ value: s.coverage }] : []; } }),
    m.register({ name: 'blockframe_scrub_overdue_stripes', help: 'Stripes whose last proof is older than the period (or never proven and older than it).', type: 'gauge', collect: () => { const s = status(); return s ? [{ value: s.overdueStripes }] : []; } }),
    m.register({ name: 'blockframe_scrub_oldest_proof_age_seconds', help: 'Age of the oldest stripe proof (absent while some stripe was never proven).', type: 'gauge', collect: () => { const s = status(); return s && s.oldestProofAgeSeconds !== null ? [{ value: s.oldestProofAgeSeconds }] : []; } }),
    m.register({ name: 'blockframe_margin_min', help: 'The smallest margin of all archives the patrol checked: more shard losses the weakest survives.', type: 'gauge', collect: () => { const s = status(); return s && s.margin !== null ? [{ value: s.margin }] : []; } }),
    m.register({ name: 'blockframe_archive_margin', help: 'Margin of the lowest-margin archives (at most 10).', type: 'gauge', collect: () => (status()?.lowestMargins ?? []).map((a) => ({ labels: { archive: a.dir }, value: a.margin })) }),
  ];
  return () => off.forEach((f) => f());
}
