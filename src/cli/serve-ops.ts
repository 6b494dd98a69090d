// `blockframe serve`'s operations options: the access log, alerts, store checks, shutdown grace.
import type { Command } from 'commander';
import { createWriteStream, type WriteStream } from 'node:fs';
import { BlockFrameError } from '../errors.js';
import { AccessLog, type AccessLogFormat } from '../server/server.js';
import { Notifier } from '../engine/notify.js';
import { DEFAULT_STORE_CHECK_MS } from '../engine/store-watch.js';

export interface ServeOpsOptions {
  accessLog: string;
  accessLogFile?: string;
  notify?: string;
  notifyUrl?: string;
  storeCheckInterval: string;
  shutdownGrace: string;
}

export function withServeOps(cmd: Command): Command {
  return cmd
    .option('--access-log <format>', 'one line per request: off, combined (Apache combined log format) or json', 'off')
    .option('--access-log-file <file>', 'append the access log to this file instead of stdout')
    .option('--notify <cmd>', 'on each state change (store lost or back, damage found or beyond repair, scrub overdue) run `sh -c CMD` with the alert as JSON on stdin and $BLOCKFRAME_ALERT_KIND, …_STORE, …_ARCHIVE, …_DETAIL set')
    .option('--notify-url <url>', 'on each state change POST the alert as JSON to this http(s) URL (10 s timeout, 3 tries)')
    .option('--store-check-interval <seconds>', 'check that every store answers this often (store states in /metrics, /readyz and alerts)', String(DEFAULT_STORE_CHECK_MS / 1000))
    .option('--shutdown-grace <seconds>', 'on SIGINT/SIGTERM, let requests in flight finish for this long before closing their connections', '10');
}

function seconds(text: string, flag: string, min: number): number {
  const v = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !(v >= min) || v > 86_400) throw new BlockFrameError('BF_USAGE', `${flag} must be a number of seconds from ${min} to 86400, not ${JSON.stringify(text)}`, { field: flag.slice(2) });
  return v;
}

export interface ServeOps {
  accessLog: AccessLog;
  notifier: Notifier;
  storeCheckMs: number;
  graceMs: number;
  /** Close the access log file, if one was opened. */
  close(): Promise<void>;
}

/** Check the options and open what they name (the access log file for appending). Errors: BF_USAGE, BF_IO. */
export async function openServeOps(o: ServeOpsOptions, log: (line: string) => void): Promise<ServeOps> {
  const format = o.accessLog as AccessLogFormat;
  if (format !== 'off' && format !== 'combined' && format !== 'json') throw new BlockFrameError('BF_USAGE', `--access-log must be off, combined or json, not ${JSON.stringify(o.accessLog)}`, { field: 'access-log' });
  if (o.accessLogFile !== undefined && format === 'off') throw new BlockFrameError('BF_USAGE', '--access-log-file needs --access-log combined or json', { field: 'access-log-file' });
  const storeCheckMs = Math.round(seconds(o.storeCheckInterval, '--store-check-interval', 0.05) * 1000);
  const graceMs = Math.round(seconds(o.shutdownGrace, '--shutdown-grace', 0) * 1000);
  const notifier = new Notifier({ command: o.notify, url: o.notifyUrl, log });
  let file: WriteStream | undefined;
  if (o.accessLogFile !== undefined) {
    const f = createWriteStream(o.accessLogFile, { flags: 'a', mode: 0o640 });
    await new Promise<void>((resolve, reject) => {
      f.once('open', () => resolve());
      f.once('error', (err: NodeJS.ErrnoException) => reject(new BlockFrameError('BF_IO', `cannot open --access-log-file ${o.accessLogFile}: ${err.code ?? err.message}`, { errno: err.code, field: 'access-log-file' }, { cause: err })));
    });
    f.on('error', (err: NodeJS.ErrnoException) => log(`blockframe: warning: access log ${o.accessLogFile}: ${err.code ?? err.message}; lines are dropped`));
    file = f;
  }
  return {
    accessLog: new AccessLog(format, file ?? process.stdout),
    notifier,
    storeCheckMs,
    graceMs,
    async close() {
      if (file) await new Promise<void>((resolve) => file!.end(() => resolve()));
    },
  };
}
