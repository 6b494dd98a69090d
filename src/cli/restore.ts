// `blockframe restore NAME -o PATH` and `blockframe cat NAME`: get a verified file (or a snapshot's tree, NAME[@ID][:PATH]) back.
import type { Command } from 'commander';
import { printable } from '../escape.js';
import { cat, restore } from '../engine/restore.js';
import { restoreTree } from '../engine/restore-tree.js';
import { catSnapshotFile, hasSnapshot } from '../engine/snapshots.js';
import { find } from '../engine/find.js';
import { BlockFrameError, isBlockFrameError } from '../errors.js';
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

interface TargetOpts extends CommonOptions {
  snapshot?: boolean;
  singleFile?: boolean;
  path?: string;
}

const SNAPSHOT_HELP = 'take the argument as a snapshot, NAME[@ID][:PATH] (the default when a snapshot of that name exists and no single-file archive matches)';
const SINGLE_HELP = 'take the argument as a single-file archive (name, directory name or hash prefix), as before snapshots existed';
const PATH_HELP = 'the path inside the snapshot (instead of :PATH; then the argument is taken whole as NAME[@ID], for names with ":")';

/**
 * Is `arg` a snapshot or a single-file archive? --snapshot / --path say snapshot, --single-file says file. Otherwise
 * a snapshot only when a name record matches the name part and no single-file archive matches the whole argument;
 * when both match, BF_AMBIGUOUS_NAME asks for one of the flags. With no snapshot of that name, nothing changes for
 * single-file archives (same lookups, same errors).
 */
async function isSnapshotTarget(arg: string, opts: TargetOpts): Promise<boolean> {
  if (opts.snapshot && opts.singleFile) throw new BlockFrameError('BF_USAGE', '--snapshot and --single-file do not go together', { field: 'snapshot' });
  if (opts.singleFile) {
    if (opts.path !== undefined) throw new BlockFrameError('BF_USAGE', '--path names a path inside a snapshot: not with --single-file', { field: 'path' });
    return false;
  }
  if (opts.snapshot || opts.path !== undefined) return true;
  const snap = await hasSnapshot(arg, storeOpts(opts)).catch((err: unknown) => {
    if (isBlockFrameError(err, 'BF_PATH_UNSAFE') || isBlockFrameError(err, 'BF_USAGE')) return false;
    throw err;
  });
  if (!snap) return false;
  const file = await find(arg, storeOpts(opts)).then(
    () => true,
    (err: unknown) => {
      if (isBlockFrameError(err, 'BF_ARCHIVE_NOT_FOUND')) return false;
      if (isBlockFrameError(err, 'BF_AMBIGUOUS_NAME')) return true;
      throw err;
    },
  );
  if (file) {
    throw new BlockFrameError('BF_AMBIGUOUS_NAME', `${printable(arg)} names both a snapshot and a single-file archive: add --snapshot or --single-file`, { name: arg });
  }
  return true;
}

export function register(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  withCommon(program.command('restore'))
    .description(
      'restore a file, verifying every shard and the whole-file hash; the output appears only when complete. ' +
        'A snapshot (NAME, NAME@ID, NAME:PATH) restores its tree, or the part under PATH, below the directory -o names: paths, modes, mtimes, symlinks; ' +
        'each file verified and renamed into place; entries that fail are reported, the others restored, and the exit status is then non-zero',
    )
    .argument('<name>', 'file name, archive directory name, or hash prefix; or a snapshot NAME[@ID][:PATH]')
    .requiredOption('-o, --output <path>', 'where to write the restored file: a path, a directory (gets the archived name), or - for stdout; for a snapshot, the directory to restore into (created if missing)')
    .option('--force', 'replace the output if it exists (a snapshot: replace files and links in the way, never a directory; a link itself, never its target)')
    .option('--snapshot', SNAPSHOT_HELP)
    .option('--single-file', SINGLE_HELP)
    .option('--path <path>', PATH_HELP)
    .option('--include <glob>', 'a snapshot: restore only entries whose path (from the snapshot root) or a parent directory matches (repeatable; *, ?, [..], **; without "/" it matches the last component at any depth)', collect, [])
    .option('--exclude <glob>', 'a snapshot: leave out entries whose path or a parent directory matches (repeatable; as --include)', collect, [])
    .option('--json', 'print the result as one JSON document (not with -o -)')
    .option('--no-check-file-hash', 'skip the second-opinion whole-file hash (every byte is still verified against its chunk hash)')
    .option('--allow-unencrypted', ALLOW_UNENCRYPTED)
    .action((name: string, opts: UnencryptedOpts & TargetOpts & Filters & { output: string; force?: boolean; checkFileHash?: boolean }) =>
      run(async () => {
        if (await isSnapshotTarget(name, opts)) return restoreSnapshot(name, opts);
        if (opts.include.length || opts.exclude.length) throw new BlockFrameError('BF_USAGE', '--include and --exclude pick entries of a snapshot: not for a single-file archive', { field: opts.include.length ? 'include' : 'exclude' });
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
    .argument('<name>', 'file name, archive directory name, or hash prefix; or a file of a snapshot, NAME[@ID]:PATH')
    .option('--range <range>', 'bytes START-END (END inclusive), START- or -SUFFIX')
    .option('--allow-unencrypted', ALLOW_UNENCRYPTED)
    .option('--snapshot', SNAPSHOT_HELP)
    .option('--single-file', SINGLE_HELP)
    .option('--path <path>', PATH_HELP)
    .action((name: string, opts: UnencryptedOpts & TargetOpts & { range?: string }) =>
      run(async () => {
        const damage: Damage[] = [];
        if (await isSnapshotTarget(name, opts)) {
          await catSnapshotFile(name, process.stdout, { ...storeOpts(opts), path: opts.path, range: opts.range, signal: interruptSignal(), onDamage: (d) => damage.push(d) });
          warnDamage(name.split(':')[0]!, damage);
          return 0;
        }
        const { unused: _unused, ...rest } = unencryptedPolicy(name, opts);
        const policy = { ...rest, signal: interruptSignal() };
        await cat(name, process.stdout, { ...storeOpts(opts), ...policy, range: opts.range, onDamage: (d: Damage) => damage.push(d) });
        warnDamage(name, damage);
        return 0;
      }),
    );
}

interface Filters {
  include: string[];
  exclude: string[];
}

function collect(v: string, all: string[]): string[] {
  return [...all, v];
}

/** `restore SNAPSHOT -o DIR`: the tree (or the part under PATH, or the entries --include / --exclude pick), with progress and one line per failed entry. */
async function restoreSnapshot(spec: string, opts: TargetOpts & Filters & { output: string; force?: boolean; json?: boolean }): Promise<number> {
  if (opts.output === '-') throw new BlockFrameError('BF_USAGE', 'a snapshot restores into a directory: give -o DIR (for one file on stdout: blockframe cat NAME:PATH)', { field: 'output' });
  const bar = progressBar('restore', !opts.json && logs('info'));
  try {
    const r = await restoreTree(spec, opts.output, {
      ...storeOpts(opts),
      path: opts.path,
      include: opts.include,
      exclude: opts.exclude,
      force: opts.force,
      signal: interruptSignal(),
      onProgress: bar.update,
      onEntryError: (path, err) => logLine('error', `blockframe: error: ${printable(path)}: ${printable(err.message)} [${err.code}]`),
    });
    bar.done();
    if (opts.json) printJson(r);
    else {
      const what = `${r.files} files, ${r.dirs} directories, ${r.symlinks} symlinks (${formatSize(r.bytes)})`;
      const from = `${printable(r.snapshot.name)}@${r.snapshot.id.slice(0, 12)}${r.path ? `:${printable(r.path)}` : ''}`;
      logLine('info', `restored ${from}: ${what} -> ${printable(r.output)}${r.failed ? `; ${r.failed} failed` : ''}`);
    }
    warnDamage(r.snapshot.name, r.damage);
    return r.exitCode;
  } finally {
    bar.done();
  }
}
