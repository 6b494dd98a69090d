// Read-ahead for a folder commit (docs/FORMAT.md §13.6): the walk runs a few entries ahead of the packing, and small files are opened, stat'ed and read whole meanwhile, so the file calls of many small files overlap instead of running one after another.
import { open, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fromSystemError } from '../errors.js';
import type { SnapshotEntry } from '../layout/snapshot.js';
import type { WalkEntry, WalkSummary } from '../io/tree-walk.js';

/** Files up to this size are read ahead whole; larger ones are read by the packing step itself (streamed). */
export const AHEAD_FILE_MAX = 1024 * 1024;
/** Walk entries held ahead of the one being packed, and the bytes of files read ahead they may hold. */
export const AHEAD_ENTRIES = 64;
export const AHEAD_BYTES = 16 * 1024 * 1024;

/**
 * One small file read whole ahead of its turn: its identity through the open handle before the read (what the
 * snapshot records) and its bytes. 'changed': its size, mtime, ctime or inode moved during the read, it was not a
 * regular file, it was a link (O_NOFOLLOW), or it was not `size` bytes; 'large': it had grown past AHEAD_FILE_MAX
 * (read it the streamed way).
 */
export type Prefetched =
  | { status: 'ok'; size: number; mode: number; mtimeNs: bigint; data: Buffer }
  | { status: 'changed' | 'large' };

/**
 * Read the regular file at `fsPath` whole, as readTreeFile checks it (O_NOFOLLOW; stat before and after through the
 * handle; one byte past the size read, so a file that grew is caught). Memory: the file's size plus one byte.
 * @throws BlockFrameError for an open or read failure (BF_FILE_NOT_FOUND, BF_FILE_UNREADABLE, BF_IO…).
 */
export async function prefetchFile(fsPath: Buffer): Promise<Prefetched> {
  let fh: FileHandle;
  try {
    fh = await open(fsPath, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') return { status: 'changed' };
    throw fromSystemError(err, fsPath.toString(), 'opening a file of the tree');
  }
  try {
    const startedNs = BigInt(Date.now()) * 1_000_000n;
    const s1 = await fh.stat({ bigint: true });
    if (!s1.isFile()) return { status: 'changed' };
    const size = Number(s1.size);
    if (size > AHEAD_FILE_MAX) return { status: 'large' };
    const buf = Buffer.allocUnsafe(size + 1);
    let pos = 0;
    while (pos < buf.length) {
      const { bytesRead } = await fh.read(buf, pos, buf.length - pos, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
    }
    const s2 = await fh.stat({ bigint: true });
    const same = pos === size && s2.size === s1.size && s2.mtimeNs === s1.mtimeNs && s2.ctimeNs === s1.ctimeNs && s2.ino === s1.ino;
    if (!same) return { status: 'changed' };
    const data = buf.subarray(0, size);
    if (isRacy(s2.ctimeNs, startedNs)) {
      // Changed so recently that a rewrite within one tick of the file system's clock would leave the stat as it
      // was: read it again a moment later, and take it only when both reads agree and the stat still has not moved.
      await sleep(RACY_REREAD_DELAY_MS);
      const again = Buffer.allocUnsafe(size + 1);
      let at = 0;
      while (at < again.length) {
        const { bytesRead } = await fh.read(again, at, again.length - at, at);
        if (bytesRead === 0) break;
        at += bytesRead;
      }
      const s3 = await fh.stat({ bigint: true });
      if (at !== size || !data.equals(again.subarray(0, size)) || s3.mtimeNs !== s1.mtimeNs || s3.ctimeNs !== s1.ctimeNs || s3.size !== s1.size) return { status: 'changed' };
    }
    return { status: 'ok', size, mode: Number(s1.mode & 0o7777n), mtimeNs: s1.mtimeNs, data };
  } catch (err) {
    throw fromSystemError(err, fsPath.toString(), 'reading a file of the tree');
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/**
 * Is a file whose ctime is `ctimeNs` "racy" for a read that began at `startedNs` (wall clock): changed within
 * RACY_MARGIN_MS of it? File system clocks tick coarsely (a few ms on Linux, 2 s on FAT), so a rewrite of the same
 * size in the same tick as the read leaves size, mtime, ctime and inode unchanged: only a second read tells.
 */
export function isRacy(ctimeNs: bigint, startedNs: bigint): boolean {
  return ctimeNs >= startedNs - BigInt(RACY_MARGIN_MS) * 1_000_000n;
}

/** The racy window (the quick path's ctime margin of FORMAT.md §13.7, for the same reason). */
export const RACY_MARGIN_MS = 2000;

/**
 * How long after the first read a racy file is read again. Two reads back to back can both land inside one write()
 * of another process that the scheduler paused half-way (its ctime was set when the write began), and agree on a
 * mix of old and new bytes; a writer paused for longer than this looks like a file that holds those bytes.
 */
export const RACY_REREAD_DELAY_MS = 50;

/** A walk entry as the packing step takes it: the parent's entry to reuse (quick path), or the file read ahead. */
export interface AheadItem {
  w: WalkEntry;
  /** The parent's entry whose blob the file reuses unread (decided in walk order), or null. */
  reuse: SnapshotEntry | null;
  /** The file read ahead (small files not reused), or null: read it at its turn. Errors are the file's. */
  pre: Promise<Prefetched> | null;
}

/**
 * The walk, up to AHEAD_ENTRIES entries (and AHEAD_BYTES of small files' bytes) ahead of the consumer, in walk
 * order. For each regular file, `decide` (the quick path: it reads the parent's body in path order, so it is called
 * in walk order, one at a time) says whether its blob is reused; a file not reused, of 1 byte to AHEAD_FILE_MAX, is
 * read ahead (prefetchFile) while earlier entries are packed. The snapshot's order is the walk's: next() returns
 * the entries in that order whatever order the reads finish in.
 */
export class WalkAhead {
  private readonly queue: (AheadItem & { bytes: number })[] = [];
  private bytes = 0;
  private done = false;

  constructor(
    private readonly walk: AsyncGenerator<WalkEntry, WalkSummary>,
    private readonly decide: (w: WalkEntry) => Promise<SnapshotEntry | null>,
    private readonly fsPath: (rel: Buffer) => Buffer,
  ) {}

  /** The next entry, or null at the end of the walk. Errors: the walk's and `decide`'s. */
  async next(): Promise<AheadItem | null> {
    await this.fill();
    const it = this.queue.shift();
    if (!it) return null;
    this.bytes -= it.bytes;
    return it;
  }

  /** Stop: the walk is returned, and reads in flight are waited for (their errors dropped). */
  async close(): Promise<void> {
    this.done = true;
    await this.walk.return(undefined as never).catch(() => undefined);
    for (const it of this.queue.splice(0)) await it.pre?.catch(() => undefined);
    this.bytes = 0;
  }

  private async fill(): Promise<void> {
    while (!this.done && this.queue.length < AHEAD_ENTRIES && (this.bytes < AHEAD_BYTES || this.queue.length === 0)) {
      const step = await this.walk.next();
      if (step.done) {
        this.done = true;
        return;
      }
      const w = step.value;
      const item: AheadItem & { bytes: number } = { w, reuse: null, pre: null, bytes: 0 };
      if (w.type === 'file') {
        item.reuse = await this.decide(w);
        if (!item.reuse && w.size > 0 && w.size <= AHEAD_FILE_MAX) {
          item.pre = prefetchFile(this.fsPath(w.path));
          item.pre.catch(() => undefined); // the consumer sees the error at its turn
          item.bytes = w.size;
          this.bytes += w.size;
        }
      }
      this.queue.push(item);
    }
  }
}
