// Owns BLAKE3 hashing: one-shot and streaming, on our WASM SIMD kernel, or hash-wasm where SIMD is unavailable.
import { createBLAKE3, type IHasher } from 'hash-wasm';
import { blake3Simd, blake3SimdAvailable, createBlake3Simd } from './blake3-simd.js';
import { IntegrityError, toHex } from './hex.js';
import { createNativeBlake3, nativeBlake3Available } from './blake3-native.js';

/** Which implementation hashes: the in-repo WASM SIMD kernel (about 2.6x faster here) or hash-wasm. */
export const BLAKE3_BACKEND: 'wasm-simd' | 'hash-wasm' = blake3SimdAvailable() ? 'wasm-simd' : 'hash-wasm';
const simd = BLAKE3_BACKEND === 'wasm-simd';

/** Digest length in bytes (BLAKE3 default output). */
export const BLAKE3_LEN = 32;

let shared: IHasher | null = null;
let loading: Promise<void> | null = null;

/**
 * Load the WASM module and the shared one-shot hasher. Idempotent and safe to call concurrently;
 * must be awaited once before blake3()/blake3Hex(). A failed load may be retried.
 */
export function initBlake3(): Promise<void> {
  loading ??= createBLAKE3().then(
    (h) => {
      shared = h;
    },
    (err: unknown) => {
      loading = null;
      throw err;
    },
  );
  return loading;
}

/** True once initBlake3() has resolved. */
export function isBlake3Ready(): boolean {
  return shared !== null;
}

function sharedHasher(): IHasher {
  if (shared === null) throw new IntegrityError('BF_BLAKE3_NOT_READY', 'BLAKE3 is not initialised: await initBlake3() first');
  return shared;
}

/** BLAKE3-256 of `data` (a fresh 32-byte array). Sync; throws BF_BLAKE3_NOT_READY before initBlake3(). */
export function blake3(data: Uint8Array): Uint8Array {
  if (simd) return blake3Simd(data);
  // The shared hasher is always re-initialised first, so an earlier throw cannot leak state.
  return sharedHasher().init().update(data).digest('binary');
}

/** Lowercase hex of blake3(data). */
export function blake3Hex(data: Uint8Array): string {
  return toHex(blake3(data));
}

/** An incremental BLAKE3-256 hash. After digest() the stream is final: update() throws, digest() repeats. */
export interface Blake3Stream {
  update(data: Uint8Array): void;
  digest(): Uint8Array;
  digestHex(): string;
}

/** What hashes whole streams (files, shards in format v1): native BLAKE3 where it loads, else the WASM kernel. */
export const BLAKE3_STREAM_BACKEND: 'native' | 'wasm-simd' | 'hash-wasm' = nativeBlake3Available() ? 'native' : BLAKE3_BACKEND;

/**
 * A new independent hash stream: native BLAKE3 (@napi-rs/blake-hash) where it loads, else its own WASM hasher
 * instance. Async because hash-wasm creates instances asynchronously; update()/digest() on the returned stream are
 * sync. Does not need initBlake3().
 */
export async function createBlake3Stream(): Promise<Blake3Stream> {
  const h: { update(d: Uint8Array): unknown; digest(): Uint8Array } =
    BLAKE3_STREAM_BACKEND === 'native' ? createNativeBlake3() : simd ? createBlake3Simd() : wrapHashWasm((await createBLAKE3()).init());
  let result: Uint8Array | null = null;
  const digest = (): Uint8Array => {
    result ??= h.digest();
    return result.slice();
  };
  return {
    update(data: Uint8Array): void {
      if (result !== null) throw new IntegrityError('BF_BLAKE3_FINALIZED', 'update() after digest() on a BLAKE3 stream');
      h.update(data);
    },
    digest,
    digestHex: () => toHex(digest()),
  };
}

function wrapHashWasm(h: IHasher): { update(d: Uint8Array): unknown; digest(): Uint8Array } {
  return { update: (d) => h.update(d), digest: () => h.digest('binary') };
}

// Initialise at load (top-level await), so the synchronous functions work for every importer.
await initBlake3();
