// Options and helpers shared by every CLI command: where the archives are (--archive, --store, --config), --debug, output.
import { Command } from 'commander';
import { BlockFrameError } from '../errors.js';
import type { StoreOptions } from '../store/config.js';

export interface CommonOptions {
  archive?: string;
  store?: string[];
  failures?: string;
  config?: string;
  debug?: boolean;
  json?: boolean;
}

const collect = (v: string, all: string[] = []) => [...all, v];

/** Add the options every command takes. */
export function withCommon(cmd: Command): Command {
  return cmd
    .option('--archive <dir>', 'one archive directory (default: see "Where archives are" in blockframe --help)')
    .option('--store <store>', 'a store (failure domain): a directory or s3://bucket/prefix?endpoint=URL; repeat for each, in order', collect)
    .option('--failures <n>', 'with several stores: how many whole stores an archive must survive losing (default 1)')
    .option('--config <file>', 'store set written by `blockframe init` (default: $BLOCKFRAME_CONFIG, else ./blockframe.json if present)')
    .option('--debug', 'show stack traces on errors');
}

/** The store options of a parsed command line. */
export function storeOpts(o: CommonOptions): StoreOptions {
  let failures: number | undefined;
  if (o.failures !== undefined) {
    if (!/^\d{1,2}$/.test(o.failures)) throw new BlockFrameError('BF_USAGE', `--failures must be a whole number of stores, not ${JSON.stringify(o.failures)}`, { field: 'failures' });
    failures = Number(o.failures);
  }
  if (o.archive !== undefined && o.store?.length) throw new BlockFrameError('BF_USAGE', '--archive and --store do not go together: use one directory, or name every store', { field: 'store' });
  return { archive: o.archive, stores: o.store, failures, config: o.config };
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function shortHash(h: string): string {
  return h.slice(0, 12);
}
