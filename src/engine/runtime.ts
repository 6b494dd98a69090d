// What this process runs on: the codec kernel, the BLAKE3 backends, zstd, and the format versions it reads and writes.
import { codecKernel } from '../codec/index.js';
import { BLAKE3_STREAM_BACKEND } from '../integrity/blake3.js';
import { BLAKE3_CV_BACKEND, BLAKE3_CV_NATIVE_DEGREE } from '../integrity/blake3-cv.js';
import { nativeCvStatus } from '../integrity/blake3-native-cv.js';
import { FORMAT_VERSION, FORMAT_VERSIONS } from '../layout/manifest.js';
import { zstdImplementation } from '../transform/zstd.js';

export interface RuntimeInfo {
  /** The Reed-Solomon kernel in use, a detail (ISA, lanes), and why the native kernel is not used, if it is not. */
  codec: { name: string; detail: string; nativeStatus?: string };
  /**
   * BLAKE3 backend for whole streams and for chunk chaining values (native, wasm-simd, portable…); with the native
   * chaining-value addon, how many chunks it hashes side by side (16 AVX-512, 8 AVX2, 4 SSE4.1), else why it is not
   * in use (docs/hashing.md).
   */
  blake3: { streams: string; chunkHashes: string; chunkLanes?: number; nativeStatus?: string };
  /** The zstd implementation, or null when none loads (then commit --compress fails with BF_TRANSFORM_UNAVAILABLE). */
  zstd: string | null;
  /** The format version written, and every version read. */
  format: { writes: number; reads: readonly number[] };
}

export function runtimeInfo(): RuntimeInfo {
  const c = codecKernel();
  return {
    codec: { name: c.name, detail: c.detail, ...(c.nativeStatus ? { nativeStatus: c.nativeStatus } : {}) },
    blake3: {
      streams: BLAKE3_STREAM_BACKEND,
      chunkHashes: BLAKE3_CV_BACKEND,
      ...(BLAKE3_CV_NATIVE_DEGREE > 0 ? { chunkLanes: BLAKE3_CV_NATIVE_DEGREE } : {}),
      ...(nativeCvStatus ? { nativeStatus: nativeCvStatus } : {}),
    },
    zstd: zstdImplementation() ?? null,
    format: { writes: FORMAT_VERSION, reads: FORMAT_VERSIONS },
  };
}
