// `blockframe delete NAME...`: remove archives from every store (with --dry-run: only say which).
import type { Command } from 'commander';
import { printable } from '../escape.js';
import { EXIT } from '../errors.js';
import { deleteArchives } from '../engine/delete.js';
import { formatSize } from '../units.js';
import { printJson, storeOpts, withCommon, type CommonOptions } from './common.js';

export function register(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  withCommon(program.command('delete'))
    .description('delete archives from every store: manifests first, then every shard (each NAME must match exactly one archive; nothing is deleted if any does not)')
    .argument('<name...>', 'archives to delete (file name, directory name or hash prefix)')
    .option('--dry-run', 'say what would be deleted, change nothing')
    .option('--json', 'print one JSON report')
    .action((names: string[], opts: CommonOptions & { dryRun?: boolean }) =>
      run(async () => {
        const done = await deleteArchives(names, { ...storeOpts(opts), dryRun: opts.dryRun });
        if (opts.json) printJson({ archives: done });
        else {
          for (const a of done) {
            const what = a.name === null ? 'manifest unreadable' : `${printable(a.name)}, ${formatSize(a.size ?? 0)}`;
            process.stdout.write(`${a.outcome === 'deleted' ? 'deleted' : 'would delete'} ${printable(a.dir)} (${what})\n`);
          }
        }
        return EXIT.OK;
      }),
    );
}
