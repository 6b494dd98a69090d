// `blockframe mount MOUNTPOINT`: the archives as a read-only FUSE file system until SIGINT/SIGTERM.
import type { Command } from 'commander';
import { BlockFrameError, EXIT, isBlockFrameError } from '../errors.js';
import { logLine } from '../log.js';
import { printable } from '../escape.js';
import { openServing } from '../engine/serving.js';
import { MountTree } from '../engine/mount-tree.js';
import { mountFuse, type FuseMount } from '../mount/fuse.js';
import { printJson, storeOpts, withCommon, type CommonOptions } from './common.js';

interface MountOptions extends CommonOptions {
  allowOther?: boolean;
  refresh: string;
}

/** How often a busy mount point is tried again after the first signal, ms. */
const RETRY_MS = 1000;
/** How often the mount is checked for an unmount from elsewhere, ms. */
const WATCH_MS = 2000;

/**
 * Wait for SIGINT/SIGTERM, then unmount: cleanly (`fusermount -u`), again every second while files are open, and
 * lazily (detached at once) on a second signal. Resolves with the first signal once the mount is gone.
 */
function unmountOnSignal(m: FuseMount, say: (line: string) => void): Promise<NodeJS.Signals> {
  return new Promise((done) => {
    let first: NodeJS.Signals | undefined;
    let timer: NodeJS.Timeout | undefined;
    let told = false;
    const attempt = (force: boolean) => {
      m.unmount(force).then(
        () => {
          process.off('SIGINT', on);
          process.off('SIGTERM', on);
          if (timer) clearTimeout(timer);
          clearInterval(watch);
          done(first!);
        },
        (err) => {
          if (!isBlockFrameError(err, 'BF_MOUNT_POINT_BUSY') || force) say(`blockframe: ${printable((err as Error).message)}`);
          else if (!told) {
            told = true;
            say(`blockframe: ${m.mountpoint} is in use (${m.openFiles()} files open through it, or a shell's current directory): waiting; send the signal again to detach it now (lazy unmount)`);
          }
          timer = setTimeout(() => attempt(false), RETRY_MS);
        },
      );
    };
    const on = (sig: NodeJS.Signals) => {
      if (timer) clearTimeout(timer);
      if (first) return attempt(true);
      first = sig;
      logLine('info', `blockframe: ${sig}: unmounting ${printable(m.mountpoint)}`);
      attempt(false);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
    // Unmounted from elsewhere (fusermount -u in a shell): close down as on a signal.
    const watch = setInterval(() => {
      if (first || m.mounted()) return;
      clearInterval(watch);
      first = 'SIGTERM';
      logLine('info', `blockframe: ${printable(m.mountpoint)} was unmounted`);
      attempt(false);
    }, WATCH_MS);
    watch.unref();
  });
}

export function register(program: Command, run: (fn: () => Promise<number>) => Promise<void>): void {
  withCommon(program.command('mount'))
    .argument('<mountpoint>', 'an empty directory to mount the archives on')
    .description('mount the archives read-only with FUSE (Linux): single-file archives as files, folder archives as their latest snapshot, every snapshot under .snapshots/ (see docs/mount.md); every byte verified and healed on read, and a range beyond repair is an I/O error (EIO); unmount with Ctrl-C, SIGTERM or fusermount -u')
    .option('--allow-other', "let other users see the mount (FUSE's allow_other; needs user_allow_other in /etc/fuse.conf); off by default")
    .option('--refresh <seconds>', 'how long the lists of archives and snapshots are kept before new commits show', '5')
    .option('--json', 'print the start line as JSON')
    .action((mountpoint: string, opts: MountOptions) =>
      run(async () => {
        const ttl = Number(opts.refresh);
        if (!/^\d+(\.\d+)?$/.test(opts.refresh) || !(ttl <= 86_400)) throw new BlockFrameError('BF_USAGE', `--refresh must be a number of seconds from 0 to 86400, not ${JSON.stringify(opts.refresh)}`, { field: 'refresh' });
        const log = (line: string) => logLine('warn', line);
        const serving = openServing({ ...storeOpts(opts), log });
        const tree = new MountTree(serving, { ttlMs: Math.round(ttl * 1000) });
        let m: FuseMount;
        try {
          await serving.repo.checkMarkers((line) => logLine('warn', `blockframe: warning: ${line}`));
          m = await mountFuse(tree, mountpoint, { allowOther: opts.allowOther, log });
        } catch (err) {
          await tree.close();
          await serving.close();
          throw err;
        }
        if (opts.json) printJson({ mounted: m.mountpoint, root: serving.repo.label, readOnly: true, allowOther: !!opts.allowOther, pid: process.pid });
        else process.stdout.write(`blockframe: mounted ${printable(serving.repo.label)} on ${printable(m.mountpoint)} (read-only; Ctrl-C or fusermount -u to unmount)\n`);
        await unmountOnSignal(m, log);
        logLine('info', `blockframe: unmounted ${printable(m.mountpoint)}`);
        await tree.close();
        await serving.close();
        return EXIT.OK;
      }),
    );
}
