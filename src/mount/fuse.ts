// A FUSE mount of a MountTree (read-only): checking the mount point, mounting, and unmounting cleanly or by force.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BlockFrameError } from '../errors.js';
import type { MountTree } from '../engine/mount-tree.js';
import { loadFuse, type FuseInstance, type FuseModule } from './binding.js';
import { fuseOps } from './fuse-ops.js';

export interface FuseMountOptions {
  /** Let other users (and root) see the mount: FUSE's allow_other (needs user_allow_other in /etc/fuse.conf). */
  allowOther?: boolean;
  /** Where messages go (failed reads, once per path; default stderr). */
  log?: (line: string) => void;
  /** Longest a FUSE request may wait for its answer before the kernel is told ETIMEDOUT, ms (default 60,000). */
  requestTimeoutMs?: number;
}

export interface FuseMount {
  /** The mount point, absolute. */
  mountpoint: string;
  /** Files open through the mount now. */
  openFiles(): number;
  /** True while the kernel still lists the mount (false after `fusermount -u` from elsewhere). */
  mounted(): boolean;
  /**
   * Unmount: `fusermount -u` (fails with BF_MOUNT_POINT_BUSY while a process uses the mount), or with `force` a lazy
   * unmount (`fusermount -uz`: detached now, gone when the last user lets go). Resolves once the kernel let go.
   */
  unmount(force?: boolean): Promise<void>;
}

const FUSERMOUNT_TIMEOUT_MS = 10_000;

function fusermount(bin: string, args: string[]): Promise<void> {
  return new Promise((done, fail) => {
    execFile(bin, args, { timeout: FUSERMOUNT_TIMEOUT_MS }, (err, _out, errText) => {
      if (!err) return done();
      const text = String(errText).trim().split('\n')[0] || err.message;
      const busy = /busy/i.test(text);
      fail(new BlockFrameError(busy ? 'BF_MOUNT_POINT_BUSY' : 'BF_IO', `cannot unmount ${args[args.length - 1]}: ${text}`, { path: args[args.length - 1] }, { cause: err }));
    });
  });
}

/** True while the kernel lists a mount at `dir` (absolute; /proc/self/mounts escapes space, tab, \\n and \\ in octal). */
export function mountedAt(dir: string): boolean {
  let text: string;
  try {
    text = readFileSync('/proc/self/mounts', 'utf8');
  } catch {
    return true;
  }
  for (const line of text.split('\n')) {
    const at = line.split(' ')[1];
    if (at !== undefined && at.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))) === dir) return true;
  }
  return false;
}

/**
 * Check that `dir` can be mounted on: an existing, empty directory that is not a mount of its own.
 * @throws BlockFrameError BF_USAGE (missing, not a directory, not empty); BF_MOUNT_POINT_BUSY when something is
 *   mounted there, or a mount was left by a process that was killed (stat fails with ENOTCONN): the message gives
 *   the `fusermount -u DIR` that clears it.
 */
export async function checkMountPoint(dir: string): Promise<void> {
  let st;
  try {
    st = await stat(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTCONN') throw new BlockFrameError('BF_MOUNT_POINT_BUSY', `mount point ${dir} is a stale FUSE mount (its process is gone: "Transport endpoint is not connected"); run fusermount -u ${dir} and mount again`, { path: dir, errno: code });
    if (code === 'ENOENT') throw new BlockFrameError('BF_USAGE', `mount point ${dir} does not exist: create an empty directory first`, { path: dir, field: 'mountpoint' });
    throw new BlockFrameError('BF_IO', `cannot use mount point ${dir}: ${code ?? (err as Error).message}`, { path: dir, errno: code }, { cause: err });
  }
  if (!st.isDirectory()) throw new BlockFrameError('BF_USAGE', `mount point ${dir} is not a directory`, { path: dir, field: 'mountpoint' });
  const parent = await stat(resolve(dir, '..'));
  if (parent.dev !== st.dev) throw new BlockFrameError('BF_MOUNT_POINT_BUSY', `mount point ${dir} has a file system mounted on it already (unmount it first: fusermount -u ${dir}, or umount)`, { path: dir });
  if ((await readdir(dir)).length > 0) throw new BlockFrameError('BF_USAGE', `mount point ${dir} is not empty: mount on an empty directory`, { path: dir, field: 'mountpoint' });
}

let hooked: FuseModule | undefined;
/** How the next unmount of each mount point runs (fuse-native's close calls its static Fuse.unmount). */
const lazyFor = new Map<string, boolean>();

/**
 * Mount `tree` read-only at `mountpoint` with the kernel's FUSE (see fuseOps for the answers). The mount carries the
 * `ro` option, so the kernel itself refuses writes (EROFS) before they reach us.
 * @throws BlockFrameError BF_MOUNT_UNAVAILABLE (no FUSE here: loadFuse), as checkMountPoint, BF_MOUNT_FAILED when
 *   libfuse refuses the mount.
 */
export async function mountFuse(tree: MountTree, mountpoint: string, opts: FuseMountOptions = {}): Promise<FuseMount> {
  const { Fuse, fusermount: bin } = loadFuse();
  const mnt = resolve(mountpoint);
  await checkMountPoint(mnt);
  if (hooked !== Fuse) {
    // fuse-native unmounts with `fusermount -uz` (always lazy) through its static unmount; ours is clean by default.
    Fuse.unmount = (m: string, cb: (err: Error | null) => void) => {
      // Already gone (`fusermount -u` from a shell): success, so that fuse-native lets go of the event loop.
      if (!mountedAt(m)) return cb(null);
      fusermount(bin, [lazyFor.get(m) ? '-uz' : '-u', m]).then(() => cb(null), (err: Error) => (mountedAt(m) ? cb(err) : cb(null)));
    };
    hooked = Fuse;
  }
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const { ops, openFiles, closeAll } = fuseOps(tree, { log, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 });
  // fsname carries `ro` as one more option: fuse-native passes its options as one -o list and has no `ro` of its own.
  const fuse: FuseInstance = new Fuse(mnt, ops, {
    fsname: 'blockframe,ro',
    subtype: 'blockframe',
    allowOther: !!opts.allowOther,
    timeout: opts.requestTimeoutMs ?? 60_000,
  });
  await new Promise<void>((done, fail) =>
    fuse.mount((err) => {
      if (!err) return done();
      fail(new BlockFrameError('BF_MOUNT_FAILED', `cannot mount on ${mnt}: ${err.message} (is the mount point usable by this user, and FUSE's user_allow_other set for --allow-other?)`, { path: mnt }, { cause: err }));
    }),
  );
  let unmounted = false;
  return {
    mountpoint: mnt,
    openFiles,
    mounted: () => !unmounted && mountedAt(mnt),
    async unmount(force = false) {
      if (unmounted) return;
      lazyFor.set(mnt, force);
      await new Promise<void>((done, fail) => fuse.unmount((err) => (err ? fail(err) : done())));
      unmounted = true;
      lazyFor.delete(mnt);
      await closeAll();
    },
  };
}
