// A compute worker thread: BLAKE3 hash streams and Reed-Solomon work on shared-memory buffers.
import { parentPort } from 'node:worker_threads';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { codecKernel, createReedSolomon, xorInto, type ReedSolomon } from '../codec/index.js';
import { blake3, createBlake3Stream, initBlake3, type Blake3Stream } from '../integrity/blake3.js';
import type { Envelope, Reply, Request } from './protocol.js';
import { unitCVs } from '../integrity/blake3-cv.js';
import { decodeFrame, encodeFrame, maxStoredLength } from '../transform/frame-codec.js';

const port = parentPort;
if (!port) throw new Error('compute worker must run in a worker thread');

/**
 * A young-generation collection, run after each frame job. zstd and AES-GCM hand every frame back in a fresh Buffer
 * (the binding and node:crypto have no into-a-buffer form); their bytes live outside the JS heap, which these jobs
 * barely touch, so V8 collects them late: measured, up to 60 MiB per worker (peak RSS of a zstd commit 306 MiB,
 * 204 MiB with this). A minor GC of a near-empty young generation costs well under a millisecond per job.
 * --expose-gc is set at run time (workers take no V8 flags) and read in a new context, the only one that sees it.
 */
const collectYoung: () => void = (() => {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as (o?: { type: 'minor' | 'major' }) => void;
    return () => gc({ type: 'minor' });
  } catch {
    return () => undefined;
  }
})();

const streams = new Map<number, Blake3Stream>();
const codecs = new Map<string, ReedSolomon>();
const ready = initBlake3();

function codec(k: number, m: number): ReedSolomon {
  const key = `${k},${m}`;
  let rs = codecs.get(key);
  if (!rs) codecs.set(key, (rs = createReedSolomon(k, m)));
  return rs;
}

async function handle(req: Request): Promise<string | undefined> {
  await ready;
  switch (req.op) {
    case 'hashOpen':
      streams.set(req.stream, await createBlake3Stream());
      return undefined;
    case 'hashUpdate': {
      const s = streams.get(req.stream);
      if (!s) throw new Error(`unknown hash stream ${req.stream}`);
      s.update(req.data);
      return undefined;
    }
    case 'hashDigest': {
      const s = streams.get(req.stream);
      if (!s) throw new Error(`unknown hash stream ${req.stream}`);
      streams.delete(req.stream);
      return s.digestHex();
    }
    case 'chunkHashes':
      if (req.cv) {
        unitCVs(req.data, req.cv.firstUnit, req.chunkSize, req.cv.total, req.out);
        return undefined;
      }
      for (let i = 0, o = 0; o < req.data.length; i++, o += req.chunkSize) {
        req.out.set(blake3(req.data.subarray(o, Math.min(o + req.chunkSize, req.data.length))), i * 32);
      }
      return undefined;
    case 'encode':
      codec(req.k, req.m).encode(req.data, req.parity);
      return undefined;
    case 'codecKernel':
      return codecKernel().name;
    case 'xor':
      req.into.forEach((into, i) => xorInto(into, req.from[i]!));
      return undefined;
    case 'frameEncode': {
      // The frames of a job compress at once (zstd runs on libuv's thread pool), each into its own slot of `out`;
      // then the stored frames are packed, in order, to the front (copyWithin moves safely over overlaps).
      const slot = maxStoredLength(req.frameSize, req.params);
      const jobs: Promise<{ length: number; compressed: boolean }>[] = [];
      for (let p = 0, i = 0; p < req.plain.length; p += req.frameSize, i++) {
        const plain = req.plain.subarray(p, Math.min(p + req.frameSize, req.plain.length));
        jobs.push(encodeFrame(plain, req.first + i, req.params, req.out.subarray(i * slot, (i + 1) * slot)));
      }
      const done = await Promise.all(jobs);
      collectYoung();
      let o = 0;
      done.forEach((r, i) => {
        if (o !== i * slot) req.out.copyWithin(o, i * slot, i * slot + r.length);
        o += r.length;
      });
      return done.map((r) => `${r.length}:${r.compressed ? 1 : 0}`).join(',');
    }
    case 'frameDecode': {
      let s = 0;
      let o = 0;
      for (const [i, [stored, plain, compressed]] of req.frames.entries()) {
        await decodeFrame(req.stored.subarray(s, s + stored), req.first + i, plain, compressed, req.params, req.out.subarray(o, o + plain), req.what);
        s += stored;
        o += plain;
      }
      collectYoung();
      return undefined;
    }
    case 'reconstruct': {
      const shards = req.shards.slice();
      // Rebuild straight into the caller's shared buffers (in order of the missing slots): no garbage per call.
      const into: (Uint8Array | undefined)[] = [];
      let o = 0;
      req.shards.forEach((s, i) => {
        if (s === null) into[i] = req.out[o++];
      });
      codec(req.k, req.m).reconstruct(shards, { into });
      o = 0;
      req.shards.forEach((s, i) => {
        const out = req.out[o];
        if (s === null && out) {
          if (shards[i] !== out) out.set(shards[i]!);
          o++;
        }
      });
      return undefined;
    }
  }
}

// Requests run strictly in arrival order, so updates to one hash stream stay ordered.
let queue: Promise<void> = Promise.resolve();
port.on('message', (env: Envelope) => {
  queue = queue.then(async () => {
    let reply: Reply;
    try {
      reply = { id: env.id, ok: true, value: await handle(env.req) };
    } catch (err) {
      const e = err as Error & { code?: string };
      reply = { id: env.id, ok: false, message: e.message, code: e.code };
    }
    port.postMessage(reply);
  });
});
