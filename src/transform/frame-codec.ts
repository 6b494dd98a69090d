// Owns the encoding of one frame (docs/FORMAT.md §12.2): zstd if it shrinks the frame, then AES-256-GCM; and the inverse.
import { BlockFrameError } from '../errors.js';
import { GCM_TAG_BYTES } from './frames.js';
import { frameAad, frameNonce, open, sealInto } from './seal.js';
import { zstdCompress, zstdDecompress } from './zstd.js';

/** The transforms of one archive, as the frame codec needs them. */
export interface FrameParams {
  /** zstd level, or undefined for no compression. */
  zstdLevel?: number;
  /** AES-256-GCM data key and archive id, or undefined for no encryption. */
  key?: Uint8Array;
  archiveId?: Uint8Array;
}

/** The largest stored frame for `plainLength` bytes: encryption adds its tag; compression never grows a frame. */
export function maxStoredLength(plainLength: number, p: FrameParams): number {
  return plainLength + (p.key ? GCM_TAG_BYTES : 0);
}

/**
 * Encode frame `j` (`plain`, 1..frame_size bytes) into `out` (at least maxStoredLength bytes). Returns the stored
 * length and whether the body is compressed. Errors: BF_TRANSFORM_UNAVAILABLE.
 */
export async function encodeFrame(plain: Uint8Array, j: number, p: FrameParams, out: Uint8Array): Promise<{ length: number; compressed: boolean }> {
  let body: Uint8Array = plain;
  let compressed = false;
  if (p.zstdLevel !== undefined) {
    const z = await zstdCompress(plain, p.zstdLevel);
    if (z.length < plain.length) {
      body = z;
      compressed = true;
    }
  }
  if (p.key) {
    const n = sealInto(p.key, frameNonce(j), frameAad(p.archiveId!, j, plain.length, compressed), body, out);
    return { length: n, compressed };
  }
  out.set(body);
  return { length: body.length, compressed };
}

/**
 * Decode stored frame `j` into `out` (exactly `plainLength` bytes). Errors: BF_FRAME_INVALID (authentication failed,
 * a malformed or wrong-length zstd frame), BF_TRANSFORM_UNAVAILABLE.
 */
export async function decodeFrame(stored: Uint8Array, j: number, plainLength: number, compressed: boolean, p: FrameParams, out: Uint8Array, what: string): Promise<void> {
  let body: Uint8Array = stored;
  if (p.key) body = open(p.key, frameNonce(j), frameAad(p.archiveId!, j, plainLength, compressed), stored, `${what} frame ${j}`);
  if (compressed) {
    if (p.zstdLevel === undefined) throw new BlockFrameError('BF_FRAME_INVALID', `${what} frame ${j}: flagged compressed, but the archive has no zstd transform`);
    body = await zstdDecompress(body, plainLength, `${what} frame ${j}`);
  } else if (body.length !== plainLength) {
    throw new BlockFrameError('BF_FRAME_INVALID', `${what} frame ${j}: ${body.length} stored bytes for a raw frame of ${plainLength}`);
  }
  out.set(body);
}
