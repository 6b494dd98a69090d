// Optional ISA-L kernel: loads the N-API addon (native/isal), self-checks it, and multiplies in place (zero-copy).
import { createRequire } from 'node:module';
import { BlockFrameError } from '../errors.js';
import { matrix, type Matrix } from './gf256.js';
import { portableKernel, type Kernel } from './kernel-portable.js';

/** The addon's exports (native/isal/blockframe_isal.c documents each). */
interface IsalAddon {
  /** ec_init_tables: 32 bytes per coefficient of the row-major rows x cols matrix (ISA-L erasure_code.h). */
  initTables(coeffs: Uint8Array, rows: number, cols: number): Uint8Array;
  /** ec_encode_data over [0, len) of every array, read and written in place. */
  matmul(tables: Uint8Array, rows: number, cols: number, inputs: readonly Uint8Array[], outputs: readonly Uint8Array[], len: number): void;
  /** Widest x86 vector extension of this CPU: 'avx512' | 'avx2' | 'avx' | 'sse4.1' | 'neon' | 'none'. */
  cpu(): string;
}

/** Where `npm run build:native` (scripts/build-native.mjs) leaves the addon, from dist/src/codec/. */
const ADDON = '../../../native/isal/build/Release/blockframe_isal.node';

/** Set to 0 to never load the addon (the WASM kernel is used instead). */
export const NATIVE_ENV = 'BLOCKFRAME_NATIVE_CODEC';

class NativeKernel implements Kernel {
  readonly name = 'native' as const;
  private readonly tableCache = new WeakMap<Matrix, Uint8Array>();
  constructor(private readonly addon: IsalAddon) {}

  /** outputs[r] = XOR over c of coeffs[r][c] * inputs[c] on [0, len); buffers may be SharedArrayBuffer views. */
  matMul(coeffs: Matrix, inputs: readonly Uint8Array[], outputs: readonly Uint8Array[], len: number): void {
    const rows = outputs.length;
    const cols = inputs.length;
    if (coeffs.rows !== rows || coeffs.cols !== cols) throw new BlockFrameError('BF_INTERNAL', 'kernel: coefficient matrix shape mismatch');
    if (len === 0 || rows === 0) return;
    let tables = this.tableCache.get(coeffs);
    if (tables === undefined) {
      tables = this.addon.initTables(coeffs.data, rows, cols);
      this.tableCache.set(coeffs, tables);
    }
    this.addon.matmul(tables, rows, cols, inputs, outputs, len);
  }
}

/** Deterministic bytes (xorshift32) for the load-time self-check. */
function bytes(len: number, seed: number): Uint8Array {
  const a = new Uint8Array(len);
  let x = seed;
  for (let i = 0; i < len; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    a[i] = x & 0xff;
  }
  return a;
}

/**
 * True when the addon's products equal the portable kernel's on a few shapes and lengths (short ones take the
 * addon's own byte loop, long ones ISA-L's SIMD code). Guards against a libisal whose tables or field differ.
 */
function selfCheck(k: Kernel): boolean {
  for (const [rows, cols, len] of [[3, 5, 200], [1, 2, 63], [4, 7, 1029], [6, 3, 64]] as const) {
    const c = matrix(rows, cols, bytes(rows * cols, 7 + rows));
    const inputs = Array.from({ length: cols }, (_, i) => bytes(len, 101 + i));
    const a = Array.from({ length: rows }, () => new Uint8Array(len));
    const b = Array.from({ length: rows }, () => new Uint8Array(len));
    k.matMul(c, inputs, a, len);
    portableKernel.matMul(c, inputs, b, len);
    for (let r = 0; r < rows; r++) if (Buffer.compare(a[r], b[r]) !== 0) return false;
  }
  return true;
}

let loaded: NativeKernel | null | undefined;
/** Why the native kernel is not in use ('' when it is), for `blockframe --version --verbose`. */
export let nativeStatus = '';
/** The CPU's vector extension as the addon saw it ('' when the addon did not load). */
export let nativeCpu = '';

/**
 * The ISA-L kernel, or null when the addon was not built (no libisal-dev or compiler at install time), cannot
 * load here, fails its self-check, or is disabled with BLOCKFRAME_NATIVE_CODEC=0. Loads once per thread.
 */
export function nativeKernel(): Kernel | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (process.env[NATIVE_ENV] === '0') {
    nativeStatus = `disabled by ${NATIVE_ENV}=0`;
    return null;
  }
  let addon: IsalAddon;
  try {
    addon = createRequire(import.meta.url)(ADDON) as IsalAddon;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    nativeStatus = e.code === 'MODULE_NOT_FOUND' ? 'addon not built (npm run build:native)' : `addon failed to load: ${e.message.split('\n')[0]}`;
    return null;
  }
  const k = new NativeKernel(addon);
  if (!selfCheck(k)) {
    nativeStatus = 'addon failed its self-check against the portable kernel';
    return null;
  }
  nativeCpu = addon.cpu();
  loaded = k;
  return k;
}
