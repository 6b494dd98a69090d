// An input source made of several files read as one (the parts of an S3 multipart upload), in constant memory.
import { open, stat, type FileHandle } from 'node:fs/promises';
import { BlockFrameError, fromSystemError } from '../errors.js';
import { readFully } from './fsutil.js';
import type { InputFile, InputSource, InputStat } from './input.js';

/** Files kept open at once while reading; reads are mostly sequential, so a few are plenty. */
const OPEN_FILES = 4;

interface Handle {
  fh: FileHandle;
  users: number;
}

/**
 * The concatenation of `files` (at least one) as one input, without copying them. Its identity: the summed size,
 * the latest mtime, the first file's inode and mode 0600; BF_NOT_A_FILE when one is not a regular file. Reads may
 * span files; a file that turns out shorter than its stat said reads short (the commit reports BF_FILE_CHANGED).
 * `path` names the whole (for errors); `label` defaults to the first file.
 */
export function partsSource(files: string[], label = files[0] ?? ''): InputSource {
  if (files.length === 0) throw new BlockFrameError('BF_USAGE', 'a parts input needs at least one file');
  return {
    path: label,
    async stat(): Promise<InputStat> {
      let size = 0;
      let mtimeMs = 0;
      let ino = 0;
      for (const [i, f] of files.entries()) {
        const st = await stat(f).catch((err: unknown) => Promise.reject(fromSystemError(err, f, 'reading the input')));
        if (!st.isFile()) throw new BlockFrameError('BF_NOT_A_FILE', `not a regular file: ${f}`, { path: f });
        size += st.size;
        mtimeMs = Math.max(mtimeMs, st.mtimeMs);
        if (i === 0) ino = st.ino;
      }
      return { size, mtimeMs, ino, mode: 0o600 };
    },
    open: () => openParts(files),
  };
}

/** Positional reads over the files laid end to end; sizes are taken once, at open. */
async function openParts(files: string[]): Promise<InputFile> {
  const starts: number[] = [];
  let total = 0;
  for (const f of files) {
    starts.push(total);
    total += (await stat(f).catch((err: unknown) => Promise.reject(fromSystemError(err, f, 'opening the input')))).size;
  }
  const open_ = new Map<number, Handle>();
  let closed = false;

  const acquire = async (i: number): Promise<Handle> => {
    let h = open_.get(i);
    if (!h) {
      const fh = await open(files[i]!, 'r').catch((err: unknown) => Promise.reject(fromSystemError(err, files[i]!, 'opening the input')));
      const again = open_.get(i); // another read opened it meanwhile
      if (again) await fh.close();
      else open_.set(i, { fh, users: 0 });
      h = open_.get(i)!;
    }
    h.users++;
    // Map order is insertion order: close the oldest idle handles beyond the limit.
    for (const [j, other] of open_) {
      if (open_.size <= OPEN_FILES) break;
      if (other.users === 0) {
        open_.delete(j);
        await other.fh.close();
      }
    }
    return h;
  };
  const release = (h: Handle) => {
    h.users--;
  };
  /** The index of the file holding byte `pos` (the last file starting at or before it). */
  const fileAt = (pos: number): number => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };

  return {
    async readAt(buf, length, position) {
      if (closed) throw new BlockFrameError('BF_IO', 'the input was closed');
      let done = 0;
      while (done < length && position + done < total) {
        const at = position + done;
        const i = fileAt(at);
        const end = i + 1 < starts.length ? starts[i + 1]! : total;
        const want = Math.min(length - done, end - at);
        const h = await acquire(i);
        let got: number;
        try {
          got = await readFully(h.fh, done === 0 ? buf : buf.subarray(done), want, at - starts[i]!).catch((err: unknown) => Promise.reject(fromSystemError(err, files[i]!, 'reading the input')));
        } finally {
          release(h);
        }
        done += got;
        if (got < want) break; // this file shrank: a short read, as for one file
      }
      return done;
    },
    async close() {
      closed = true;
      const hs = [...open_.values()];
      open_.clear();
      await Promise.all(hs.map((h) => h.fh.close()));
    },
  };
}
