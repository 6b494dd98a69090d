// Owns the zstd binding: @mongodb-js/zstd's native addon (its binary ships in the registry package), loaded lazily.
import { createRequire } from 'node:module';
import { BlockFrameError } from '../errors.js';

interface ZstdBinding {
  compress(data: Buffer, level?: number | null): Promise<Buffer>;
  decompress(data: Buffer): Promise<Buffer>;
}

let binding: ZstdBinding | null | undefined;
let loadError = '';

/**
 * The native zstd binding, or null when it does not load on this platform. We call the package's `bindings.js`
 * directly because its wrapper drops the compression level.
 */
function load(): ZstdBinding | null {
  if (binding !== undefined) return binding;
  try {
    binding = createRequire(import.meta.url)('@mongodb-js/zstd/bindings.js') as ZstdBinding;
  } catch (err) {
    binding = null;
    loadError = (err as Error).message.split('\n')[0] ?? 'unknown error';
  }
  return binding;
}

/** Which zstd implementation is in use ('@mongodb-js/zstd 1.2.2 (native addon)') or null when none loads. */
export function zstdImplementation(): string | null {
  return load() ? '@mongodb-js/zstd 1.2.2 (native addon)' : null;
}

function need(): ZstdBinding {
  const b = load();
  if (!b) throw new BlockFrameError('BF_TRANSFORM_UNAVAILABLE', `zstd is not available in this installation (the @mongodb-js/zstd binding did not load: ${loadError})`);
  return b;
}

/** Zstd levels BlockFrame accepts (RFC 8878 frames; 1 = fastest, 19 = smallest). */
export const ZSTD_MIN_LEVEL = 1;
export const ZSTD_MAX_LEVEL = 19;
export const ZSTD_DEFAULT_LEVEL = 3;

/** One zstd frame of `data` at `level` (runs on libuv's thread pool). Throws BF_TRANSFORM_UNAVAILABLE. */
export function zstdCompress(data: Uint8Array, level: number): Promise<Buffer> {
  return need().compress(Buffer.from(data.buffer, data.byteOffset, data.length), level);
}

/**
 * Decompress one zstd frame that must give exactly `expected` bytes. Throws BF_FRAME_INVALID when the frame is
 * malformed or its length differs (a content size in the frame header is checked before decompressing; the binding
 * writes frames without one, so a forged frame is bounded only by its own ratio: see docs/FORMAT.md §12.3),
 * BF_TRANSFORM_UNAVAILABLE when zstd is missing.
 */
export async function zstdDecompress(data: Uint8Array, expected: number, what: string): Promise<Buffer> {
  const b = need();
  const declared = frameContentSize(data);
  if (declared !== null && declared !== expected) throw new BlockFrameError('BF_FRAME_INVALID', `${what}: the zstd frame declares ${declared} bytes, expected ${expected}`);
  let out: Buffer;
  try {
    out = await b.decompress(Buffer.from(data.buffer, data.byteOffset, data.length));
  } catch (err) {
    throw new BlockFrameError('BF_FRAME_INVALID', `${what}: the zstd frame does not decompress (${(err as Error).message})`);
  }
  if (out.length !== expected) throw new BlockFrameError('BF_FRAME_INVALID', `${what}: decompressed to ${out.length} bytes, expected ${expected}`);
  return out;
}

/**
 * The Frame_Content_Size of a zstd frame header (RFC 8878 §3.1.1.1), or null when absent or not a zstd frame.
 */
export function frameContentSize(f: Uint8Array): number | null {
  if (f.length < 6 || f[0] !== 0x28 || f[1] !== 0xb5 || f[2] !== 0x2f || f[3] !== 0xfd) return null;
  const fhd = f[4]!;
  const fcsFlag = fhd >> 6;
  const single = (fhd >> 5) & 1;
  const didFlag = fhd & 3;
  let p = 5 + (single ? 0 : 1) + [0, 1, 2, 4][didFlag]!;
  const fcsLen = fcsFlag === 0 ? (single ? 1 : 0) : [0, 2, 4, 8][fcsFlag]!;
  if (fcsLen === 0 || f.length < p + fcsLen) return null;
  const dv = new DataView(f.buffer, f.byteOffset + p, fcsLen);
  switch (fcsLen) {
    case 1:
      return dv.getUint8(0);
    case 2:
      return dv.getUint16(0, true) + 256;
    case 4:
      return dv.getUint32(0, true);
    default: {
      const v = dv.getBigUint64(0, true);
      return v > BigInt(Number.MAX_SAFE_INTEGER) ? null : Number(v);
    }
  }
}
