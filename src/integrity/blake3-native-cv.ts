// Owns the native BLAKE3 chaining-value addon (native/blake3cv: BLAKE3's official C kernels): loading it and its node operations.
import { createRequire } from 'node:module';

/** The addon's exports (native/blake3cv/blockframe_blake3cv.c documents each). Offsets and lengths in bytes. */
interface Blake3CvAddon {
  subtrees(data: Uint8Array, offset: number, units: number, unitChunks: number, counter: number, out: Uint8Array, outOffset: number): void;
  chunk(data: Uint8Array, offset: number, len: number, counter: number, root: boolean, out: Uint8Array, outOffset: number): void;
  parent(block: Uint8Array, root: boolean, out: Uint8Array, outOffset: number): void;
  degree(): number;
}

/** Where `npm run build:native` (scripts/build-native.mjs) leaves the addon, from dist/src/integrity/. */
const ADDON = '../../../native/blake3cv/build/Release/blockframe_blake3cv.node';

/** Set to `wasm` to never use native BLAKE3 (chaining values and streams alike): the WebAssembly kernel is used. */
export const BLAKE3_ENV = 'BLOCKFRAME_BLAKE3';

/**
 * The three BLAKE3 node operations (and a batch of subtrees) of blake3-cv.ts's engine contract, done by the addon on
 * the bytes most recently given to stage(), in place (no copy; SharedArrayBuffer views are fine). Every result is
 * a 32-byte chaining value written to out[outOff, outOff + 32).
 */
export class NativeCvEngine {
  readonly backend = 'native';
  readonly stageLimit = Infinity;
  private data: Uint8Array = new Uint8Array(0);
  constructor(private readonly addon: Blake3CvAddon) {}

  /** How many chunks the C library hashes side by side on this CPU (16 AVX-512, 8 AVX2, 4 SSE4.1/NEON, 1 portable). */
  get degree(): number {
    return this.addon.degree();
  }
  stage(data: Uint8Array, from: number): number {
    this.data = data;
    return from;
  }
  /** Non-root CV of the complete subtree of `chunks` (a power of two <= 256) chunks at `off`, first chunk number `counter`. */
  subtree(off: number, chunks: number, counter: number, out: Uint8Array, outOff: number): void {
    this.addon.subtrees(this.data, off, 1, chunks, counter, out, outOff);
  }
  /** `units` such subtrees back to back from `off` (first chunk number `counter`), their CVs 32 bytes apart from outOff. */
  subtrees(off: number, units: number, chunks: number, counter: number, out: Uint8Array, outOff: number): void {
    this.addon.subtrees(this.data, off, units, chunks, counter, out, outOff);
  }
  /** CV of one chunk of `len` (0..1024) bytes at `off`, chunk number `counter` (ROOT on its last block when `root`). */
  chunk(off: number, len: number, counter: number, root: boolean, out: Uint8Array, outOff: number): void {
    this.addon.chunk(this.data, off, len, counter, root, out, outOff);
  }
  /** CV of the parent whose children's CVs are block[0, 32) and block[32, 64). */
  parent(block: Uint8Array, root: boolean, out: Uint8Array, outOff: number): void {
    this.addon.parent(block, root, out, outOff);
  }
}

/** Why the native engine is not in use ('' when it is), for `blockframe --version --verbose` and the bench. */
export let nativeCvStatus = '';

/**
 * The addon's engine, or null when it was not built (no @c4312/blake3-native sources or no compiler at install
 * time), cannot load here, or BLOCKFRAME_BLAKE3=wasm. The caller runs the known-answer check before trusting it
 * (blake3-cv.ts, which has the tree). Loads once per thread.
 */
export function loadNativeCvEngine(): NativeCvEngine | null {
  if (process.env[BLAKE3_ENV] === 'wasm') {
    nativeCvStatus = `disabled by ${BLAKE3_ENV}=wasm`;
    return null;
  }
  try {
    return new NativeCvEngine(createRequire(import.meta.url)(ADDON) as Blake3CvAddon);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    nativeCvStatus = e.code === 'MODULE_NOT_FOUND' ? 'addon not built (npm run build:native)' : `addon failed to load: ${e.message.split('\n')[0]}`;
    return null;
  }
}

/** Record that the loaded addon failed its known-answer check (so it is not used). */
export function nativeCvRejected(): void {
  nativeCvStatus = 'addon failed its known-answer check against the official BLAKE3 test vectors';
}
