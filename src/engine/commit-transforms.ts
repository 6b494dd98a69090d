// commit's transform choices (format v2): checking --compress/--encrypt/--frame-size, and what 'auto' decides.
import { BlockFrameError } from '../errors.js';
import type { InputFile } from '../io/input.js';
import { DEFAULT_FRAME_SIZE, MAX_FRAME_SIZE, MIN_FRAME_SIZE } from '../transform/frames.js';
import type { KeySecret } from '../transform/keys.js';
import { ZSTD_DEFAULT_LEVEL, ZSTD_MAX_LEVEL, ZSTD_MIN_LEVEL, zstdCompress, zstdImplementation } from '../transform/zstd.js';

/** What a commit asked for: compression (a zstd level, 'auto', or none), encryption, and the frame size. */
export interface TransformChoice {
  level: number | 'auto' | null;
  encrypt: boolean;
  frameSize: number;
}

/** The transforms a commit asks for, checked; null for none. */
export function checkTransforms(opts: { compress?: number | 'auto'; encrypt?: boolean; frameSize?: number }, secrets: KeySecret[]): TransformChoice | null {
  const level = opts.compress ?? null;
  if (typeof level === 'number' && (!Number.isInteger(level) || level < ZSTD_MIN_LEVEL || level > ZSTD_MAX_LEVEL)) {
    throw new BlockFrameError('BF_USAGE', `invalid zstd level ${level}: use ${ZSTD_MIN_LEVEL} to ${ZSTD_MAX_LEVEL}, or auto`, { field: 'compress' });
  }
  if (level !== null && !zstdImplementation()) throw new BlockFrameError('BF_TRANSFORM_UNAVAILABLE', 'zstd is not available in this installation: commit without --compress');
  const encrypt = opts.encrypt === true;
  if (encrypt && secrets.length === 0) throw new BlockFrameError('BF_KEY_REQUIRED', 'encryption needs a key: --key-file FILE, or BLOCKFRAME_PASSPHRASE / BLOCKFRAME_KEY_FILE', { field: 'encrypt' });
  const frameSize = opts.frameSize ?? DEFAULT_FRAME_SIZE;
  if (!Number.isInteger(frameSize) || frameSize < MIN_FRAME_SIZE || frameSize > MAX_FRAME_SIZE || (frameSize & (frameSize - 1)) !== 0) {
    throw new BlockFrameError('BF_INVALID_SIZE', `invalid frame size ${frameSize}: use a power of two from 64 KiB to 16 MiB`, { field: 'frame_size' });
  }
  if (level === null && !encrypt) return null;
  return { level, encrypt, frameSize };
}

/**
 * 'auto': zstd level 3, unless up to 8 frames sampled across the file shrink by less than 3% in total (media,
 * archives, ciphertext), in which case compression is not worth its CPU and the archive stays plain.
 */
export async function autoLevel(input: InputFile, size: number, frameSize: number): Promise<number | null> {
  const frames = Math.ceil(size / frameSize);
  if (frames === 0) return null;
  const picks = [...new Set(Array.from({ length: Math.min(8, frames) }, (_, i) => Math.floor((i * frames) / Math.min(8, frames))))];
  let plain = 0;
  let packed = 0;
  const buf = Buffer.allocUnsafe(frameSize);
  for (const j of picks) {
    const n = await input.readAt(buf, Math.min(frameSize, size - j * frameSize), j * frameSize);
    plain += n;
    packed += Math.min(n, (await zstdCompress(buf.subarray(0, n), ZSTD_DEFAULT_LEVEL)).length);
  }
  return packed <= plain * 0.97 ? ZSTD_DEFAULT_LEVEL : null;
}

