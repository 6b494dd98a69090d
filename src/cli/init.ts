// `blockframe init --store A --store B …`: save a store set to a config file and show the code it gives each tier.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { BlockFrameError, fromSystemError } from '../errors.js';
import { chooseCode } from '../layout/placement.js';
import { CONFIG_FILE, parseStoreSpec, resolveStores, specText, writeConfig } from '../store/config.js';
import { printJson, storeOpts, withCommon, type CommonOptions } from './common.js';

export function register(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  withCommon(program.command('init'))
    .description('save a set of stores (failure domains) to a config file, so later commands need no --store')
    .option('--force', 'replace an existing config file')
    .option('--json', 'print one JSON document')
    .action((opts: CommonOptions & { force?: boolean }) =>
      run(async () => {
        if (!opts.store?.length) throw new BlockFrameError('BF_USAGE', 'init needs the stores: --store DIR_OR_S3_URL, once per store, in order', { field: 'store' });
        const path = resolve(opts.config ?? (process.env.BLOCKFRAME_CONFIG || CONFIG_FILE));
        if (existsSync(path) && !opts.force) throw new BlockFrameError('BF_OUTPUT_EXISTS', `${path} exists (use --force to replace it)`, { path });
        const specs = opts.store.map(parseStoreSpec);
        const so = storeOpts(opts);
        const failures = so.failures ?? (specs.length > 1 ? 1 : 0);
        // Refuse an impossible set before writing anything, and show what each tier gets.
        const codes = ([1, 2, 3, 4] as const).map((tier) => ({ tier, ...chooseCode(tier, specs.length, failures) }));
        const r = resolveStores({ stores: opts.store, failures });
        try {
          // Every store must answer now (a set with a dead member from the start helps no one); directories are created.
          for (let d = 0; d < r.set.size; d++) {
            const spec = specs[d]!;
            if (spec.kind === 'local') await mkdir(spec.path, { recursive: true }).catch((err) => Promise.reject(fromSystemError(err, spec.path, 'creating a store directory')));
            await r.set.on(d, async (x) => {
              for await (const o of x.list('', { delimiter: '/' })) if (o) break;
            });
          }
        } finally {
          await r.set.close();
        }
        const stores = specs.map(specText);
        await writeConfig(path, { version: 1, stores, failures });
        if (opts.json) printJson({ config: path, stores, failures, codes });
        else {
          process.stdout.write(`wrote ${path}: ${stores.length} store${stores.length === 1 ? '' : 's'}, an archive survives losing ${failures} of them\n`);
          for (const c of codes) process.stdout.write(`  tier ${c.tier}: RS(${c.k},${c.m})\n`);
        }
        return 0;
      }),
    );
}
