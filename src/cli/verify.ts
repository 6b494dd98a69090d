// `blockframe verify [NAME...]` and `blockframe repair [NAME...]`: find damage, say if it is repairable, heal it.
import type { Command } from 'commander';
import { logs } from '../log.js';
import { printable } from '../escape.js';
import { BlockFrameError, EXIT } from '../errors.js';
import { repair } from '../engine/repair.js';
import { parseReplace } from '../engine/options.js';
import { exitCodeFor, verify, verifySegment, type ArchiveHealth } from '../engine/verify.js';
import { printJson, storeOpts, withCommon, type CommonOptions } from './common.js';
import { interruptSignal } from './interrupt.js';
import { progressBar } from './progress.js';
import { formatSize } from '../units.js';
import type { Leftover } from '../store/leftovers.js';

/**
 * One note on stderr per staging leftover: an interrupted commit's spool (removed by the next commit) or one that is
 * running now. They are not part of any archive, so they change no status or exit code.
 */
export function leftoverLines(leftovers: Leftover[]): string {
  return leftovers
    .map((l) => {
      const what = l.running ? `a commit in progress (pid ${l.pid})` : `left by an interrupted commit (pid ${l.pid}, not running); the next commit removes it`;
      return `blockframe: note: ${printable(l.path)} holds ${formatSize(l.bytes)}, ${what}\n`;
    })
    .join('');
}

function problemLines(problems: ArchiveHealth['problems']): string {
  return problems
    .map(
      (p) =>
        `  ${p.kind.padEnd(10)} ${p.store === undefined ? '' : `[store ${p.store}] `}${printable(p.path)}${p.stripe === undefined ? '' : ` (${p.level === 2 ? 'level-2 stripe' : 'stripe'} ${p.stripe})`}  ${p.repairable ? 'repairable' : 'NOT repairable'}: ${printable(p.detail)}\n`,
    )
    .join('');
}

/** With several stores: one line for each store that lost shards, did not answer or refused access, before the file-by-file list. */
function storeLines(stores: ArchiveHealth['stores']): string {
  if (stores.length < 2) return '';
  return stores
    .filter((s) => s.state !== 'ok')
    .map((s) => `  store ${s.store} (${printable(s.label)}): ${s.state === 'lost' ? `LOST, all ${s.shards} shards of this archive gone` : s.state === 'unavailable' ? 'NOT ANSWERING' : s.state === 'denied' ? 'ACCESS DENIED (check credentials)' : s.state === 'absent' ? `NOT MOUNTED (its store marker is missing): ${s.shards} shards of this archive are there, read from the other stores meanwhile` : `${s.lost} of ${s.shards} shards damaged`}\n`)
    .join('');
}

export function register(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  withCommon(program.command('verify'))
    .description('check every shard against the manifest and Merkle root (all archives when no NAME); exit 0 healthy, 3 repairable, 4 unrecoverable')
    .argument('[name...]', 'archives to check (file name, directory name or hash prefix)')
    .option('--segment <n>', 'check one data segment and its Merkle proof only (O(log n))')
    .option('--json', 'print one JSON report')
    .action((names: string[], opts: CommonOptions & { segment?: string }) =>
      run(async () => {
        if (opts.segment !== undefined) {
          if (names.length !== 1 || !/^\d+$/.test(opts.segment)) {
            throw new BlockFrameError('BF_USAGE', 'verify --segment N needs exactly one NAME and a segment number', {});
          }
          const r = await verifySegment(names[0]!, Number(opts.segment), storeOpts(opts));
          if (opts.json) printJson(r);
          else {
            process.stdout.write(
              r.ok
                ? `segment ${r.segment} (${r.path}): ok, Merkle proof of ${r.proofSteps} steps verified against root ${r.merkleRoot.slice(0, 16)}\n`
                : `segment ${r.segment} (${r.path}): DAMAGED, ${r.hash === null ? 'missing or wrong size' : 'hash does not prove against the Merkle root'} (run: blockframe repair)\n`,
            );
          }
          return r.ok ? EXIT.OK : EXIT.DAMAGED_REPAIRABLE;
        }
        const bar = progressBar('verify', !opts.json && logs('info'));
        const report = await verify(names, { ...storeOpts(opts), signal: interruptSignal(), onProgress: bar.update }).finally(() => bar.done());
        if (opts.json) {
          printJson({
            status: report.status,
            margin: report.margin,
            archives: report.archives.map(({ dir, name, status, margin, problems, stores, bytesChecked }) => ({ dir, name, status, margin, problems, stores, bytesChecked })),
            notFound: report.notFound,
            leftovers: report.leftovers,
          });
        } else {
          if (logs('warn')) process.stderr.write(leftoverLines(report.leftovers));
          if (report.archives.length === 0 && report.notFound.length === 0) process.stdout.write('no archives\n');
          for (const n of report.notFound) process.stderr.write(`blockframe: ${printable(n.message)} [${n.code}]\n`);
          for (const a of report.archives) {
            process.stdout.write(`${a.status === 'healthy' ? 'ok' : a.status === 'repairable' ? 'DAMAGED (repairable)' : 'DAMAGED (unrecoverable)'}: ${printable(a.name)} [${printable(a.dir)}]\n`);
            process.stdout.write(storeLines(a.stores));
            process.stdout.write(problemLines(a.problems));
          }
        }
        // A name that matches nothing is a failure even when everything found is healthy.
        return Math.max(exitCodeFor(report.status), report.notFound.length ? EXIT.FAILURE : EXIT.OK);
      }),
    );

  withCommon(program.command('repair'))
    .description('rebuild missing or corrupt shards, the chunk index and the manifest from what survives (all archives when no NAME); what belongs on an absent store is queued (exit 3)')
    .argument('[name...]', 'archives to repair')
    .option('--dry-run', 'print the plan and change nothing')
    .option('--replace <old=new>', 'rebuild a dead or absent store onto a new one (a directory or s3:// URL), which gets its store marker first; the config file is updated when all is healthy', (v: string, all: string[] = []) => [...all, v])
    .option('--json', 'print one JSON report')
    .action((names: string[], opts: CommonOptions & { dryRun?: boolean; replace?: string[] }) =>
      run(async () => {
        const bar = progressBar(opts.dryRun ? 'check' : 'repair', !opts.json && logs('info'));
        const replace = opts.replace?.map(parseReplace);
        const report = await repair(names, { ...storeOpts(opts), replace, dryRun: opts.dryRun, signal: interruptSignal(), onProgress: bar.update }).finally(() => bar.done());
        if (opts.json) printJson(report);
        else {
          for (const a of report.archives) {
            if (a.outcome === 'healthy') process.stdout.write(`ok: ${printable(a.name)} [${printable(a.dir)}] needs no repair\n`);
            else if (a.outcome === 'unrecoverable') {
              process.stdout.write(`UNRECOVERABLE: ${printable(a.name)} [${printable(a.dir)}]: nothing was changed; lost beyond repair:\n`);
              for (const p of a.lost) process.stdout.write(`  ${printable(p)}\n`);
              process.stdout.write(problemLines(a.problems.filter((p) => p.repairable)));
            } else {
              process.stdout.write(`${a.outcome === 'planned' ? 'would repair' : a.outcome === 'partial' ? 'repaired in part' : 'repaired'}: ${printable(a.name)} [${printable(a.dir)}]\n`);
              for (const x of a.actions) {
                if (a.queued.includes(x)) continue;
                process.stdout.write(`  ${x.action.padEnd(8)} ${x.store === undefined ? '' : `[store ${x.store}] `}${printable(x.path)}${x.via ? ` (from ${x.via})` : ''}\n`);
              }
              for (const x of a.queued) process.stdout.write(`  queued   [store ${x.store ?? 1}] ${printable(x.path)} (its store is absent: plug it in and run repair again)\n`);
            }
          }
        }
        if (report.configUpdated && !opts.json) process.stdout.write(`updated ${report.configUpdated}: the replacement store takes the old one's place\n`);
        return exitCodeFor(report.status);
      }),
    );
}
