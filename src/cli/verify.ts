// `blockframe verify [NAME...]` and `blockframe repair [NAME...]`: find damage, say if it is repairable, heal it.
import type { Command } from 'commander';
import { logs } from '../log.js';
import { printable } from '../escape.js';
import { BlockFrameError, EXIT } from '../errors.js';
import { repair } from '../engine/repair.js';
import { parseReplace } from '../engine/options.js';
import { exitCodeFor, verify, verifySegment, worst, type ArchiveHealth } from '../engine/verify.js';
import { repairRepository, verifyRepository, type V3Report } from '../engine/verify-v3.js';
import { proveFile, type FileProof } from '../engine/file-proof.js';
import { printJson, storeOpts, withCommon, type CommonOptions } from './common.js';
import { interruptSignal } from './interrupt.js';
import { progressBar } from './progress.js';
import { formatSize } from '../units.js';
import type { Leftover } from '../store/leftovers.js';

/**
 * One note on stderr per staging leftover: an interrupted commit's spool (removed by the next commit) or one that is
 * running now. They are not part of any archive, so they change no status or exit code.
 */
export function leftoverLines(leftovers: Leftover[]): string {
  return leftovers
    .map((l) => {
      const what = l.running ? `a commit in progress (pid ${l.pid})` : `left by an interrupted commit (pid ${l.pid}, not running); the next commit removes it`;
      return `blockframe: note: ${printable(l.path)} holds ${formatSize(l.bytes)}, ${what}\n`;
    })
    .join('');
}

function problemLines(problems: ArchiveHealth['problems']): string {
  return problems
    .map(
      (p) =>
        `  ${p.kind.padEnd(10)} ${p.store === undefined ? '' : `[store ${p.store}] `}${printable(p.path)}${p.stripe === undefined ? '' : ` (${p.level === 2 ? 'level-2 stripe' : 'stripe'} ${p.stripe})`}  ${p.repairable ? 'repairable' : 'NOT repairable'}: ${printable(p.detail)}\n`,
    )
    .join('');
}

/** With several stores: one line for each store that lost shards, did not answer or refused access, before the file-by-file list. */
function storeLines(stores: ArchiveHealth['stores']): string {
  if (stores.length < 2) return '';
  return stores
    .filter((s) => s.state !== 'ok')
    .map((s) => `  store ${s.store} (${printable(s.label)}): ${s.state === 'lost' ? `LOST, all ${s.shards} shards of this archive gone` : s.state === 'unavailable' ? 'NOT ANSWERING' : s.state === 'denied' ? 'ACCESS DENIED (check credentials)' : s.state === 'absent' ? `NOT MOUNTED (its store marker is missing): ${s.shards} shards of this archive are there, read from the other stores meanwhile` : `${s.lost} of ${s.shards} shards damaged`}\n`)
    .join('');
}

/** The format-v3 part of verify's text report: every damaged pack or large blob with its files, index and snapshot findings, and the paths a lost blob breaks. */
function v3Lines(r: V3Report): string {
  let out = `format v3: ${r.status === 'healthy' ? 'ok' : r.status === 'repairable' ? 'DAMAGED (repairable)' : 'DAMAGED (unrecoverable)'}: ${r.packs.checked} pack(s), ${r.largeBlobs.checked} large blob(s), ${r.index.files} index file(s), ${r.snapshots.checked} snapshot(s)\n`;
  for (const a of [...r.packs.damaged, ...r.largeBlobs.damaged]) out += `${a.status === 'repairable' ? 'DAMAGED (repairable)' : 'DAMAGED (unrecoverable)'}: [${printable(a.dir)}]\n${problemLines(a.problems)}`;
  for (const d of r.index.damaged) out += `  index      ${d.store === undefined ? '' : `[store ${d.store + 1}] `}${printable(d.key)}  repairable: ${d.reason}\n`;
  for (const p of r.index.disagree) out += `  index      pack ${p}: the index does not match its blob table (repair --rebuild-index)\n`;
  for (const p of r.index.unindexed) out += `  index      ${printable(p)}: no index file lists it (repair --rebuild-index, or prune)\n`;
  for (const p of r.index.missingPacks) out += `  index      pack ${p}: listed by the index but not on the stores\n`;
  for (const d of r.snapshots.headerDamage) out += `  snapshot   [store ${d.store}] snapshots/${d.id}/${d.file}  repairable: missing or damaged copy\n`;
  for (const u of r.snapshots.unreadable) out += `  snapshot   ${u.id}  NOT readable: ${printable(u.message)} [${u.code}]\n`;
  for (const m of r.snapshots.missing) {
    out += `  snapshot   ${printable(m.name)}@${m.id.slice(0, 12)}: ${m.count} file(s) whose blob has no valid location [BF_BLOB_MISSING]:\n`;
    for (const p of m.paths) out += `    ${printable(p)}\n`;
    if (m.count > m.paths.length) out += `    … and ${m.count - m.paths.length} more\n`;
  }
  return out;
}

/** The text form of a file proof: each link of the chain, and the problems when it does not hold. */
function proofLines(p: FileProof): string {
  let out = `${p.ok ? 'ok' : 'PROOF FAILED'}: ${p.path !== undefined ? printable(p.path) : `b64:${p.pathB64}`} of snapshot ${printable(p.snapshot.name)}@${p.snapshot.id}\n`;
  out += `  snapshot   id = BLAKE3 of its header; body ${p.body.hash} (${p.body.size} bytes), line ${p.body.line}\n`;
  out += `  file       ${p.size} bytes, blob ${p.blob}\n`;
  if (p.location && p.merkle) {
    out += `  ${p.location.kind === 'pack' ? 'pack      ' : 'large blob'} ${printable(p.location.dir)} at offset ${p.location.offset}; Merkle root ${p.merkle.root} (${p.merkle.leafCount} leaves)\n`;
    for (const s of p.segments) out += `  segment    ${printable(s.path)} [${s.offset}, +${s.size}) leaf ${s.leaf}: ${s.steps.length} proof step(s)\n`;
  }
  out += `  cut bytes  BLAKE3 ${p.cutHash}\n`;
  for (const x of p.problems) out += `  problem    ${printable(x)}\n`;
  return out;
}

export function register(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  withCommon(program.command('verify'))
    .description('check every shard against the manifest and Merkle root (all archives when no NAME); exit 0 healthy, 3 repairable, 4 unrecoverable')
    .argument('[name...]', 'archives to check (file name, directory name or hash prefix); with --proof, one file of a snapshot, NAME[@ID]:PATH')
    .option('--segment <n>', 'check one data segment and its Merkle proof only (O(log n))')
    .option('--proof', 'format v3: prove one file of a snapshot, NAME[@ID]:PATH, from the snapshot id to its bytes (header, body line, segments with their Merkle proofs, BLAKE3 of the cut bytes; docs/FORMAT.md 13.8)')
    .option('--json', 'print one JSON report')
    .action((names: string[], opts: CommonOptions & { segment?: string; proof?: boolean }) =>
      run(async () => {
        if (opts.proof) {
          if (names.length !== 1 || opts.segment !== undefined) throw new BlockFrameError('BF_USAGE', 'verify --proof needs exactly one NAME[@ID]:PATH (and no --segment)', { field: 'proof' });
          const p = await proveFile(names[0]!, { ...storeOpts(opts), signal: interruptSignal() });
          if (opts.json) printJson(p);
          else process.stdout.write(proofLines(p));
          return p.ok ? EXIT.OK : EXIT.UNRECOVERABLE;
        }
        if (opts.segment !== undefined) {
          if (names.length !== 1 || !/^\d+$/.test(opts.segment)) {
            throw new BlockFrameError('BF_USAGE', 'verify --segment N needs exactly one NAME and a segment number', {});
          }
          const r = await verifySegment(names[0]!, Number(opts.segment), storeOpts(opts));
          if (opts.json) printJson(r);
          else {
            process.stdout.write(
              r.ok
                ? `segment ${r.segment} (${r.path}): ok, Merkle proof of ${r.proofSteps} steps verified against root ${r.merkleRoot.slice(0, 16)}\n`
                : `segment ${r.segment} (${r.path}): DAMAGED, ${r.hash === null ? 'missing or wrong size' : 'hash does not prove against the Merkle root'} (run: blockframe repair)\n`,
            );
          }
          return r.ok ? EXIT.OK : EXIT.DAMAGED_REPAIRABLE;
        }
        const bar = progressBar('verify', !opts.json && logs('info'));
        const report = await verify(names, { ...storeOpts(opts), signal: interruptSignal(), onProgress: bar.update }).finally(() => bar.done());
        // Root-level verify also checks the format-v3 part (packs, large blobs, index, snapshots), when there is one.
        const v3 = names.length === 0 ? await verifyRepository({ ...storeOpts(opts), signal: interruptSignal() }) : null;
        if (v3) report.status = worst([report.status, v3.status]);
        if (opts.json) {
          printJson({
            status: report.status,
            ...(v3 && { v3 }),
            margin: report.margin,
            archives: report.archives.map(({ dir, name, status, margin, problems, stores, bytesChecked }) => ({ dir, name, status, margin, problems, stores, bytesChecked })),
            notFound: report.notFound,
            leftovers: report.leftovers,
          });
        } else {
          if (logs('warn')) process.stderr.write(leftoverLines(report.leftovers));
          if (report.archives.length === 0 && report.notFound.length === 0 && !v3) process.stdout.write('no archives\n');
          if (v3) process.stdout.write(v3Lines(v3));
          for (const n of report.notFound) process.stderr.write(`blockframe: ${printable(n.message)} [${n.code}]\n`);
          for (const a of report.archives) {
            process.stdout.write(`${a.status === 'healthy' ? 'ok' : a.status === 'repairable' ? 'DAMAGED (repairable)' : 'DAMAGED (unrecoverable)'}: ${printable(a.name)} [${printable(a.dir)}]\n`);
            process.stdout.write(storeLines(a.stores));
            process.stdout.write(problemLines(a.problems));
          }
        }
        // A name that matches nothing is a failure even when everything found is healthy.
        return Math.max(exitCodeFor(report.status), report.notFound.length ? EXIT.FAILURE : EXIT.OK);
      }),
    );

  withCommon(program.command('repair'))
    .description('rebuild missing or corrupt shards, the chunk index and the manifest from what survives (all archives when no NAME); what belongs on an absent store is queued (exit 3)')
    .argument('[name...]', 'archives to repair')
    .option('--dry-run', 'print the plan and change nothing')
    .option('--rebuild-index', 'format v3: rebuild the index from the pack tables (one new index file, the others deleted), also when it agrees')
    .option('--replace <old=new>', 'rebuild a dead or absent store onto a new one (a directory or s3:// URL), which gets its store marker first; the config file is updated when all is healthy', (v: string, all: string[] = []) => [...all, v])
    .option('--json', 'print one JSON report')
    .action((names: string[], opts: CommonOptions & { dryRun?: boolean; replace?: string[]; rebuildIndex?: boolean }) =>
      run(async () => {
        const bar = progressBar(opts.dryRun ? 'check' : 'repair', !opts.json && logs('info'));
        const replace = opts.replace?.map(parseReplace);
        const report = await repair(names, { ...storeOpts(opts), replace, dryRun: opts.dryRun, signal: interruptSignal(), onProgress: bar.update }).finally(() => bar.done());
        // Root-level repair also heals the format-v3 part: packs, snapshot headers, the index, the name records.
        const v3 = names.length === 0 ? await repairRepository({ ...storeOpts(opts), dryRun: opts.dryRun, rebuildIndex: opts.rebuildIndex, signal: interruptSignal() }) : null;
        if (v3) {
          const lost = v3.repair.archives.some((a) => a.outcome === 'unrecoverable') || v3.before.snapshots.missing.length > 0 || v3.before.snapshots.unreadable.length > 0;
          report.status = worst([report.status, lost ? 'unrecoverable' : opts.dryRun ? v3.before.status : 'healthy']);
        }
        if (opts.json) printJson(v3 ? { ...report, v3 } : report);
        else {
          for (const a of report.archives) {
            if (a.outcome === 'healthy') process.stdout.write(`ok: ${printable(a.name)} [${printable(a.dir)}] needs no repair\n`);
            else if (a.outcome === 'unrecoverable') {
              process.stdout.write(`UNRECOVERABLE: ${printable(a.name)} [${printable(a.dir)}]: nothing was changed; lost beyond repair:\n`);
              for (const p of a.lost) process.stdout.write(`  ${printable(p)}\n`);
              process.stdout.write(problemLines(a.problems.filter((p) => p.repairable)));
            } else {
              process.stdout.write(`${a.outcome === 'planned' ? 'would repair' : a.outcome === 'partial' ? 'repaired in part' : 'repaired'}: ${printable(a.name)} [${printable(a.dir)}]\n`);
              for (const x of a.actions) {
                if (a.queued.includes(x)) continue;
                process.stdout.write(`  ${x.action.padEnd(8)} ${x.store === undefined ? '' : `[store ${x.store}] `}${printable(x.path)}${x.via ? ` (from ${x.via})` : ''}\n`);
              }
              for (const x of a.queued) process.stdout.write(`  queued   [store ${x.store ?? 1}] ${printable(x.path)} (its store is absent: plug it in and run repair again)\n`);
            }
          }
        }
        if (v3 && !opts.json) {
          const x = v3.repair;
          for (const a of x.archives) process.stdout.write(`${a.outcome}: [${printable(a.dir)}]\n`);
          for (const h of x.snapshotsRewritten) process.stdout.write(`repaired: snapshot ${h.id} (${h.files} header file(s) rewritten)\n`);
          if (x.index.rebuilt) process.stdout.write(`rebuilt the index: ${x.index.rebuilt} (${x.index.deleted} old index file(s) deleted)\n`);
          if (!opts.dryRun) process.stdout.write(`name records: ${x.names.written} written, ${x.names.removed} removed\n`);
          if (opts.dryRun) process.stdout.write(v3Lines(v3.before));
        }
        if (report.configUpdated && !opts.json) process.stdout.write(`updated ${report.configUpdated}: the replacement store takes the old one's place\n`);
        return exitCodeFor(report.status);
      }),
    );
}
