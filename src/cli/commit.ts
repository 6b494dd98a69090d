// `blockframe commit FILE...`: archive files, one result line each (or one JSON document).
import type { Command } from 'commander';
import { BlockFrameError } from '../errors.js';
import { commit, type CommitResult } from '../engine/commit.js';
import { parseTier } from '../layout/tiers.js';
import { formatSize, parseSize } from '../layout/units.js';
import { ComputePool } from '../compute/pool.js';
import { printJson, shortHash, storeOpts, withCommon, type CommonOptions } from './common.js';
import { progressBar } from './progress.js';

interface Opts extends CommonOptions {
  tier?: string;
  segmentSize?: string;
}

export function register(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  withCommon(program.command('commit'))
    .description('archive one or more files (the tier is chosen by size unless --tier is given)')
    .argument('<file...>', 'files to archive')
    .option('--tier <n>', 'force tier 1, 2, 3 or 4')
    .option('--segment-size <size>', 'segment size for tiers 2 to 4, e.g. 32MiB (default 32MiB)')
    .option('--json', 'print one JSON document')
    .action((files: string[], opts: Opts) =>
      run(async () => {
        const tier = opts.tier === undefined ? undefined : parseTier(opts.tier);
        const segmentSize = opts.segmentSize === undefined ? undefined : parseSize(opts.segmentSize, 'segment size');
        const pool = ComputePool.start();
        const results: CommitResult[] = [];
        const errors: ReturnType<BlockFrameError['toJSON']>[] = [];
        try {
          for (const file of files) {
            const bar = progressBar(file, !opts.json);
            try {
              const r = await commit(file, { ...storeOpts(opts), tier, segmentSize, pool, onProgress: bar.update });
              bar.done();
              results.push(r);
              if (!opts.json) {
                const what = r.status === 'archived' ? 'archived' : 'already archived';
                process.stdout.write(`${what}: ${r.name} (${formatSize(r.size)}, tier ${r.tier}, ${r.segments} segment${r.segments === 1 ? '' : 's'}, ${shortHash(r.originalHash)}) -> ${r.dir}\n`);
              }
            } catch (err) {
              bar.done();
              if (!(err instanceof BlockFrameError) || files.length === 1) throw err;
              errors.push({ file, ...err.toJSON() });
              if (!opts.json) process.stderr.write(`blockframe: ${err.message}\n`);
            }
          }
        } finally {
          await pool.close();
        }
        if (opts.json) {
          printJson({
            results: results.map(({ manifest, ...r }) => ({ ...r, merkleRoot: manifest.merkle.root })),
            errors,
          });
        }
        return errors.length ? 1 : 0;
      }),
    );
}
