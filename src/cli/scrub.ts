// `blockframe scrub`: prove the stalest stripes first within a rate and a time budget, heal what it finds.
import type { Command } from 'commander';
import { EXIT } from '../errors.js';
import { printable } from '../escape.js';
import { scrub, scrubStatus, DEFAULT_PERIOD_MS, type PatrolStatus, type ScrubReport } from '../engine/scrub.js';
import { exitCodeFor } from '../engine/verify.js';
import { formatSize, parseDuration, parseRate, parseSize } from '../units.js';
import { printJson, storeOpts, withCommon, type CommonOptions } from './common.js';
import { interruptSignal } from './interrupt.js';

interface ScrubCliOptions extends CommonOptions {
  rate?: string;
  budget?: string;
  period: string;
  repair: boolean;
  ledger?: string;
  batch?: string;
  status?: boolean;
  minAge?: string;
}

/** "coverage 97.2% of 1234 stripes proven within 30d; on track" and the oldest proof, for people. */
export function coverageLine(c: PatrolStatus): string {
  const age = c.oldestProofAgeSeconds === null ? 'some never proven' : `oldest proof ${formatAge(c.oldestProofAgeSeconds)} ago`;
  const track = c.onTrack ? 'on track' : c.overdueStripes ? `BEHIND: ${c.overdueStripes} stripes overdue` : `not yet covered: ${c.unprovenStripes} stripes never proven`;
  return `coverage ${(c.coverage * 100).toFixed(1)}% of ${c.stripes} stripes proven within ${formatAge(c.periodSeconds)}; ${age}; ${track}; margin ${c.margin ?? 'unknown'}; needs ${formatSize(c.neededRate)}/s on average`;
}

function formatAge(s: number): string {
  return s >= 86400 ? `${+(s / 86400).toFixed(1)}d` : s >= 3600 ? `${+(s / 3600).toFixed(1)}h` : s >= 60 ? `${+(s / 60).toFixed(1)}m` : `${s}s`;
}

/** The scrub options of a command line (shared with `serve --patrol`). */
export function scrubOptions(o: { rate?: string; budget?: string; period?: string; ledger?: string; batch?: string; minAge?: string }) {
  const periodMs = o.period === undefined ? DEFAULT_PERIOD_MS : parseDuration(o.period, 'period');
  return {
    freshMs: o.minAge === undefined ? periodMs / 2 : /^\s*0+\s*[a-z]*\s*$/.test(o.minAge) ? 0 : parseDuration(o.minAge, 'min-age'),
    rate: o.rate === undefined ? undefined : parseRate(o.rate, 'rate'),
    budgetMs: o.budget === undefined ? undefined : parseDuration(o.budget, 'budget'),
    periodMs,
    ledger: o.ledger,
    batchBytes: o.batch === undefined ? undefined : parseSize(o.batch, 'batch'),
  };
}

function reportText(r: ScrubReport): string {
  let out = `scrub: ${r.stoppedBy === 'done' ? 'done' : 'budget used up'}: proved ${r.checked.stripes} stripes of ${r.checked.archives} archives (${formatSize(r.checked.bytes)}) in ${(r.elapsedMs / 1000).toFixed(1)} s at ${formatSize(r.rate.observed)}/s\n`;
  for (const d of r.damaged) {
    const what = d.outcome === 'repaired' ? 'REPAIRED' : d.outcome === 'unrecoverable' ? 'UNRECOVERABLE' : d.outcome === 'failed' ? 'REPAIR FAILED' : 'DAMAGED (not repaired)';
    out += `${what}: ${printable(d.archive)} (margin ${d.margin}): ${d.shards.map(printable).join(', ')}${d.detail ? `: ${printable(d.detail)}` : ''}\n`;
  }
  return `${out}${coverageLine(r.coverage)}\n`;
}

export function register(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  withCommon(program.command('scrub'))
    .description('prove the stalest stripes first (shard hashes against the manifest), record when in the ledger, and repair what is found, lowest margin first; exit 0 healthy, 3 damage left, 4 unrecoverable')
    .option('--rate <bytes/s>', 'limit the checking reads, e.g. 10MB/s or 512KiB/s (repairs are not limited)')
    .option('--budget <time>', 'stop starting batches after this long, e.g. 30m (the next run resumes with the stalest)')
    .option('--period <time>', 'the coverage target: every stripe proven once per period (reported, with whether it is on track)', '30d')
    .option('--min-age <time>', 'skip stripes proven less than this long ago (default: half the period; 0 proves every stripe)')
    .option('--no-repair', 'only report damage')
    .option('--ledger <dir>', 'where the ledger is kept (default: $BLOCKFRAME_LEDGER, else .blockframe-ledger next to the config file, else $XDG_STATE_HOME/blockframe/ledger/…)')
    .option('--batch <size>', 'shard bytes proven and recorded together (default 64MiB): at most this is redone after a crash')
    .option('--status', 'print the coverage from the ledger and check nothing')
    .option('--json', 'print one JSON report')
    .action((opts: ScrubCliOptions) =>
      run(async () => {
        const so = scrubOptions(opts);
        if (opts.status) {
          const s = await scrubStatus({ ...storeOpts(opts), ...so });
          if (opts.json) printJson(s);
          else process.stdout.write(`${coverageLine(s)}\n`);
          return EXIT.OK;
        }
        const r = await scrub({
          ...storeOpts(opts),
          ...so,
          repair: opts.repair,
          signal: interruptSignal(),
          onBatch: opts.json ? undefined : (b) => process.stderr.write(`scrub: proved ${printable(b.archive)} stripes ${b.stripes.join(',')} (${b.bytes} bytes)${b.damaged ? ' DAMAGE FOUND' : ''}\n`),
        });
        if (opts.json) printJson(r);
        else process.stdout.write(reportText(r));
        return exitCodeFor(r.status);
      }),
    );
}
