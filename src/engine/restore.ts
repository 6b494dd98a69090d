// restore and cat: stream an archived file back out, verifying every shard hash and the whole-file hash.
import { link, open, rename, rm, stat, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { BlockFrameError, fromSystemError } from '../errors.js';
import { SlabPool, type ComputePool } from '../compute/pool.js';
import type { Manifest } from '../layout/manifest.js';
import { fsyncDir, writeFully } from '../store/fsutil.js';
import type { LocalStore } from '../store/local.js';
import { storeFor, withPool, type OperationOptions } from './context.js';
import { resolveArchive } from './find.js';
import { pump } from './pump.js';
import { corrupt, openShard, shortShard } from './shards.js';

const SLAB = 4 * 1024 * 1024;

export interface RestoreOptions extends OperationOptions {
  /** Replace an existing output file. */
  force?: boolean;
}

export interface RestoreResult {
  name: string;
  dir: string;
  output: string;
  size: number;
  originalHash: string;
}

/** Restore archive `query` to `output`. The output appears only complete and verified, never partially. */
export async function restore(query: string, output: string, opts: RestoreOptions = {}): Promise<RestoreResult> {
  const store = storeFor(opts);
  const dir = await resolveArchive(store, query);
  const manifest = await store.readManifest(dir);
  const out = resolve(output);
  const existing = await stat(out).catch(() => null);
  if (existing?.isDirectory()) throw new BlockFrameError('BF_OUTPUT_EXISTS', `output is a directory: ${output}`, { path: output });
  if (existing && !opts.force) throw new BlockFrameError('BF_OUTPUT_EXISTS', `output exists: ${output} (use --force to replace it)`, { path: output });
  const tmp = join(dirname(out), `.${basename(out)}.blockframe-${process.pid}-${randomBytes(4).toString('hex')}.partial`);
  let fh;
  try {
    fh = await open(tmp, 'wx', 0o644);
  } catch (err) {
    throw fromSystemError(err, tmp, 'creating the output');
  }
  try {
    await withPool(opts, (pool) =>
      streamVerified(store, dir, manifest, pool, opts, (view, at) => writeFully(fh, view, at).catch((e) => Promise.reject(fromSystemError(e, out, 'writing the output')))),
    );
    await fh.sync();
    await fh.close();
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
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  return { name: manifest.name, dir, output: out, size: manifest.size, originalHash: manifest.original_hash };
}

/**
 * Write archive `query` to a stream (for `blockframe cat`). Each segment is hash-checked before any of its bytes
 * are written, so only verified bytes ever leave; backpressure is honoured.
 */
export async function cat(query: string, dest: Writable, opts: OperationOptions = {}): Promise<void> {
  const store = storeFor(opts);
  const dir = await resolveArchive(store, query);
  const manifest = await store.readManifest(dir);
  await withPool(opts, async (pool) => {
    const slabs = new SlabPool(4, SLAB);
    for (const stripe of manifest.stripes) {
      for (const seg of stripe.data) {
        const fh = await openShard(store, dir, seg);
        try {
          const h = pool.openHash(1);
          await pump({ pool, slabs, src: fh, offset: 0, size: seg.size, hashes: [h], short: () => shortShard(dir, seg), signal: opts.signal });
          if ((await pool.digest(h)) !== seg.hash) throw corrupt(dir, seg);
          // Second read comes from the page cache; the slab is reused only after the stream has taken the bytes.
          await pump({ pool, slabs, src: fh, offset: 0, size: seg.size, hashes: [], short: () => shortShard(dir, seg), sink: (v) => writeTo(dest, v), signal: opts.signal, onBytes: progress(opts, manifest) });
        } finally {
          await fh.close();
        }
      }
    }
  });
}

function progress(opts: OperationOptions, m: Manifest): ((n: number) => void) | undefined {
  if (!opts.onProgress) return undefined;
  let done = 0;
  return (n) => opts.onProgress!((done += n), m.size);
}

/** Write in order; resolve once the stream has consumed the bytes (so the shared slab may be reused). */
function writeTo(dest: Writable, view: Uint8Array): Promise<void> {
  return new Promise((res, rej) => {
    dest.write(Buffer.from(view), (err) => (err ? rej(err) : res()));
  });
}

/** Read every data shard in order, checking each shard hash and the whole-file hash, sinking bytes at file offsets. */
async function streamVerified(
  store: LocalStore,
  dir: string,
  manifest: Manifest,
  pool: ComputePool,
  opts: OperationOptions,
  sink: (view: Uint8Array, at: number) => Promise<void>,
): Promise<void> {
  const slabs = new SlabPool(8, SLAB);
  const fileHash = pool.openHash(0);
  const onBytes = progress(opts, manifest);
  for (const stripe of manifest.stripes) {
    for (const seg of stripe.data) {
      const fh = await openShard(store, dir, seg);
      try {
        const h = pool.openHash(1);
        await pump({ pool, slabs, src: fh, offset: 0, size: seg.size, hashes: [h, fileHash], sink: (v, at) => sink(v, seg.offset + at), short: () => shortShard(dir, seg), signal: opts.signal, onBytes });
        if ((await pool.digest(h)) !== seg.hash) throw corrupt(dir, seg);
      } finally {
        await fh.close();
      }
    }
  }
  if ((await pool.digest(fileHash)) !== manifest.original_hash) {
    throw new BlockFrameError('BF_HASH_MISMATCH', `archive ${dir}: restored bytes do not match original_hash`, { archive: dir });
  }
}
