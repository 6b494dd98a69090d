// Loading the FUSE binding (the optional `fuse-native` package) lazily, and saying in one line what is missing.
import { createRequire } from 'node:module';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { BlockFrameError } from '../errors.js';

/** The callback-style operations of fuse-native 2.x that this mount implements (its README names each). */
export type FuseCb = (code: number, ...rest: unknown[]) => void;
export type FuseOps = Record<string, (...args: any[]) => void>;

/** The part of fuse-native's `Fuse` instance we use. */
export interface FuseInstance {
  mount(cb: (err: Error | null) => void): void;
  unmount(cb: (err: Error | null) => void): void;
}

/** The part of fuse-native's module we use: the class, its errno constants (negative) and its unmount hook. */
export interface FuseModule {
  new (mnt: string, ops: FuseOps, opts: Record<string, unknown>): FuseInstance;
  unmount(mnt: string, cb: (err: Error | null) => void): void;
  [errno: string]: any;
}

// The binding ships libfuse 2, which mounts as a user through FUSE 2's setuid `fusermount` (fuse3's is `fusermount3`).
const HINT = 'install FUSE 2 (Debian/Ubuntu: apt-get install fuse; Fedora: dnf install fuse) and blockframe\'s optional dependencies (npm install --include=optional)';

/** Where `name` is on $PATH, or null. */
export function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * fuse-native, loaded on first use (an optional dependency: `npm ci` succeeds where it cannot be installed).
 * Checks, in order: Linux, /dev/fuse readable and writable, `fusermount` on $PATH, the package
 * and its prebuilt addon loading.
 * @throws BlockFrameError BF_MOUNT_UNAVAILABLE naming what is missing and what to install.
 */
export function loadFuse(): { Fuse: FuseModule; fusermount: string } {
  const missing = (what: string, cause?: unknown) => new BlockFrameError('BF_MOUNT_UNAVAILABLE', `cannot mount: ${what}; ${HINT}`, { missing: what }, cause === undefined ? undefined : { cause });
  if (process.platform !== 'linux') throw new BlockFrameError('BF_MOUNT_UNAVAILABLE', `cannot mount on ${process.platform}: FUSE mounts are for Linux; use serve's WebDAV instead (docs/mount.md)`, { missing: 'linux' });
  try {
    accessSync('/dev/fuse', constants.R_OK | constants.W_OK);
  } catch (err) {
    throw missing(`/dev/fuse is ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing (no FUSE kernel module, or a container without --device /dev/fuse)' : 'not readable and writable by this user'}`, err);
  }
  const fusermount = onPath('fusermount');
  if (!fusermount) throw missing('fusermount (FUSE 2) is not on $PATH');
  let Fuse: FuseModule;
  try {
    Fuse = createRequire(import.meta.url)('fuse-native') as FuseModule;
  } catch (err) {
    throw missing(`the optional package fuse-native does not load (${(err as Error).message.split('\n')[0]})`, err);
  }
  return { Fuse, fusermount };
}
