// Owns the native BLAKE3 (napi-rs blake-hash: the Rust blake3 crate, its binary inside the npm package), loaded lazily.
import { createRequire } from 'node:module';

interface NativeHasher {
  update(input: Buffer): unknown;
  digestBuffer(): Buffer;
}
interface NativeModule {
  Blake3Hasher: new () => NativeHasher;
}

let mod: NativeModule | null | undefined;

/**
 * The platform packages of @napi-rs/blake-hash that we can load (optional dependencies). We depend on the platform
 * package directly, not on @napi-rs/blake-hash: the registry we install from lacks most of that package's other
 * platform packages, which makes a lock file that `npm ci` accepts impossible.
 */
const PLATFORM_PACKAGES: Record<string, string> = { 'linux-x64': '@napi-rs/blake-hash-linux-x64-gnu' };

/** The native module, or null where it does not load (another platform, a missing optional package). */
function load(): NativeModule | null {
  if (mod !== undefined) return mod;
  const pkg = PLATFORM_PACKAGES[`${process.platform}-${process.arch}`];
  if (process.env.BLOCKFRAME_BLAKE3 === 'wasm' || !pkg) return (mod = null);
  try {
    const m = createRequire(import.meta.url)(pkg) as NativeModule;
    // Trust it only once it agrees with a known answer (BLAKE3 of the empty input).
    const h = new m.Blake3Hasher();
    h.update(Buffer.alloc(0));
    mod = h.digestBuffer().toString('hex') === 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262' ? m : null;
  } catch {
    mod = null;
  }
  return mod;
}

/** True when the native BLAKE3 loads (set BLOCKFRAME_BLAKE3=wasm to force the WebAssembly kernel). */
export function nativeBlake3Available(): boolean {
  return load() !== null;
}

/**
 * An incremental native BLAKE3-256 hasher (synchronous; use it on worker threads). Accepts views of
 * SharedArrayBuffers. Throws when nativeBlake3Available() is false.
 */
export function createNativeBlake3(): { update(d: Uint8Array): void; digest(): Uint8Array } {
  const m = load();
  if (!m) throw new Error('native BLAKE3 is not available');
  const h = new m.Blake3Hasher();
  return {
    update: (d) => void h.update(Buffer.from(d.buffer, d.byteOffset, d.length)),
    digest: () => new Uint8Array(h.digestBuffer()),
  };
}
