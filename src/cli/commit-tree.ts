// `blockframe commit DIR...`: the folder commit's option checks, progress line and report (one line, or one JSON document).
import { BlockFrameError } from '../errors.js';
import { printable } from '../escape.js';
import { commitTree, type CommitTreeResult, type TreeProgress } from '../engine/commit-tree.js';
import type { ComputePool } from '../engine/options.js';
import { formatSize } from '../units.js';
import { printJson, shortHash } from './common.js';

/** The options of `commit` that a folder commit reads (the rest are refused with BF_USAGE). */
export interface TreeCliOptions {
  name?: string;
  parent?: string;
  /** commander's `--no-quick`: false when given. */
  quick?: boolean;
  json?: boolean;
  tier?: string;
  segmentSize?: string;
  force?: boolean;
  frameSize?: string;
  compress?: string;
  encrypt?: boolean;
}

/** Throws BF_USAGE naming the first option that only applies to single files. */
export function checkTreeOptions(o: TreeCliOptions): void {
  const fileOnly: [keyof TreeCliOptions, string][] = [['tier', '--tier'], ['segmentSize', '--segment-size'], ['force', '--force'], ['frameSize', '--frame-size']];
  for (const [k, flag] of fileOnly) {
    if (o[k] !== undefined) throw new BlockFrameError('BF_USAGE', `${flag} applies to single files, not to directories (a folder commit packs small files and gives large ones Tier 3: docs/FORMAT.md §13.1)`, { field: flag });
  }
}

/** Throws BF_USAGE naming the first option that only applies to directories. */
export function checkFileOptions(o: TreeCliOptions, files: number): void {
  if (o.parent !== undefined) throw new BlockFrameError('BF_USAGE', '--parent applies to directories only', { field: '--parent' });
  if (o.quick === false) throw new BlockFrameError('BF_USAGE', '--no-quick applies to directories only', { field: '--no-quick' });
  if (o.name !== undefined && files > 1) throw new BlockFrameError('BF_USAGE', '--name names one file or one snapshot: give it with a single file, or with directories', { field: '--name' });
}

/** A one-line counter on stderr when it is a TTY (files, bytes, bytes new, MB/s), redrawn at most 10 times a second. */
function treeProgress(label: string, enabled: boolean, stream: NodeJS.WriteStream = process.stderr): { update(p: TreeProgress): void; done(): void } {
  if (!enabled || !stream.isTTY) return { update() {}, done() {} };
  const start = Date.now();
  let last = 0;
  let shown = false;
  return {
    update(p) {
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      shown = true;
      const rate = p.bytes / Math.max(0.001, (now - start) / 1000);
      const line = `${printable(label)}: ${p.files} files, ${formatSize(p.bytes)} (${formatSize(p.bytesNew)} new) ${(rate / 1e6).toFixed(0)} MB/s`;
      stream.write(`\r${line.slice(0, (stream.columns || 100) - 1)}\x1b[K`);
    },
    done() {
      if (shown) stream.write('\r\x1b[K');
      shown = false;
    },
  };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function summary(r: CommitTreeResult): string {
  const reused = r.filesQuick + r.filesKnown;
  return `snapshot ${printable(r.name)} ${shortHash(r.id)} (${plural(r.files, 'file')}, ${plural(r.dirs, 'dir')}, ${plural(r.symlinks, 'symlink')}, ${formatSize(r.bytes)}; ` +
    `${formatSize(r.bytesNew)} new in ${plural(r.packsWritten, 'pack')}${r.largeBlobs ? ` and ${plural(r.largeBlobs, 'large blob')}` : ''}, ${plural(reused, 'file')} reused` +
    `${r.skipped ? `, ${r.skipped} skipped (devices, FIFOs, sockets)` : ''}; parent ${r.parent ? shortHash(r.parent) : 'none'})\n`;
}

/**
 * Run the folder commit of `dirs` and report it: one summary line on stdout (each left-out path on stderr), or with
 * --json one document `{ snapshot: CommitTreeResult, error?: {code, message} }`. Returns the exit code: 0, or the
 * left-out paths' error's (the snapshot of the rest is written). Errors before the snapshot is written are thrown.
 */
export async function runTreeCommit(dirs: string[], o: TreeCliOptions, store: object, pool: ComputePool, signal: AbortSignal, showProgress: boolean): Promise<number> {
  checkTreeOptions(o);
  const bar = treeProgress(dirs.length === 1 ? dirs[0]! : `${dirs.length} directories`, showProgress && !o.json);
  let r: CommitTreeResult;
  let failure: BlockFrameError | undefined;
  try {
    r = await commitTree(dirs, {
      ...store,
      name: o.name,
      parent: o.parent,
      quick: o.quick,
      compress: o.compress === undefined ? undefined : 3,
      encrypt: o.encrypt,
      pool,
      signal,
      onTreeProgress: (p) => bar.update(p),
    });
  } catch (err) {
    bar.done();
    const result = err instanceof BlockFrameError ? (err.context.result as CommitTreeResult | undefined) : undefined;
    if (!result || signal.aborted) throw err;
    r = result;
    failure = err as BlockFrameError;
  }
  bar.done();
  if (o.json) {
    printJson({ snapshot: r, ...(failure && { error: { code: failure.code, message: failure.message } }) });
  } else {
    process.stdout.write(summary(r));
    for (const e of r.errors) process.stderr.write(`blockframe: left out ${printable(e.path)}: ${printable(e.message)} [${e.code}]\n`);
    if (failure) process.stderr.write(`blockframe: ${printable(failure.message)} [${failure.code}]\n`);
  }
  return failure ? failure.exitCode : 0;
}
