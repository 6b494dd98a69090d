// Options and helpers shared by every CLI command: where the archives are (--archive, --store, --config), --debug, output.
import { Command } from 'commander';
import { BlockFrameError } from '../errors.js';
import type { StoreOptions } from '../store/config.js';
import type { KeyInput } from '../archive/keyring.js';
import { readFileSync } from 'node:fs';
import { printable } from '../escape.js';
import { looseSecretMode } from '../io/keyfile.js';
import { logLine, parseLogLevel, setLogLevel } from '../log.js';

export interface CommonOptions {
  archive?: string;
  store?: string[];
  failures?: string;
  config?: string;
  debug?: boolean;
  json?: boolean;
  quiet?: boolean;
  logLevel?: string;
  keyFile?: string[];
  passphraseFile?: string;
}

const collect = (v: string, all: string[] = []) => [...all, v];

/** Add the options every command takes. */
export function withCommon(cmd: Command): Command {
  return cmd
    .option('--archive <dir>', 'one archive directory (default: see "Where archives are" in blockframe --help)')
    .option('--store <store>', 'a store (failure domain): a directory or s3://bucket/prefix?endpoint=URL; repeat for each, in order (each call to a store is cut off after $BLOCKFRAME_STORE_TIMEOUT_MS, default 5000)', collect)
    .option('--failures <n>', 'with several stores: how many whole stores an archive must survive losing (default 1)')
    .option('--config <file>', 'store set written by `blockframe init` (default: $BLOCKFRAME_CONFIG, else the first of ./blockframe.json, $XDG_CONFIG_HOME/blockframe/blockframe.json, /etc/blockframe/blockframe.json that exists)')
    .option('--key-file <file>', 'a key file (32+ bytes) for encrypted archives; repeat to try several (also $BLOCKFRAME_KEY_FILE)', collect)
    .option('--passphrase-file <file>', "read a passphrase for encrypted archives from the file's first line (also $BLOCKFRAME_PASSPHRASE)")
    .option('--quiet', 'only errors on stderr: no notes, warnings or progress bar (same as --log-level error)')
    .option('--log-level <level>', 'what goes to stderr besides errors: error (errors only), warn (and warnings), info (and notes, progress; the default)')
    .option('--debug', 'show stack traces on errors');
}

/** Apply --quiet and --log-level (before a command runs). Errors: BF_USAGE for an unknown level or both flags disagreeing. */
export function applyLogOptions(o: CommonOptions): void {
  if (o.logLevel !== undefined) {
    const l = parseLogLevel(o.logLevel);
    if (!l) throw new BlockFrameError('BF_USAGE', `--log-level must be error, warn or info, not ${JSON.stringify(o.logLevel)}`, { field: 'log-level' });
    if (o.quiet && l !== 'error') throw new BlockFrameError('BF_USAGE', `--quiet means --log-level error, not ${l}`, { field: 'quiet' });
    setLogLevel(l);
  } else if (o.quiet) setLogLevel('error');
}

/**
 * The keys of a parsed command line and the environment: --key-file (repeatable), $BLOCKFRAME_KEY_FILE,
 * --passphrase-file, $BLOCKFRAME_PASSPHRASE. Keys never come from the command line itself (it shows in `ps`).
 */
export function keyOpts(o: CommonOptions): KeyInput[] {
  const keys: KeyInput[] = [];
  for (const f of o.keyFile ?? []) keys.push({ keyFile: checkSecretFile(f, 'key file') });
  const envFile = process.env.BLOCKFRAME_KEY_FILE;
  if (envFile) keys.push({ keyFile: checkSecretFile(envFile, 'key file') });
  if (o.passphraseFile !== undefined) {
    checkSecretFile(o.passphraseFile, 'passphrase file');
    let text: string;
    try {
      text = readFileSync(o.passphraseFile, 'utf8');
    } catch (err) {
      throw new BlockFrameError('BF_KEYFILE_INVALID', `cannot read passphrase file ${o.passphraseFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { path: o.passphraseFile });
    }
    const line = text.split(/\r?\n/)[0] ?? '';
    if (line.length === 0) throw new BlockFrameError('BF_KEYFILE_INVALID', `passphrase file ${o.passphraseFile} has an empty first line`, { path: o.passphraseFile });
    keys.push({ passphrase: line });
  }
  const envPass = process.env.BLOCKFRAME_PASSPHRASE;
  if (envPass) keys.push({ passphrase: envPass });
  return keys;
}

const warned = new Set<string>();

/** One warning line on stderr (never stdout, so --json output stays one document); each text at most once. */
export function warn(text: string): void {
  if (warned.has(text)) return;
  warned.add(text);
  logLine('warn', `blockframe: warning: ${text}`);
}

/**
 * Warn (on stderr, naming the file) when a key or passphrase file may be read or changed by users other than its
 * owner: OpenSSH refuses private keys like that; we use the key but say so. Returns `path`.
 */
export function checkSecretFile(path: string, what: 'key file' | 'passphrase file'): string {
  const mode = looseSecretMode(path);
  if (mode !== null) {
    warn(`${what} ${printable(path)} is open to other users (mode ${mode.toString(8).padStart(4, '0')}): anyone who can read it can decrypt; run chmod 600 ${printable(path)}`);
  }
  return path;
}

/** The store options of a parsed command line. */
export function storeOpts(o: CommonOptions): StoreOptions & { keys: KeyInput[] } {
  let failures: number | undefined;
  if (o.failures !== undefined) {
    if (!/^\d{1,2}$/.test(o.failures)) throw new BlockFrameError('BF_USAGE', `--failures must be a whole number of stores, not ${JSON.stringify(o.failures)}`, { field: 'failures' });
    failures = Number(o.failures);
  }
  if (o.archive !== undefined && o.store?.length) throw new BlockFrameError('BF_USAGE', '--archive and --store do not go together: use one directory, or name every store', { field: 'store' });
  return { archive: o.archive, stores: o.store, failures, config: o.config, keys: keyOpts(o), onNotice: warn };
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function shortHash(h: string): string {
  return h.slice(0, 12);
}
