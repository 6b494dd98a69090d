// Options and helpers shared by every CLI command: --archive, --debug, output printing.
import { Command } from 'commander';

export interface CommonOptions {
  archive?: string;
  debug?: boolean;
  json?: boolean;
}

/** Add the options every command takes. */
export function withCommon(cmd: Command): Command {
  return cmd
    .option('--archive <dir>', 'archive directory (default: $BLOCKFRAME_ARCHIVE or ./archive_directory)')
    .option('--debug', 'show stack traces on errors');
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function shortHash(h: string): string {
  return h.slice(0, 12);
}
