// `blockframe restore NAME -o PATH` and `blockframe cat NAME`: get a verified file back.
import type { Command } from 'commander';
import { cat, restore } from '../engine/restore.js';
import { formatSize } from '../layout/units.js';
import { withCommon, type CommonOptions } from './common.js';
import { progressBar } from './progress.js';

export function register(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  withCommon(program.command('restore'))
    .description('restore a file, verifying every shard and the whole-file hash; the output appears only when complete')
    .argument('<name>', 'file name, archive directory name, or hash prefix')
    .requiredOption('-o, --output <path>', 'where to write the restored file')
    .option('--force', 'replace the output if it exists')
    .action((name: string, opts: CommonOptions & { output: string; force?: boolean }) =>
      run(async () => {
        const bar = progressBar('restore', true);
        try {
          const r = await restore(name, opts.output, { archive: opts.archive, force: opts.force, onProgress: bar.update });
          bar.done();
          process.stderr.write(`restored ${r.name} (${formatSize(r.size)}) -> ${r.output}\n`);
        } finally {
          bar.done();
        }
        return 0;
      }),
    );

  withCommon(program.command('cat'))
    .description('write a file to stdout; every segment is verified before its bytes are written')
    .argument('<name>', 'file name, archive directory name, or hash prefix')
    .action((name: string, opts: CommonOptions) =>
      run(async () => {
        await cat(name, process.stdout, { archive: opts.archive });
        return 0;
      }),
    );
}
