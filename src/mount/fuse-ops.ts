// The FUSE operations of a read-only mount over a MountTree: attributes, listings, links, verified reads; EROFS for
// every write. Errors become errno values (negative, as fuse-native takes them).
import { isBlockFrameError } from '../errors.js';
import { isNotFound, type MountNode, type MountTree } from '../engine/mount-tree.js';
import type { MountFile } from '../engine/mount-file.js';
import type { FuseOps } from './binding.js';

/** The errno numbers used (Linux, negative as fuse-native expects them). */
export const E = { ENOENT: -2, EIO: -5, EBADF: -9, EACCES: -13, ENOTDIR: -20, EISDIR: -21, EINVAL: -22, EROFS: -30 } as const;

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
/** Open flags' access mode (O_ACCMODE) and the flags that would change a file. */
const O_ACCMODE = 3;
const O_TRUNC = 0o1000;

export interface FuseOpsOptions {
  /** One line on stderr: a read that failed (each path and code once). */
  log: (line: string) => void;
  uid: number;
  gid: number;
}

/** The stat object fuse-native turns into a `struct stat`. */
export function statOf(n: MountNode, uid: number, gid: number): Record<string, unknown> {
  const t = new Date(n.mtimeMs);
  const type = n.kind === 'dir' ? S_IFDIR : n.kind === 'symlink' ? S_IFLNK : S_IFREG;
  return { mode: type | (n.mode & 0o7777), uid, gid, size: n.size, nlink: n.kind === 'dir' ? 2 : 1, blksize: 4096, blocks: Math.ceil(n.size / 512), atime: t, mtime: t, ctime: t, dev: 0, ino: 0, rdev: 0 };
}

/**
 * The operations for fuse-native's `new Fuse(mountpoint, ops)`. Each answers through its callback with 0 or a
 * negative errno: not found ENOENT, a file where a directory is needed ENOTDIR, a directory opened as a file
 * EISDIR, anything that writes EROFS, and a lookup or read that fails (damage beyond repair, a store that does not
 * answer) EIO, its message on stderr once per path and code. Reads run concurrently: fuse-native calls back on the
 * event loop for each kernel request, and each read awaits its own range (MountFile's read-ahead is bounded by
 * its shared PrefetchBudget).
 */
export function fuseOps(tree: MountTree, o: FuseOpsOptions): { ops: FuseOps; openFiles: () => number; closeAll: () => Promise<void> } {
  const files = new Map<number, MountFile>();
  let nextFd = 1;
  const told = new Set<string>();
  const tell = (path: string, err: unknown) => {
    const code = isBlockFrameError(err) ? err.code : 'BF_INTERNAL';
    const key = `${code} ${path}`;
    if (told.has(key) || told.size > 10_000) return;
    told.add(key);
    o.log(`blockframe: mount: ${JSON.stringify(path)}: ${err instanceof Error ? err.message : String(err)} [${code}] (answered EIO)`);
  };
  /** The errno of a failed lookup: ENOENT, ENOTDIR (a file in the middle of a path), else EIO (and said). */
  const lookupErrno = (path: string, err: unknown): number => {
    if (isNotFound(err)) return E.ENOENT;
    if (isBlockFrameError(err, 'BF_OUTPUT_INVALID')) return E.ENOTDIR;
    tell(path, err);
    return E.EIO;
  };
  const erofs = (...args: unknown[]) => (args[args.length - 1] as (code: number) => void)(E.EROFS);
  const ops: FuseOps = {
    getattr(path: string, cb: (code: number, st?: unknown) => void) {
      tree.stat(path).then((n) => cb(0, statOf(n, o.uid, o.gid)), (err) => cb(lookupErrno(path, err)));
    },
    fgetattr(path: string, fd: number, cb: (code: number, st?: unknown) => void) {
      ops.getattr!(path, cb);
    },
    readdir(path: string, cb: (code: number, names?: string[], stats?: unknown[]) => void) {
      tree.readdir(path).then(
        (list) => cb(0, ['.', '..', ...list.map((e) => e.name)], [statOf({ kind: 'dir', size: 0, mode: 0o555, mtimeMs: 0 }, o.uid, o.gid), statOf({ kind: 'dir', size: 0, mode: 0o555, mtimeMs: 0 }, o.uid, o.gid), ...list.map((e) => statOf(e.node, o.uid, o.gid))]),
        (err) => cb(lookupErrno(path, err)),
      );
    },
    readlink(path: string, cb: (code: number, target?: string) => void) {
      tree.readlink(path).then(
        (t) => cb(0, t.toString('utf8')),
        (err) => cb(isBlockFrameError(err, 'BF_OUTPUT_INVALID') ? E.EINVAL : lookupErrno(path, err)),
      );
    },
    open(path: string, flags: number, cb: (code: number, fd?: number) => void) {
      if ((flags & O_ACCMODE) !== 0 || (flags & O_TRUNC) !== 0) return cb(E.EROFS);
      tree.stat(path).then(
        async (n) => {
          if (n.kind === 'dir') return cb(E.EISDIR);
          const file = await tree.open(path);
          const fd = nextFd++;
          files.set(fd, file);
          cb(0, fd);
        },
        (err) => cb(lookupErrno(path, err)),
      ).catch((err) => cb(lookupErrno(path, err)));
    },
    read(path: string, fd: number, buf: Buffer, len: number, pos: number, cb: (code: number) => void) {
      const file = files.get(fd);
      if (!file) return cb(E.EBADF);
      file.read(pos, len).then(
        (bytes) => {
          bytes.copy(buf, 0, 0, Math.min(len, bytes.length));
          cb(Math.min(len, bytes.length));
        },
        (err) => {
          tell(path, err);
          cb(E.EIO);
        },
      );
    },
    release(path: string, fd: number, cb: (code: number) => void) {
      const file = files.get(fd);
      files.delete(fd);
      if (!file) return cb(0);
      file.close().then(() => cb(0), () => cb(0));
    },
    flush: (_path: string, _fd: number, cb: (code: number) => void) => cb(0),
    fsync: (_path: string, _datasync: boolean, _fd: number, cb: (code: number) => void) => cb(0),
    opendir: (_path: string, _flags: number, cb: (code: number, fd?: number) => void) => cb(0, 0),
    releasedir: (_path: string, _fd: number, cb: (code: number) => void) => cb(0),
    access(path: string, mode: number, cb: (code: number) => void) {
      // W_OK (2): nothing here can be written.
      if (mode & 2) return cb(E.EROFS);
      tree.stat(path).then(() => cb(0), (err) => cb(lookupErrno(path, err)));
    },
    statfs(_path: string, cb: (code: number, st?: unknown) => void) {
      cb(0, { bsize: 4096, frsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0, favail: 0, fsid: 0, flag: 1, namemax: 255 });
    },
    truncate: erofs,
    ftruncate: erofs,
    chown: erofs,
    chmod: erofs,
    mknod: erofs,
    setxattr: (_p: string, _n: string, _v: Buffer, _pos: number, _f: number, cb: (code: number) => void) => cb(E.EROFS),
    removexattr: erofs,
    create: erofs,
    utimens: erofs,
    write: (_p: string, _fd: number, _b: Buffer, _l: number, _pos: number, cb: (code: number) => void) => cb(E.EROFS),
    unlink: erofs,
    rename: erofs,
    link: erofs,
    symlink: erofs,
    mkdir: erofs,
    rmdir: erofs,
  };
  return {
    ops,
    openFiles: () => files.size,
    closeAll: async () => {
      const all = [...files.values()];
      files.clear();
      await Promise.allSettled(all.map((f) => f.close()));
    },
  };
}
