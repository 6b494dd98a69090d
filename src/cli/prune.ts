// `blockframe prune [--dry-run] [--json]`: reclaim the packs and large blobs no snapshot uses (docs/FORMAT.md §13.6 "Prune").
import type { Command } from 'commander';
import { EXIT } from '../errors.js';
import { prune, PRUNE_STEPS, type PruneReport, type PruneStep } from '../engine/prune.js';
import { formatSize } from '../units.js';
import { printJson, storeOpts, withCommon, type CommonOptions } from './common.js';

/**
 * Test hook: with BLOCKFRAME_TEST_PRUNE_PAUSE set to a step name (engine/prune.ts PruneStep), prune prints
 * "prune: paused at STEP" to stderr there and waits forever, so a crash test can kill -9 it at that point.
 */
const PAUSE_ENV = 'BLOCKFRAME_TEST_PRUNE_PAUSE';

function pauseAt(): ((s: PruneStep) => Promise<void>) | undefined {
  const want = process.env[PAUSE_ENV];
  if (!want || !(PRUNE_STEPS as readonly string[]).includes(want)) return undefined;
  return async (s) => {
    if (s !== want) return;
    process.stderr.write(`prune: paused at ${s}\n`);
    await new Promise(() => undefined);
  };
}

function text(r: PruneReport): string {
  const verb = r.dryRun ? 'would ' : '';
  return (
    `${r.snapshots} snapshot(s), ${r.liveBlobs} live blob(s)\n` +
    `packs: ${r.packs.kept} kept, ${verb}delete ${r.packs.deleted}, ${verb}repack ${r.packs.repacked}` +
    (r.dryRun ? '' : ` into ${r.packs.written} new`) +
    `\nlarge blobs: ${r.largeBlobs.kept} kept, ${verb}delete ${r.largeBlobs.deleted}\n` +
    `index files: ${r.indexFiles.before} before, ${r.indexFiles.written} written, ${r.indexFiles.deleted} deleted\n` +
    `${r.dryRun ? 'would reclaim' : 'reclaimed'} ${formatSize(Math.max(0, r.bytesReclaimed))} of stored streams, ${r.dryRun ? 'would rewrite' : 'rewrote'} ${formatSize(r.bytesRewritten)}\n`
  );
}

export function register(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  withCommon(program.command('prune'))
    .description('delete the packs and large blobs no snapshot uses, repack sparse and small packs, leave one index file (exclusive repository lock; deletes nothing if any snapshot cannot be read)')
    .option('--dry-run', 'take the lock and say what would be deleted and repacked, change nothing')
    .option('--json', 'print one JSON report: {dryRun, snapshots, liveBlobs, packs: {kept, deleted, repacked, written}, largeBlobs: {kept, deleted}, indexFiles: {before, written, deleted}, bytesReclaimed, bytesRewritten, leftovers}')
    .action((opts: CommonOptions & { dryRun?: boolean }) =>
      run(async () => {
        const r = await prune({ ...storeOpts(opts), dryRun: opts.dryRun, onStep: pauseAt() });
        if (opts.json) printJson(r);
        else process.stdout.write(text(r));
        return EXIT.OK;
      }),
    );
}
