// The CLI entry: builds the commander program, runs one command, maps errors to one line and an exit code.
import { Command, CommanderError } from 'commander';
import { BlockFrameError, EXIT } from '../errors.js';
import { VERSION } from '../version.js';
import { runtimeInfo } from '../engine/runtime.js';
import { printable } from '../escape.js';
import { register as registerCommit } from './commit.js';
import { register as registerDelete } from './delete.js';
import { register as registerInit } from './init.js';
import { register as registerKey } from './key.js';
import { register as registerList } from './list.js';
import { register as registerMount } from './mount.js';
import { register as registerPrune } from './prune.js';
import { register as registerRestore } from './restore.js';
import { register as registerScrub } from './scrub.js';
import { register as registerServe } from './serve.js';
import { register as registerVerify } from './verify.js';
import { interruption, releaseInterrupts } from './interrupt.js';
import { applyLogOptions, type CommonOptions } from './common.js';

export async function main(argv: string[]): Promise<number> {
  let exitCode: number = EXIT.OK;
  const debug = argv.includes('--debug');
  const json = argv.includes('--json');
  const run = async (fn: () => Promise<number>): Promise<void> => {
    exitCode = await fn();
  };
  if ((argv.includes('--version') || argv.includes('-V')) && argv.includes('--verbose')) {
    const r = runtimeInfo();
    const c = r.codec;
    process.stdout.write(`${VERSION}\nnode ${process.version} ${process.platform}-${process.arch}\n` +
      `codec kernel: ${c.name} (${c.detail})${c.nativeStatus ? `; native: ${c.nativeStatus}` : ''}\n` +
      `blake3: streams ${r.blake3.streams}, chunk hashes ${r.blake3.chunkHashes}${r.blake3.chunkLanes ? ` (${r.blake3.chunkLanes} lanes)` : ''}${r.blake3.nativeStatus ? `; native: ${r.blake3.nativeStatus}` : ''}\n` +
      `zstd: ${r.zstd ?? 'not available (commit --compress fails with BF_TRANSFORM_UNAVAILABLE)'}\n` +
      `format: writes version ${r.format.writes}, reads ${r.format.reads.join(' and ')}\n`);
    return EXIT.OK;
  }
  const program = new Command('blockframe')
    .description('Self-healing, erasure-coded archival storage')
    .version(VERSION, '-V, --version', 'output the version number (with --verbose: runtime and codec kernel)')
    .exitOverride()
    .showHelpAfterError('(run blockframe --help for usage)')
    .addHelpText(
      'after',
      '\nExit codes: 0 ok, 1 failure, 2 usage error, 3 damaged but repairable (verify, repair --dry-run), 4 unrecoverable,\n' +
        '130/143 interrupted by SIGINT (Ctrl-C)/SIGTERM (half-written output removed; a second signal exits at once).\n' +
        'Where archives are, for every command (first match wins): --store A --store B … (one per disk or s3://bucket/prefix),\n' +
        '--archive DIR, --config FILE, $BLOCKFRAME_ARCHIVE, $BLOCKFRAME_CONFIG, then the first config file that exists of\n' +
        './blockframe.json (see blockframe init), $XDG_CONFIG_HOME/blockframe/blockframe.json (default ~/.config/…) and\n' +
        '/etc/blockframe/blockframe.json, then ./archive_directory. Only commit creates a missing archive directory, and says\n' +
        'so on stderr; the others fail. Stores of a set made by init carry a marker (.bf-store.json): a store whose marker is\n' +
        'missing is "not mounted" and never written to; swapped disks are used where they are (blockframe init --update).',
    );
  // --quiet and --log-level take effect before the command's first line.
  program.hook('preAction', (_root, cmd) => applyLogOptions(cmd.opts() as CommonOptions));
  registerInit(program, run);
  registerCommit(program, run);
  registerList(program, run);
  registerRestore(program, run);
  registerVerify(program, run);
  registerScrub(program, run);
  registerDelete(program, run);
  registerPrune(program, run);
  registerServe(program, run);
  registerMount(program, run);
  registerKey(program, run);
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(exitCode);
  });
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (err) {
    return report(err, debug, json);
  } finally {
    releaseInterrupts();
  }
}

/**
 * One line on stderr (names escaped), and with --json also one JSON document on stdout:
 * {"error": {"code", "message", ...context}}. Returns the exit code.
 */
function report(err: unknown, debug: boolean, json: boolean): number {
  const sig = interruption();
  if (sig) {
    // Whatever error the abort surfaced as, the cause is the signal; the work has removed what it half-wrote.
    const message = `interrupted by ${sig.signal}: stopped, and what was half-written removed`;
    process.stderr.write(`blockframe: ${message} [BF_ABORTED]\n`);
    if (json) process.stdout.write(`${JSON.stringify({ error: { code: 'BF_ABORTED', message, signal: sig.signal } }, null, 2)}\n`);
    if (debug && (err as Error)?.stack) process.stderr.write(`${(err as Error).stack}\n`);
    return sig.exitCode;
  }
  if (err instanceof CommanderError) {
    // commander has already printed its message; help and version are successes.
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.OK;
    if (json) process.stdout.write(`${JSON.stringify({ error: { code: 'BF_USAGE', message: err.message.replace(/^error: /, '') } }, null, 2)}\n`);
    return EXIT.USAGE;
  }
  if (err instanceof BlockFrameError) {
    process.stderr.write(`blockframe: ${printable(err.message)} [${err.code}]\n`);
    if (json) process.stdout.write(`${JSON.stringify({ error: err.toJSON() }, null, 2)}\n`);
    if (debug && err.stack) process.stderr.write(`${err.stack}\n`);
    return err.exitCode;
  }
  const e = err as Error;
  process.stderr.write(`blockframe: unexpected error: ${printable(e?.message ?? String(err))} [BF_INTERNAL]${debug ? '' : ' (run with --debug for details)'}\n`);
  if (json) process.stdout.write(`${JSON.stringify({ error: { code: 'BF_INTERNAL', message: e?.message ?? String(err) } }, null, 2)}\n`);
  if (debug && e?.stack) process.stderr.write(`${e.stack}\n`);
  return EXIT.FAILURE;
}
