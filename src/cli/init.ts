// `blockframe init --store A --store B …`: save a store set to a config file (each store gets its marker); `--update` re-reads the disks.
import type { Command } from 'commander';
import { BlockFrameError } from '../errors.js';
import { init, updateInit } from '../engine/init.js';
import { printable } from '../escape.js';
import { printJson, storeOpts, withCommon, type CommonOptions } from './common.js';
import { interruptSignal } from './interrupt.js';

export function register(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  withCommon(program.command('init'))
    .description('save a set of stores (failure domains) to a config file, so later commands need no --store; each store gets a marker naming its set and slot')
    .option('--force', 'replace an existing config file')
    .option('--update', "bring the config file in step with the disks: put swapped stores back in their markers' order, and give an older repository's stores their markers")
    .option('--json', 'print one JSON document')
    .action((opts: CommonOptions & { force?: boolean; update?: boolean }) =>
      run(async () => {
        if (opts.update) {
          if (opts.store?.length) throw new BlockFrameError('BF_USAGE', 'init --update reads the stores from the config file: give no --store', { field: 'store' });
          const r = await updateInit({ config: opts.config, signal: interruptSignal() });
          if (opts.json) printJson(r);
          else if (r.changes.length === 0) process.stdout.write(`${printable(r.config)} is in step with the stores: nothing changed\n`);
          else {
            process.stdout.write(`updated ${printable(r.config)}:\n`);
            for (const c of r.changes) process.stdout.write(`  ${printable(c)}\n`);
          }
          return 0;
        }
        const so = storeOpts(opts);
        const r = await init({ stores: opts.store ?? [], failures: so.failures, config: opts.config, force: opts.force, signal: interruptSignal() });
        if (opts.json) printJson(r);
        else {
          process.stdout.write(`wrote ${printable(r.config)}: ${r.stores.length} store${r.stores.length === 1 ? '' : 's'}, an archive survives losing ${r.failures} of them\n`);
          for (const c of r.codes) process.stdout.write(`  tier ${c.tier}: RS(${c.k},${c.m})\n`);
        }
        return 0;
      }),
    );
}
