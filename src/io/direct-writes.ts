// Direct (O_DIRECT) writes beside a file's ordinary descriptor, with the page cache as the fallback.
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { writeFully } from './fsutil.js';

/**
 * Writes of one file that skip the page cache (O_DIRECT, Linux): a second descriptor, used for writes whose
 * position and length are multiples of ALIGN (the buffer's address must be aligned too: compute/pool.ts
 * alignedShared; the kernel refuses one that is not with EINVAL before writing anything, and the write is then
 * done through the page cache and direct writes stop for the file). For files written once and not read back
 * soon: a commit's shards and a restore's output. Copying 2 GiB into the page cache cost more CPU than hashing
 * and encoding it, and evicted what the user had cached (README, Benchmarks). The file's fsync covers both
 * descriptors (it acts on the inode). `BLOCKFRAME_DIRECT_IO=0` turns direct writes off.
 */
export class DirectWrites {
  /** Position and length alignment of a direct write: the largest logical block size in common use. */
  static readonly ALIGN = 4096;
  private constructor(private fh: FileHandle | undefined) {}

  /**
   * A direct descriptor for `path`, the file `of` has open (checked by device and inode, so a path swapped
   * meanwhile is never written), or undefined where O_DIRECT is unknown or refused (some FUSE filesystems, tmpfs
   * before Linux 6.6).
   */
  static async open(path: string, of: FileHandle): Promise<DirectWrites | undefined> {
    const flag = (constants as { O_DIRECT?: number }).O_DIRECT;
    if (!flag || process.env.BLOCKFRAME_DIRECT_IO === '0') return undefined;
    const fh = await open(path, constants.O_WRONLY | constants.O_NOFOLLOW | flag).catch(() => undefined);
    if (!fh) return undefined;
    const [a, b] = await Promise.all([fh.stat(), of.stat()]).catch(() => [undefined, undefined]);
    if (a && b && a.dev === b.dev && a.ino === b.ino) return new DirectWrites(fh);
    await fh.close().catch(() => undefined);
    return undefined;
  }

  /** Write `buf` at `position` directly: true when done, false when it must go through the page cache instead. */
  async write(buf: Uint8Array, position: number): Promise<boolean> {
    const fh = this.fh;
    if (!fh || buf.length === 0 || position % DirectWrites.ALIGN !== 0 || buf.length % DirectWrites.ALIGN !== 0) return false;
    try {
      await writeFully(fh, buf, position);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
      this.fh = undefined;
      await fh.close().catch(() => undefined);
      return false;
    }
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch(() => undefined);
  }
}

