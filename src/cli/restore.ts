// `blockframe restore NAME -o PATH` and `blockframe cat NAME`: get a verified file back.
import type { Command } from 'commander';
import { printable } from '../escape.js';
import { cat, restore } from '../engine/restore.js';
import type { Damage } from '../archive/read/reader.js';
import { formatSize } from '../units.js';
import { logLine, logs } from '../log.js';
import { printJson, storeOpts, warn, withCommon, type CommonOptions } from './common.js';
import { interruptSignal } from './interrupt.js';
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
    logLine('warn', `blockframe: warning: ${which}: ${why}; ${e.n} of its files could not be read, the bytes were rebuilt from the other stores and verified${then}`);
  }
  const damage = all.filter((d) => !d.cause);
  if (damage.length === 0) return;
  // Many files (a whole dead store) are summed up per store rather than listed one by one.
  const stores = new Map<number, number>();
  for (const d of damage) if (d.store !== undefined) stores.set(d.store, (stores.get(d.store) ?? 0) + 1);
  const shown = damage.slice(0, 5).map((d) => `${d.kind} ${printable(d.path)}`);
  const more = damage.length > 5 ? ` and ${damage.length - 5} more` : '';
  const where = stores.size ? ` (${[...stores].map(([s, n]) => `${n} on store ${s}`).join(', ')})` : '';
  logLine('warn', `blockframe: warning: damaged ${shown.join(', ')}${more}${where}; the bytes were rebuilt from parity and verified (run: blockframe repair ${printable(name)})`);
}

interface UnencryptedOpts extends CommonOptions {
  allowUnencrypted?: boolean;
}

const ALLOW_UNENCRYPTED = 'read an archive that is not encrypted even though --key-file or --passphrase-file was given (refused by default: see README, "Tampering")';

/**
 * How a read treats an archive that is not encrypted when keys were given: keys named on the command line say "I
 * expect this archive to be encrypted", so a plain one is refused (BF_NOT_ENCRYPTED) unless --allow-unencrypted; keys
 * from the environment apply to every archive, so a plain one is read with a warning. Either way it is said.
 */
function unencryptedPolicy(name: string, opts: UnencryptedOpts): { requireEncrypted: boolean; onUnencrypted: (dir: string) => void; unused: () => boolean } {
  const explicit = (opts.keyFile?.length ?? 0) > 0 || opts.passphraseFile !== undefined;
  let unused = false;
  return {
    requireEncrypted: explicit && !opts.allowUnencrypted,
    onUnencrypted: (dir) => {
      unused = true;
      warn(`archive ${printable(dir)} is not encrypted: the key given was not used, and nothing authenticates ${printable(name)} beyond its (rewritable) hashes`);
    },
    unused: () => unused,
  };
}

export function register(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  withCommon(program.command('restore'))
    .description('restore a file, verifying every shard and the whole-file hash; the output appears only when complete')
    .argument('<name>', 'file name, archive directory name, or hash prefix')
    .requiredOption('-o, --output <path>', 'where to write the restored file: a path, a directory (gets the archived name), or - for stdout')
    .option('--force', 'replace the output if it exists')
    .option('--json', 'print the result as one JSON document (not with -o -)')
    .option('--no-check-file-hash', 'skip the second-opinion whole-file hash (every byte is still verified against its chunk hash)')
    .option('--allow-unencrypted', ALLOW_UNENCRYPTED)
    .action((name: string, opts: UnencryptedOpts & { output: string; force?: boolean; checkFileHash?: boolean }) =>
      run(async () => {
        const { unused, ...rest } = unencryptedPolicy(name, opts);
        const policy = { ...rest, signal: interruptSignal() };
        if (opts.output === '-') {
          const damage: Damage[] = [];
          await cat(name, process.stdout, { ...storeOpts(opts), ...policy, onDamage: (d) => damage.push(d) });
          warnDamage(name, damage);
          return 0;
        }
        const bar = progressBar('restore', !opts.json && logs('info'));
        try {
          const damage: Damage[] = [];
          const r = await restore(name, opts.output, { ...storeOpts(opts), ...policy, force: opts.force, checkFileHash: opts.checkFileHash, onProgress: bar.update, onDamage: (d) => damage.push(d) });
          bar.done();
          for (const p of r.removedPartials) logLine('info', `blockframe: note: removed ${printable(p.path)} (${formatSize(p.bytes)}), left by an interrupted restore`);
          if (opts.json) printJson({ ...r, keyUnused: unused(), damage });
          else logLine('info', `restored ${printable(r.name)} (${formatSize(r.size)}) -> ${printable(r.output)}`);
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
    .option('--allow-unencrypted', ALLOW_UNENCRYPTED)
    .action((name: string, opts: UnencryptedOpts & { range?: string }) =>
      run(async () => {
        const damage: Damage[] = [];
        const { unused: _unused, ...rest } = unencryptedPolicy(name, opts);
        const policy = { ...rest, signal: interruptSignal() };
        await cat(name, process.stdout, { ...storeOpts(opts), ...policy, range: opts.range, onDamage: (d: Damage) => damage.push(d) });
        warnDamage(name, damage);
        return 0;
      }),
    );
}
