// What both HTTP frontends (the file server and the S3 API) stream with: verified windows of byte spans written
// with backpressure, and waiting for a slow client with an idle cut-off.
import type { ServerResponse } from 'node:http';
import type { OpenArchive } from '../engine/read.js';
import type { ReadAhead } from '../archive/read/read-ahead.js';
import type { Span } from './ranges.js';

/**
 * Write verified windows of each span (each after its optional prefix) with backpressure. The first window is read
 * before `writeHeaders` runs, so damage found at once still gets a JSON error. Damage found later destroys the
 * socket: the client sees a short response, never wrong bytes. A client that goes away stops the reading.
 */
export async function streamSpans(res: ServerResponse, wr: ReadAhead, archive: OpenArchive, parts: { span: Span; prefix?: Buffer }[], writeHeaders: () => void, trailer?: Buffer, idleMs = 0): Promise<void> {
  let started = false;
  /** Write and wait until the socket can take more; `done` runs once the bytes are handed to the kernel (or lost). */
  const write = async (chunk: Uint8Array, done?: () => void): Promise<boolean> => {
    if (res.destroyed) {
      done?.();
      return false;
    }
    if (!res.write(chunk, () => done?.())) await drained(res, idleMs);
    return !res.destroyed;
  };
  try {
    for (const part of parts) {
      const length = part.span.end - part.span.start + 1;
      let prefixDone = false;
      for await (const w of wr.windows(archive, part.span.start, length)) {
        if (!started) {
          started = true;
          writeHeaders();
        }
        if (!prefixDone && part.prefix) {
          prefixDone = true;
          if (!(await write(part.prefix))) return w.release();
        }
        // Leaving the loop stops the generator: no more shard reads. A destroyed socket calls back with an error.
        if (!(await write(w.buf, w.release))) return;
      }
    }
    if (trailer && !(await write(trailer))) return;
    res.end();
  } catch (err) {
    if (!started) throw err;
    res.destroy(err instanceof Error ? err : undefined);
  }
}

/**
 * Resolves when `res` can take more bytes (or is gone). With `idleMs`, a client that takes nothing for that long
 * is cut off: the socket is destroyed (Node's own socket timeout fires late, or not at all, while a write is pending).
 */
export function drained(res: ServerResponse, idleMs = 0): Promise<void> {
  return new Promise((resolve) => {
    const timer = idleMs > 0 ? setTimeout(() => res.destroy(), idleMs) : undefined;
    const done = () => {
      clearTimeout(timer);
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
