// `blockframe list`, `find`, `info` and `ls`: what is archived (archives and snapshots), located by name, directory or hash prefix; a snapshot's entries.
import type { Command } from 'commander';
import { printable } from '../escape.js';
import { find, info, type ArchiveSummary, type Level2Summary } from '../engine/find.js';
import { lsSnapshot, type LsEntry } from '../engine/snapshots.js';
import { listRepository } from '../engine/listing.js';
import { formatSize } from '../units.js';
import { logLine, logs } from '../log.js';
import { printJson, shortHash, storeOpts, withCommon, type CommonOptions } from './common.js';
import { leftoverLines } from './verify.js';

export function register(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  withCommon(program.command('list'))
    .description(
      'list every archive: name, size, tier, hash prefix, creation time, margin (how many more shard losses it survives: from the last scrub, or "unchecked" from the manifest alone); ' +
        'then every snapshot: name, "snapshot", id prefix, creation time, files (entries), bytes',
    )
    .option('--ledger <dir>', 'the scrub ledger to take margins from (default: as blockframe scrub)')
    .option('--all', 'also list snapshots no name record names (left by a commit from another machine, or a damaged record)')
    .option('--json', 'print one JSON document')
    .action((opts: CommonOptions & { ledger?: string; all?: boolean }) =>
      run(async () => {
        const l = await listRepository({ ...storeOpts(opts), ledger: opts.ledger, all: opts.all });
        const snaps = { snapshots: l.snapshots, damaged: l.snapshotsDamaged };
        if (opts.json) return printJson(l), 0;
        if (l.archives.length === 0 && l.damaged.length === 0 && snaps.snapshots.length === 0 && snaps.damaged.length === 0) process.stdout.write('no archives\n');
        for (const a of l.archives) {
          const hash = a.originalHash ? shortHash(a.originalHash) : a.dir.slice(-64, -48);
          const tags = [a.compression && `zstd ${a.compression.ratio.toFixed(2)}x`, a.encryption && 'encrypted'].filter(Boolean).join(', ');
          process.stdout.write(`${printable(a.name)}\t${formatSize(a.size)}\ttier ${a.tier}\t${hash}\t${a.createdAt}\tmargin ${a.margin}${a.marginFrom === 'manifest' ? ' (unchecked)' : ''}${tags ? `\t${tags}` : ''}\n`);
        }
        for (const d of l.damaged) process.stdout.write(`${printable(d.dir)}\tDAMAGED\t${d.code}: ${printable(d.message)}\n`);
        for (const x of snaps.snapshots) {
          process.stdout.write(`${printable(x.name)}\tsnapshot\t${shortHash(x.id)}\t${x.createdAt}\t${x.entries} entries\t${formatSize(x.bytes)}${x.named ? '' : '\t(no name record)'}\n`);
        }
        for (const d of snaps.damaged) process.stdout.write(`${printable(d.what)}\tDAMAGED\t${d.code}: ${printable(d.message)}\n`);
        if (logs('warn')) process.stderr.write(leftoverLines(l.leftovers));
        for (const u of l.unlisted) {
          const why = u.code === 'BF_STORE_DENIED' ? 'access denied (check credentials)' : u.code === 'BF_STORE_NOT_MOUNTED' ? 'not mounted' : u.code === 'BF_STORE_FOREIGN' ? "another store set's disk" : 'not answering';
          logLine('warn', `blockframe: warning: store ${u.store} (${printable(u.label)}): ${why}; listed from the other stores [${u.code}]`);
        }
        return 0;
      }),
    );

  withCommon(program.command('ls'))
    .description('list the entries of a snapshot (NAME, NAME@ID, NAME:PATH for those under PATH), in path order: type, mode, size, mtime, path (-> link target)')
    .argument('<snapshot>', 'NAME[@ID][:PATH]')
    .option('--path <path>', 'the path inside the snapshot (instead of :PATH; then the argument is taken whole as NAME[@ID], for names with ":")')
    .option('--json', 'print one JSON document: {snapshot, entries} (entries streamed as they are read)')
    .action((spec: string, opts: CommonOptions & { path?: string }) =>
      run(async () => {
        let first = true;
        const entries = lsSnapshot(spec, {
          ...storeOpts(opts),
          path: opts.path,
          onSnapshot: (x) => {
            if (opts.json) process.stdout.write(`{"snapshot":${JSON.stringify({ name: x.header.name, id: x.id, createdAt: x.header.created_at })},"entries":[`);
          },
        });
        for await (const e of entries) {
          const line = opts.json ? `${first ? '' : ','}\n${JSON.stringify(e)}` : `${lsLine(e)}\n`;
          first = false;
          if (!process.stdout.write(line)) await new Promise((r) => process.stdout.once('drain', r));
        }
        if (opts.json) process.stdout.write(']}\n');
        return 0;
      }),
    );

  withCommon(program.command('find'))
    .description('find one archive by file name, directory name or hash prefix; prints its directory')
    .argument('<name>', 'file name, archive directory name, or hash prefix (4+ hex digits)')
    .option('--json', 'print one JSON document')
    .action((name: string, opts: CommonOptions) =>
      run(async () => {
        const a = await find(name, storeOpts(opts));
        if (opts.json) printJson(a);
        else process.stdout.write(`${printable(a.path)}\n`);
        return 0;
      }),
    );

  withCommon(program.command('info'))
    .description('summarise the manifest of one archive')
    .argument('<name>', 'file name, archive directory name, or hash prefix')
    .option('--json', 'print the full manifest with a summary')
    .action((name: string, opts: CommonOptions) =>
      run(async () => {
        const { summary: s, manifest } = await info(name, storeOpts(opts));
        if (opts.json) return printJson({ summary: s, manifest }), 0;
        const rows: [string, string][] = [
          ['name', s.name],
          ['archive', s.path],
          ['size', `${formatSize(s.size)} (${s.size} bytes)`],
          ['tier', String(s.tier)],
          ['segment size', manifest.tier === 1 ? 'whole file' : formatSize(manifest.segment_size)],
          ['segments', String(s.segments)],
          ['stripes', `${s.stripes} x RS(${s.dataShards},${s.parityShards})`],
          ...(s.level2 ? [['level 2', level2Line(s.level2)] as [string, string]] : []),
          ...(s.placement
            ? [['stores', `${s.placement.stores} stores, ${s.placement.shardsPerStore} shard${s.placement.shardsPerStore === 1 ? '' : 's'} of each stripe per store; survives losing ${s.placement.failures} (${s.placement.rule})`] as [string, string]]
            : []),
          ['overhead', overheadLine(s)],
          ['stored', storedLine(s)],
          ['encryption', s.encryption ? `AES-256-GCM, ${plural(s.encryption.keyslots, 'keyslot')}${s.originalHash ? '' : ' (no key given: name and hash are sealed)'}` : 'none'],
          ['original hash', s.originalHash ?? '(sealed)'],
          ['merkle root', s.merkleRoot],
          ['created', s.createdAt],
          ['format', `v${manifest.format_version}, ${manifest.generator}`],
        ];
        for (const [k, v] of rows) process.stdout.write(`${k.padEnd(14)} ${printable(v)}\n`);
        return 0;
      }),
    );
}

/** "12.0 MiB, zstd level 3, 2.41x smaller" or "as the file (no compression)". */
function storedLine(s: ArchiveSummary): string {
  if (!s.compression) return s.storedSize === s.size ? 'as the file (no compression)' : `${formatSize(s.storedSize)} (no compression)`;
  return `${formatSize(s.storedSize)}, zstd level ${s.compression.level}, ${s.compression.ratio.toFixed(2)}x smaller`;
}

function percent(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** "30 stripes x RS(3,1) across 1 group of 3 blocks" (a range "24-47" when groups differ in size). */
function level2Line(l: Level2Summary): string {
  const k = l.dataShards.min === l.dataShards.max ? String(l.dataShards.min) : `${l.dataShards.min}-${l.dataShards.max}`;
  const blocks = l.dataShards.max === 1 ? 'block' : 'blocks';
  return `${plural(l.stripes, 'stripe')} x RS(${k},${l.parityShards}) across ${plural(l.groups, 'group')} of ${k} ${blocks}`;
}

/** "10.3% parity", with the level-1 / level-2 split for Tier 4. */
function overheadLine(s: ArchiveSummary): string {
  if (!s.level2) return `${percent(s.overhead)} parity`;
  return `${percent(s.overhead)} parity (level 1 ${percent(s.overhead - s.level2.overhead)}, level 2 ${percent(s.level2.overhead)})`;
}

/** One ls line: type letter and mode (ls -l style), size, mtime (ISO), path and link target (escaped for the terminal). */
function lsLine(e: LsEntry): string {
  const t = e.type === 'dir' ? 'd' : e.type === 'symlink' ? 'l' : '-';
  const mode = e.mode === undefined ? '    ' : e.mode.toString(8).padStart(4, '0');
  const path = e.path ?? `b64:${e.pathB64}`;
  const target = e.type === 'symlink' ? ` -> ${printable(e.target ?? `b64:${e.targetB64}`)}` : '';
  return `${t} ${mode}\t${String(e.size ?? '-').padStart(10)}\t${e.mtime}\t${printable(path)}${target}`;
}
