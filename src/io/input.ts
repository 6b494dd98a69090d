// The user's input for commit: its identity (size, mtime, inode, mode) and positional reads, from one file or any
// InputSource. Shard bytes never pass through here; this is the one input commit reads that no store holds.
import { open, stat } from 'node:fs/promises';
import { BlockFrameError, fromSystemError } from '../errors.js';
import { readFully } from './fsutil.js';

export interface InputStat {
  size: number;
  mtimeMs: number;
  ino: number;
  /** Permission bits (0o7777). */
  mode: number;
}

export interface InputFile {
  /** Reads up to `length` bytes at `position` into `buf`; fewer only at the end of the file. */
  readAt(buf: Uint8Array, length: number, position: number): Promise<number>;
  close(): Promise<void>;
}

/**
 * Where a commit reads its bytes: one file (fileSource) or anything else that can say what it is and read at an
 * offset (say, the staged parts of an S3 multipart upload, io/input-parts.ts). `stat` is taken before and
 * after the commit; any difference in size, mtime or inode fails it with BF_FILE_CHANGED.
 */
export interface InputSource {
  /** What errors and the default archive name use: a path. */
  readonly path: string;
  stat(): Promise<InputStat>;
  open(): Promise<InputFile>;
}

/** One regular file as an input source. */
export function fileSource(file: string): InputSource {
  return { path: file, stat: () => statInput(file), open: () => openInput(file) };
}

/** The input's identity; BF_NOT_A_FILE for a directory or device, the mapped errno otherwise. */
export async function statInput(file: string): Promise<InputStat> {
  let st;
  try {
    st = await stat(file);
  } catch (err) {
    throw fromSystemError(err, file, 'reading the input');
  }
  if (!st.isFile()) {
    throw new BlockFrameError('BF_NOT_A_FILE', `not a regular file: ${file}${st.isDirectory() ? ' (it is a directory)' : ''}`, { path: file });
  }
  return { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, mode: st.mode & 0o7777 };
}

export async function openInput(file: string): Promise<InputFile> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    throw fromSystemError(err, file, 'opening the input');
  }
  const h = fh;
  return {
    readAt: (buf, length, position) => readFully(h, buf, length, position).catch((err) => Promise.reject(fromSystemError(err, file, 'reading the input'))),
    close: () => h.close(),
  };
}
