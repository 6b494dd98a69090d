// `blockframe restore NAME -o PATH` and `blockframe cat NAME`: get a verified file back.
import type { Command } from 'commander';
import { printable } from '../escape.js';
import { cat, restore, writeTo } from '../engine/restore.js';
import { openArchive } from '../engine/read.js';
import { plainWindows } from '../engine/plain.js';
import type { Damage } from '../engine/reader.js';
import { parseRange } from '../layout/range.js';
import { formatSize } from '../layout/units.js';
import { printJson, storeOpts, withCommon, type CommonOptions } from './common.js';
import { progressBar } from './progress.js';

/**
 * After a read that healed on the fly: say what is damaged and how to fix it (the bytes were correct). Files that
 * could not be read because their store did not answer or refused access are summed up per store with that
 * reason instead: repair can't help there (and for denied access the store is fine: check its credentials).
 */
function warnDamage(name: string, all: Damage[]): void {
  const byStore = new Map<string, { store: number | undefined; cause: 'unavailable' | 'denied'; n: number }>();
  for (const d of all) {
    if (!d.cause) continue;
    const k = `${d.store}:${d.cause}`;
    const e = byStore.get(k) ?? { store: d.store, cause: d.cause, n: 0 };
    e.n++;
    byStore.set(k, e);
  }
  for (const e of byStore.values()) {
    const which = e.store === undefined ? 'the store' : `store ${e.store}`;
    const why = e.cause === 'denied' ? 'access denied (check credentials)' : 'did not answer';
    const then = e.cause === 'denied' ? '' : ' (run: blockframe verify)';
    process.stderr.write(`blockframe: warning: ${which}: ${why}; ${e.n} of its files could not be read, the bytes were rebuilt from the other stores and verified${then}\n`);
  }
  const damage = all.filter((d) => !d.cause);
  if (damage.length === 0) return;
  // Many files (a whole dead store) are summed up per store rather than listed one by one.
  const stores = new Map<number, number>();
  for (const d of damage) if (d.store !== undefined) stores.set(d.store, (stores.get(d.store) ?? 0) + 1);
  const shown = damage.slice(0, 5).map((d) => `${d.kind} ${printable(d.path)}`);
  const more = damage.length > 5 ? ` and ${damage.length - 5} more` : '';
  const where = stores.size ? ` (${[...stores].map(([s, n]) => `${n} on store ${s}`).join(', ')})` : '';
  process.stderr.write(`blockframe: warning: damaged ${shown.join(', ')}${more}${where}; the bytes were rebuilt from parity and verified (run: blockframe repair ${printable(name)})\n`);
}

export function register(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  withCommon(program.command('restore'))
    .description('restore a file, verifying every shard and the whole-file hash; the output appears only when complete')
    .argument('<name>', 'file name, archive directory name, or hash prefix')
    .requiredOption('-o, --output <path>', 'where to write the restored file: a path, a directory (gets the archived name), or - for stdout')
    .option('--force', 'replace the output if it exists')
    .option('--json', 'print the result as one JSON document (not with -o -)')
    .option('--no-check-file-hash', 'skip the second-opinion whole-file hash (every byte is still verified against its chunk hash)')
    .action((name: string, opts: CommonOptions & { output: string; force?: boolean; checkFileHash?: boolean }) =>
      run(async () => {
        if (opts.output === '-') {
          const damage: Damage[] = [];
          await cat(name, process.stdout, { ...storeOpts(opts), onDamage: (d) => damage.push(d) });
          warnDamage(name, damage);
          return 0;
        }
        const bar = progressBar('restore', !opts.json);
        try {
          const damage: Damage[] = [];
          const r = await restore(name, opts.output, { ...storeOpts(opts), force: opts.force, checkFileHash: opts.checkFileHash, onProgress: bar.update, onDamage: (d) => damage.push(d) });
          bar.done();
          if (opts.json) printJson({ ...r, damage });
          else process.stderr.write(`restored ${printable(r.name)} (${formatSize(r.size)}) -> ${printable(r.output)}\n`);
          warnDamage(name, damage);
        } finally {
          bar.done();
        }
        return 0;
      }),
    );

  withCommon(program.command('cat'))
    .description('write a file (or a byte range of it) to stdout; every byte is verified first and rebuilt from parity if a shard is damaged')
    .argument('<name>', 'file name, archive directory name, or hash prefix')
    .option('--range <range>', 'bytes START-END (END inclusive), START- or -SUFFIX')
    .action((name: string, opts: CommonOptions & { range?: string }) =>
      run(async () => {
        const damage: Damage[] = [];
        const ropts = { ...storeOpts(opts), onDamage: (d: Damage) => damage.push(d) };
        if (opts.range === undefined) {
          await cat(name, process.stdout, ropts);
        } else {
          const a = await openArchive(name, ropts);
          try {
            const r = parseRange(opts.range, a.manifest.size);
            for await (const w of plainWindows(a, r.offset, r.length)) {
              try {
                await writeTo(process.stdout, w.view);
              } finally {
                w.release();
              }
            }
          } finally {
            await a.close();
          }
        }
        warnDamage(name, damage);
        return 0;
      }),
    );
}
