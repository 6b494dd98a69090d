// restore and cat: stream an archived file back out through the self-healing reader, checking the whole-file hash.
import { chmod, link, open, rename, rm, stat, unlink, utimes } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { safeNameComponent } from '../layout/names.js';
import { parseRange } from '../layout/range.js';
import { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { BlockFrameError, fromSystemError } from '../errors.js';
import { fsyncDir, tempSibling, writeFully } from '../io/fsutil.js';
import { DirectWrites } from '../io/direct-writes.js';
import { removeStalePartials } from '../store/leftovers.js';
import { FirstError } from './context.js';
import { openArchive, readAheadFor, type OpenArchive, type ReadOptions } from './read.js';
import { LONG_BATCH } from '../archive/read/read-ahead.js';

/** The tag of restore's hidden temporary output: ".NAME.partial-PID-8hex" beside the output. */
const PARTIAL_TAG = 'partial';

export interface RestoreOptions extends ReadOptions {
  /** Replace an existing output file. */
  force?: boolean;
  /**
   * Also check the whole file against original_hash (default true). Every byte is already verified against chunk
   * hashes under the Merkle root (and, encrypted, GCM tags), so this is a second opinion; it runs on a worker beside
   * the writes, with native BLAKE3 where it loads. `false` skips that pass.
   */
  checkFileHash?: boolean;
}

export interface RestoreResult {
  name: string;
  dir: string;
  output: string;
  size: number;
  originalHash: string;
  /** Was the archive encrypted (its bytes authenticated by the key given)? */
  encrypted: boolean;
  /** Partial outputs of earlier restores into the same directory whose process no longer runs, removed first. */
  removedPartials: { path: string; bytes: number }[];
}

/**
 * Restore archive `query` to `output` (an existing directory gets the file under its archived name). The output
 * appears only complete and verified, never partially, with the mode and mtime recorded at commit (when the
 * archive has them). The output is written to a hidden ".NAME.partial-PID-8hex" beside it first; on any error,
 * `signal` included, that file is removed, and partial files of processes that no longer run are removed before a
 * restore starts. Errors: BF_OUTPUT_EXISTS, BF_OUTPUT_INVALID (no such directory), BF_ABORTED, read errors.
 */
export async function restore(query: string, output: string, opts: RestoreOptions = {}): Promise<RestoreResult> {
  // Shard files held open for a moment between reads (one lstat and a pread per read, as verify and the server
  // do): a degraded stripe is read 256 KiB per shard at a time, and each fresh open cost four lstats, fstat and close.
  const archive = await openArchive(query, { ...opts, holdFiles: opts.holdFiles ?? true });
  try {
    return await restoreFrom(archive, output, opts).catch((err: unknown) => Promise.reject(archive.explain(err)));
  } finally {
    await archive.close();
  }
}

async function restoreFrom(archive: OpenArchive, output: string, opts: RestoreOptions): Promise<RestoreResult> {
  const { manifest, reader, content } = archive;
  const dir = reader.dir;
  let out = resolve(output);
  let existing = await stat(out).catch(() => null);
  if (existing?.isDirectory()) {
    // Like cp: a directory receives the file under its own name.
    out = join(out, safeNameComponent(content.name));
    output = out;
    existing = await stat(out).catch(() => null);
    if (existing?.isDirectory()) throw new BlockFrameError('BF_OUTPUT_EXISTS', `output is a directory: ${output}`, { path: output });
  }
  const parent = await stat(dirname(out)).catch(() => null);
  if (!parent?.isDirectory()) {
    throw new BlockFrameError('BF_OUTPUT_INVALID', `cannot write ${output}: ${dirname(out)} is ${parent ? 'not a directory' : 'missing'}`, { path: output });
  }
  if (existing && !opts.force) throw new BlockFrameError('BF_OUTPUT_EXISTS', `output exists: ${output} (use --force to replace it)`, { path: output });
  // An earlier restore killed before it could clean up (SIGKILL, power loss) left its partial file here.
  const removedPartials = (await removeStalePartials(dirname(out), PARTIAL_TAG)).map(({ path, bytes }) => ({ path, bytes }));
  const tmp = tempSibling(out, PARTIAL_TAG);
  let fh;
  try {
    fh = await open(tmp, 'wx', 0o644);
  } catch (err) {
    throw fromSystemError(err, tmp, 'creating the output');
  }
  let direct: DirectWrites | undefined;
  try {
    // Whole windows (page-aligned, io/direct-writes.ts) skip the page cache; the last one and any refused go through it.
    const file = fh;
    direct = await DirectWrites.open(tmp, file);
    const write = async (view: Uint8Array, at: number) => {
      if (!(await direct?.write(view, at))) await writeFully(file, view, at);
    };
    await streamVerified(archive, opts, (view, at) => write(view, at).catch((e) => Promise.reject(fromSystemError(e, out, 'writing the output'))));
    await direct?.close();
    await fh.sync();
    await fh.close();
    // The recorded permission bits and mtime, as cp -p, rsync -t and restic do (older archives: defaults).
    if (content.source) {
      // Permission bits only: set-user-ID, set-group-ID and sticky bits from an archive are never applied.
      await chmod(tmp, content.source.mode & 0o777);
      const t = new Date(content.source.mtime);
      await utimes(tmp, t, t);
    }
    if (opts.force) {
      await rename(tmp, out);
    } else {
      // link() refuses to replace, so a file created meanwhile is never clobbered.
      try {
        await link(tmp, out);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new BlockFrameError('BF_OUTPUT_EXISTS', `output exists: ${output} (use --force to replace it)`, { path: output });
        throw fromSystemError(err, out, 'publishing the output');
      }
      await unlink(tmp);
    }
    await fsyncDir(dirname(out));
  } catch (err) {
    await direct?.close();
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  return { name: content.name, dir, output: out, size: manifest.size, originalHash: content.originalHash, encrypted: content.params.key !== undefined, removedPartials };
}

export interface CatOptions extends ReadOptions {
  /**
   * Only these bytes: "START-END" (END inclusive), "START-" or "-SUFFIX", as `cat --range` and HTTP take them
   * (layout/range.ts). Only the segments (or frames) that overlap the range are read; BF_INVALID_RANGE or
   * BF_RANGE_NOT_SATISFIABLE for a bad one. Without it, the whole file, with the whole-file hash checked at the end.
   */
  range?: string;
}

/**
 * Write archive `query` to a stream (for `blockframe cat`). Bytes are verified chunk by chunk (and rebuilt from
 * parity where a shard is damaged) before they are written; backpressure is honoured.
 */
export async function cat(query: string, dest: Writable, opts: CatOptions = {}): Promise<void> {
  const archive = await openArchive(query, opts);
  try {
    if (opts.range === undefined) return await streamVerified(archive, opts, (v) => writeTo(dest, v));
    const r = parseRange(opts.range, archive.manifest.size);
    for await (const w of readAheadFor(opts).windows(archive, r.offset, r.length, { ahead: 3, hold: 1, signal: opts.signal })) {
      try {
        await writeTo(dest, w.buf);
      } finally {
        w.release();
      }
    }
  } catch (err) {
    throw archive.explain(err);
  } finally {
    await archive.close();
  }
}

/**
 * Write in order and honour backpressure. Streams over a file descriptor (stdout, files, sockets) have taken the
 * bytes when the callback runs, so they get the shared window itself; any other Writable may keep the chunk, so
 * it gets a copy (the window is reused).
 */
export function writeTo(dest: Writable, view: Uint8Array): Promise<void> {
  const fdBacked = typeof (dest as { fd?: unknown }).fd === 'number' || dest instanceof Socket;
  const chunk = fdBacked ? Buffer.from(view.buffer, view.byteOffset, view.length) : Buffer.from(view);
  return new Promise((res, rej) => {
    dest.write(chunk, (err) => (err ? rej(err) : res()));
  });
}

/**
 * Every verified byte of the file in order into `sink` (calls are issued in file order, several in flight), with a
 * final check of the whole-file hash.
 */
async function streamVerified(archive: OpenArchive, opts: ReadOptions & { checkFileHash?: boolean }, sink: (view: Uint8Array, at: number) => Promise<void>): Promise<void> {
  const { manifest, pool, reader, content } = archive;
  const fileHash = opts.checkFileHash === false ? null : pool.openHash(0);
  const errors = new FirstError();
  const inflight = new Set<Promise<unknown>>();
  let at = 0;
  try {
    // Writes run beside the reads: up to 4 windows held by writes in flight, 3 read ahead, 4 MiB decode batches.
    for await (const w of readAheadFor(opts).windows(archive, 0, manifest.size, { ahead: 3, hold: 4, batchBytes: LONG_BATCH, signal: opts.signal })) {
      errors.throwIfAny();
      const pos = at;
      const view: Uint8Array = w.buf;
      at += view.length;
      const p = errors.track(
        Promise.all([sink(view, pos), fileHash && pool.update(fileHash, view)]).finally(() => {
          w.release();
          opts.onProgress?.(pos + view.length, manifest.size);
        }),
      );
      inflight.add(p);
      void p.then(() => inflight.delete(p));
    }
  } finally {
    await Promise.all(inflight);
  }
  errors.throwIfAny();
  if (fileHash && (await pool.digest(fileHash)) !== content.originalHash) {
    throw new BlockFrameError('BF_HASH_MISMATCH', `archive ${reader.dir}: restored bytes do not match original_hash`, { archive: reader.dir });
  }
}
