// `blockframe delete`: remove single-file archives (NAME...) or snapshots of trees (NAME, NAME@ID, --snapshot ID) from every store (with --dry-run: only say which).
import type { Command } from 'commander';
import { printable } from '../escape.js';
import { BlockFrameError, EXIT } from '../errors.js';
import { deleteArchives, type DeletedArchive } from '../engine/delete.js';
import { deleteSnapshots, isSnapshotName, type DeletedSnapshot } from '../engine/delete-snapshot.js';
import { formatSize } from '../units.js';
import { printJson, shortHash, storeOpts, withCommon, type CommonOptions } from './common.js';

type DeleteCliOptions = CommonOptions & { dryRun?: boolean; snapshot?: string[]; allSnapshots?: boolean };

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** Is `arg` a snapshot spec (NAME or NAME@ID-PREFIX of a name that has a record)? Names the catalog refuses are not. */
async function snapshotSpec(arg: string, o: ReturnType<typeof storeOpts>): Promise<boolean> {
  const at = arg.lastIndexOf('@');
  const candidates = at > 0 && /^[0-9a-f]{1,64}$/.test(arg.slice(at + 1)) ? [arg.slice(0, at), arg] : [arg];
  for (const c of candidates) if (await isSnapshotName(c, o).catch(() => false)) return true;
  return false;
}

export function register(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  withCommon(program.command('delete'))
    .description(
      'delete single-file archives (manifests first, then every shard) or snapshots of trees (header set, then the name record; ' +
        'their packs are reclaimed by `blockframe prune`). A NAME that is a snapshot name deletes its latest snapshot, NAME@ID the one ' +
        'whose id starts with ID, and NAME --all-snapshots every snapshot of the name. Everything named is resolved first: ' +
        'if any name matches nothing (or several), nothing is deleted',
    )
    .argument('[name...]', 'archives (file name, directory name or hash prefix) or snapshots (NAME, NAME@ID)')
    .option('--snapshot <id>', 'a snapshot by its id (or a unique prefix of it); repeat for several', collect)
    .option('--all-snapshots', 'a plain snapshot NAME deletes every snapshot of the name, not only the latest')
    .option('--dry-run', 'say what would be deleted, change nothing')
    .option('--json', 'print one JSON report: {archives: [{dir, name, size, outcome}], snapshots: [{id, name, created_at, outcome}]}')
    .action((names: string[], opts: DeleteCliOptions) =>
      run(async () => {
        const o = storeOpts(opts);
        const specs: string[] = [];
        const archiveNames: string[] = [];
        for (const n of names) {
          if (!(await snapshotSpec(n, o))) {
            archiveNames.push(n);
            continue;
          }
          // A name that is both a snapshot name and a single-file archive's is refused: say which is meant.
          const alsoArchive = await deleteArchives([n], { ...o, dryRun: true }).then(() => true, () => false);
          if (alsoArchive) throw new BlockFrameError('BF_AMBIGUOUS_NAME', `${printable(n)} names both snapshots and a single-file archive: give NAME@ID (or --snapshot ID) for a snapshot, or the archive's directory name`, { name: n });
          specs.push(n);
        }
        const ids = opts.snapshot ?? [];
        if (opts.allSnapshots && specs.length === 0) throw new BlockFrameError('BF_USAGE', '--all-snapshots needs a snapshot NAME', { field: 'all-snapshots' });
        if (names.length === 0 && ids.length === 0) throw new BlockFrameError('BF_USAGE', 'name what to delete: NAME..., NAME@ID or --snapshot ID', { field: 'name' });
        const sel = { specs, ids };
        const snapOpts = { ...o, allSnapshots: opts.allSnapshots };
        // Resolve everything before deleting anything.
        let archives: DeletedArchive[] = archiveNames.length ? await deleteArchives(archiveNames, { ...o, dryRun: true }) : [];
        let snapshots: DeletedSnapshot[] = specs.length || ids.length ? await deleteSnapshots(sel, { ...snapOpts, dryRun: true }) : [];
        if (!opts.dryRun) {
          if (snapshots.length) snapshots = await deleteSnapshots(sel, snapOpts);
          if (archives.length) archives = await deleteArchives(archiveNames, o);
        }
        if (opts.json) printJson({ archives, snapshots });
        else {
          for (const a of archives) {
            const what = a.name === null ? 'manifest unreadable' : `${printable(a.name)}, ${formatSize(a.size ?? 0)}`;
            process.stdout.write(`${a.outcome === 'deleted' ? 'deleted' : 'would delete'} ${printable(a.dir)} (${what})\n`);
          }
          for (const s of snapshots) process.stdout.write(`${s.outcome === 'deleted' ? 'deleted' : 'would delete'} snapshot ${printable(s.name)}@${shortHash(s.id)} (${s.created_at})\n`);
          if (snapshots.some((s) => s.outcome === 'deleted')) process.stdout.write('the packs stay until `blockframe prune`\n');
        }
        return EXIT.OK;
      }),
    );
}
