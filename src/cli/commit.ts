// `blockframe commit FILE...|DIR...`: archive files, one result line each (or one JSON document), or directories as one snapshot (cli/commit-tree.ts).
import type { Command } from 'commander';
import { printable } from '../escape.js';
import { BlockFrameError } from '../errors.js';
import { commit, type CommitResult } from '../engine/commit.js';
import { formatSize, parseSize } from '../units.js';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ComputePool, parseCompress, parseTier, storeSource, type StoreSource } from '../engine/options.js';
import { logLine, logs } from '../log.js';
import { printJson, shortHash, storeOpts, withCommon, type CommonOptions } from './common.js';
import { interruptSignal } from './interrupt.js';
import { progressBar } from './progress.js';
import { checkFileOptions, runTreeCommit } from './commit-tree.js';

interface Opts extends CommonOptions {
  tier?: string;
  segmentSize?: string;
  force?: boolean;
  compress?: string;
  encrypt?: boolean;
  frameSize?: string;
  name?: string;
  parent?: string;
  quick?: boolean;
}

/**
 * Is this a folder commit? True when any argument is a directory (links followed, as the user named them); then every
 * argument must be one (BF_USAGE otherwise: files and directories are not mixed in one commit).
 */
function isTreeCommit(args: string[]): boolean {
  const isDir = args.map((a) => statSync(a, { throwIfNoEntry: false })?.isDirectory() === true);
  if (!isDir.some(Boolean)) return false;
  const file = args.find((_, i) => !isDir[i]);
  if (file !== undefined) throw new BlockFrameError('BF_USAGE', `commit takes files or directories, not both: ${file} is not a directory (commit the directories and the files in two runs)`, { path: file });
  return true;
}

/** Where a missing directory store was named, for the note that commit created it. */
const WHY: Record<StoreSource['from'], string> = {
  stores: 'from --store',
  config: 'from the store configuration',
  archive: 'from --archive',
  env: 'from $BLOCKFRAME_ARCHIVE',
  default: 'the default: ./archive_directory in the working directory; name one with --archive, $BLOCKFRAME_ARCHIVE or blockframe init',
};

/**
 * The local store directories that do not exist yet. commit creates them (no other command does); `created()` lists
 * those that exist now, so each gets one note on stderr (and a line in --json) naming it and where it was named.
 */
function missingStores(opts: CommonOptions): { created(): { path: string; from: StoreSource['from'] }[] } {
  const src = storeSource(storeOpts(opts));
  let missing = src.specs.flatMap((s) => (s.kind === 'local' && !existsSync(s.path) ? [s.path] : []));
  const all: { path: string; from: StoreSource['from'] }[] = [];
  return {
    created() {
      const now = missing.filter((p) => existsSync(p));
      missing = missing.filter((p) => !now.includes(p));
      all.push(...now.map((path) => ({ path, from: src.from })));
      return all;
    },
  };
}

/** " in ROOT" for an archive in one local directory (cron jobs log where it went); multi-store paths say it already. */
function where(r: CommitResult): string {
  const root = dirname(r.path);
  return r.path === join(root, r.dir) ? ` in ${printable(root)}` : '';
}

export function register(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  withCommon(program.command('commit'))
    .description(
      'archive files, or directories as one snapshot; creates a missing archive directory and says so on stderr.\n' +
        'Files: each file is its own archive, its tier chosen by size unless --tier is given (several files: one archive each).\n' +
        'Directories: when any argument is a directory, every argument must be one and together they make one snapshot of\n' +
        'the tree (paths, modes, mtimes, symlinks as links, empty directories; one directory\'s contents, or several each\n' +
        'under its base name). Small files are packed into shared Tier 3 stripes, files of 16 MiB and more get Tier 3\n' +
        'archives of their own, and content already stored is not written again. A re-commit compares with the name\'s\n' +
        'latest snapshot and reads only files whose size, mtime or ctime changed. A file that changes while it is read is\n' +
        'left out and reported, and the commit exits non-zero after writing the rest.',
    )
    .argument('<path...>', 'files, or directories, to archive')
    .option('--tier <n>', 'force tier 1, 2, 3 or 4')
    .option('--segment-size <size>', 'segment size for tiers 2 to 4, e.g. 32MiB (default 32MiB)')
    .option('--force', 'rewrite an archive of the same content (say, with another --tier or --segment-size)')
    .option('--compress <how>', 'compress 1 MiB frames before encoding: zstd, zstd:LEVEL (1-19, default 3) or auto (zstd unless a sample does not shrink)')
    .option('--encrypt', 'encrypt with AES-256-GCM under a random data key, wrapped for every key given (--key-file, --passphrase-file, $BLOCKFRAME_PASSPHRASE)')
    .option('--frame-size <size>', 'plaintext bytes per frame with --compress/--encrypt (default 1MiB; 64KiB to 16MiB, a power of two)')
    .option('--name <name>', 'directories: the snapshot name (default: the base name of the one directory; required for several); one file: the archive name')
    .option('--parent <id>', 'directories: compare with this snapshot (id, or NAME@ID-PREFIX) instead of the name\'s latest')
    .option('--no-quick', 'directories: read and hash every file, trusting no size, mtime or ctime (file systems whose ctime is unreliable)')
    .option('--json', 'print one JSON document')
    .action((files: string[], opts: Opts) =>
      run(async () => {
        const tree = isTreeCommit(files);
        if (!tree) checkFileOptions(opts, files.length);
        const tier = opts.tier === undefined ? undefined : parseTier(opts.tier);
        const segmentSize = opts.segmentSize === undefined ? undefined : parseSize(opts.segmentSize, 'segment size');
        const compress = opts.compress === undefined ? undefined : parseCompress(opts.compress);
        const frameSize = opts.frameSize === undefined ? undefined : parseSize(opts.frameSize, 'frame size');
        const signal = interruptSignal();
        const fresh = missingStores(opts);
        let noted = 0;
        const noteCreated = () => {
          const c = fresh.created();
          for (const x of c.slice(noted)) logLine('info', `blockframe: note: created new archive at ${printable(x.path)} (${WHY[x.from]})`);
          noted = c.length;
        };
        const pool = ComputePool.start();
        if (tree) {
          try {
            return await runTreeCommit(files, opts, storeOpts(opts), pool, signal, logs('info'));
          } finally {
            noteCreated();
            await pool.close();
          }
        }
        const results: CommitResult[] = [];
        const errors: ReturnType<BlockFrameError['toJSON']>[] = [];
        try {
          for (const file of files) {
            const bar = progressBar(file, !opts.json && logs('info'));
            try {
              const r = await commit(file, { ...storeOpts(opts), name: opts.name, tier, segmentSize, force: opts.force, compress, encrypt: opts.encrypt, frameSize, pool, signal, onProgress: bar.update });
              bar.done();
              noteCreated();
              results.push(r);
              if (!opts.json) {
                const what = { archived: 'archived', 'already-archived': 'already archived', repaired: 'already archived, was damaged, repaired', rewritten: 'rewritten' }[r.status];
                const c = r.manifest.content;
                const stored = c ? `, stored ${formatSize(c.stored_size)}${c.transforms.map((x) => (x.type === 'zstd' ? ` zstd:${x.level}` : ' encrypted')).join(',')}` : '';
                process.stdout.write(`${what}: ${printable(r.name)} (${formatSize(r.size)}${stored}, tier ${r.tier}, ${r.segments} segment${r.segments === 1 ? '' : 's'}, ${shortHash(r.originalHash)}) -> ${printable(r.dir)}${where(r)}\n`);
                if (r.ignored) logLine('info', `blockframe: note: ${r.ignored.join(' and ')} not applied: the content is already archived (use --force to rewrite it)`);
              }
            } catch (err) {
              bar.done();
              noteCreated();
              // Interrupted: the other files are not started either.
              if (!(err instanceof BlockFrameError) || files.length === 1 || signal.aborted) throw err;
              errors.push({ file, ...err.toJSON() });
              if (!opts.json) process.stderr.write(`blockframe: ${printable(err.message)} [${err.code}]\n`);
            }
          }
        } finally {
          await pool.close();
        }
        if (opts.json) {
          printJson({
            results: results.map(({ manifest, ...r }) => ({ ...r, merkleRoot: manifest.merkle.root })),
            errors,
            created: fresh.created(),
          });
        }
        return errors.length ? 1 : 0;
      }),
    );
}
