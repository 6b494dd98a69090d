// Public Reed-Solomon codec: systematic MDS erasure code over GF(2^8), k data + m parity shards.
import { BlockFrameError } from '../errors.js';
import { invert, matrix, selectRows, type Matrix } from './gf256.js';
import { portableKernel, type Kernel } from './kernel-portable.js';
import { nativeCpu, nativeKernel, nativeStatus } from './kernel-native.js';
import { wasmKernel, wasmVariant } from './kernel-wasm.js';
import { checkShape, encodingMatrix } from './matrix.js';

export { RS_FIELD, RS_MATRIX } from './matrix.js';

/** 'native': ISA-L through the optional addon; 'simd': the WebAssembly SIMD kernel; 'portable': TypeScript. */
export type KernelName = 'native' | 'simd' | 'portable';

export interface ReedSolomon {
  readonly dataShards: number; // k
  readonly parityShards: number; // m
  readonly kernel: KernelName;
  /** data: exactly k arrays of equal length L (L may be 0 or odd); parity: exactly m arrays of length L, fully overwritten. */
  encode(data: readonly Uint8Array[], parity: readonly Uint8Array[]): void;
  /** shards: k+m entries (data first, then parity), all present ones of equal length L; null marks a missing shard.
   *  Fills every null entry with a newly allocated, reconstructed Uint8Array (or only the data ones if opts.dataOnly);
   *  with `into[i]` of the right length given for a null slot i, slot i is rebuilt into that buffer instead.
   *  Throws an Error with `code = 'BF_RS_TOO_FEW_SHARDS'` if fewer than k shards are present. */
  reconstruct(shards: (Uint8Array | null)[], opts?: { dataOnly?: boolean; into?: (Uint8Array | undefined)[] }): void;
}

/** True when the WebAssembly SIMD kernel loads in this runtime. */
export function simdAvailable(): boolean {
  return wasmKernel() !== null;
}

/** True when the optional ISA-L addon is built, loads and passes its self-check. */
export function nativeAvailable(): boolean {
  return nativeKernel() !== null;
}

/** The kernel `createReedSolomon(k, m)` uses by default here, with a one-line description. */
export interface CodecKernelInfo {
  readonly name: KernelName;
  /** e.g. "ISA-L (avx512) via native addon", "WebAssembly relaxed-simd", "portable TypeScript". */
  readonly detail: string;
  /** Why the native kernel is not in use ('' when it is). */
  readonly nativeStatus: string;
}

/** Which kernel encodes and reconstructs by default in this process (and, identically, in its compute workers). */
export function codecKernel(): CodecKernelInfo {
  const name = defaultKernel().name;
  const detail = name === 'native' ? `ISA-L (${nativeCpu}) via native addon`
    : name === 'simd' ? `WebAssembly ${wasmVariant}` : 'portable TypeScript';
  return { name, detail, nativeStatus };
}

/** native, else simd, else portable. */
function defaultKernel(): Kernel {
  return nativeKernel() ?? wasmKernel() ?? portableKernel;
}

/** The all-ones row over two inputs: its product is their XOR. */
const XOR_ROW = matrix(1, 2, Uint8Array.of(1, 1));

/** Bytes the kernels' vector loops step by at most (ISA-L AVX-512): whole steps are safe in place. */
const XOR_STEP = 64;

/**
 * into ^= from over [0, min of their lengths), in place, with `kernel` (default: this process's): the product of
 * the all-ones row (Tier 4's level-2 parity, docs/FORMAT.md), so ISA-L's or the SIMD kernel's vector loop does it.
 * Over whole 64-byte steps each kernel reads a position of both inputs before it writes it there, so `into` can
 * be input and output; a shorter tail is XORed here, because ISA-L finishes a ragged length by redoing the last
 * full vector, which would read bytes it has already written (test/codec/xor.test.ts).
 */
export function xorInto(into: Uint8Array, from: Uint8Array, kernel: Kernel = defaultKernel()): void {
  const n = Math.min(into.length, from.length);
  const body = n - (n % XOR_STEP);
  if (body > 0) kernel.matMul(XOR_ROW, [into, from], [into], body);
  for (let i = body; i < n; i++) into[i]! ^= from[i]!;
}

/**
 * `bytes` (>= 0, an integer) of memory that the default kernel reads and writes in place: encode and reconstruct
 * over shards that are views into it (e.g. `buf.subarray(i * L, (i + 1) * L)`) copy nothing in or out.
 * With the WASM kernel it is a block of the kernel's shared linear memory in this thread (a SharedArrayBuffer
 * view that stays valid as the memory grows; hand it back with releaseCodecBuffer to reuse it, the memory is
 * never returned to the OS). With the native kernel any memory is zero-copy and this is a plain SharedArrayBuffer.
 * Errors: BF_INTERNAL for a bad size or when the kernel's memory cannot grow (4 GiB at most).
 */
export function allocCodecBuffer(bytes: number): Uint8Array {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw misuse(`allocCodecBuffer needs a byte count, got ${bytes}`);
  const k = defaultKernel();
  const wasm = wasmKernel();
  if (k === wasm && wasm !== null) return wasm.allocate(bytes);
  return new Uint8Array(new SharedArrayBuffer(bytes));
}

/** Give back a buffer from allocCodecBuffer (the whole view it returned) for reuse; others are ignored. */
export function releaseCodecBuffer(buf: Uint8Array): void {
  const wasm = wasmKernel();
  if (wasm !== null) wasm.release(buf);
}

/** The caller's output buffer for a rebuilt shard when it has one of the right length, else a new one. */
function buffer(into: Uint8Array | undefined, len: number): Uint8Array {
  return into && into.length === len ? into : new Uint8Array(len);
}

/** Decode matrices kept per codec (keyed by the surviving-shard set). */
const DECODE_CACHE_SIZE = 16;

function misuse(message: string): BlockFrameError {
  return new BlockFrameError('BF_INTERNAL', `reed-solomon: ${message}`);
}

class Codec implements ReedSolomon {
  readonly dataShards: number;
  readonly parityShards: number;
  readonly kernel: KernelName;
  private readonly impl: Kernel;
  /** [I_k ; A], (k + m) x k. */
  private readonly gen: Matrix;
  /** A alone, m x k. */
  private readonly parity: Matrix;
  private readonly decodeCache = new Map<string, Matrix>();
  /** Rows of A per set of missing parity shards (up to 16 sets, then cleared). */
  private readonly parityRows = new Map<string, Matrix>();

  constructor(k: number, m: number, impl: Kernel) {
    this.dataShards = k;
    this.parityShards = m;
    this.impl = impl;
    this.kernel = impl.name;
    this.gen = encodingMatrix(k, m);
    this.parity = matrix(m, k, this.gen.data.slice(k * k));
  }

  encode(data: readonly Uint8Array[], parity: readonly Uint8Array[]): void {
    const { dataShards: k, parityShards: m } = this;
    if (data.length !== k) throw misuse(`encode needs ${k} data shards, got ${data.length}`);
    if (parity.length !== m) throw misuse(`encode needs ${m} parity shards, got ${parity.length}`);
    const len = k > 0 ? data[0].length : 0;
    for (const s of data) if (s.length !== len) throw misuse('data shards differ in length');
    for (const s of parity) if (s.length !== len) throw misuse('parity shards must have the data shard length');
    if (k === 1) {
      // Every coefficient is 1 when k = 1 (docs/codec.md): parity shards are copies of the data shard.
      for (const p of parity) {
        if (this.impl.copy) this.impl.copy(data[0], p);
        else p.set(data[0]);
      }
      return;
    }
    this.impl.matMul(this.parity, data, parity, len);
  }

  reconstruct(shards: (Uint8Array | null)[], opts?: { dataOnly?: boolean; into?: (Uint8Array | undefined)[] }): void {
    const { dataShards: k, parityShards: m } = this;
    if (shards.length !== k + m) throw misuse(`reconstruct needs ${k + m} shard slots, got ${shards.length}`);
    const present: number[] = [];
    let len = -1;
    for (let i = 0; i < shards.length; i++) {
      const s = shards[i];
      if (s === null || s === undefined) continue;
      if (len === -1) len = s.length;
      else if (s.length !== len) throw misuse('present shards differ in length');
      present.push(i);
    }
    if (present.length < k) {
      throw new BlockFrameError('BF_RS_TOO_FEW_SHARDS', `only ${present.length} of ${k + m} shards survive; ${k} are needed`, {
        present: present.length, needed: k,
      });
    }
    const missingData: number[] = [];
    for (let i = 0; i < k; i++) if (shards[i] == null) missingData.push(i);
    if (missingData.length > 0) {
      const use = present.slice(0, k);
      const inputs = use.map((i) => shards[i] as Uint8Array);
      const coeffs = this.decodeRows(use, missingData);
      const outputs = missingData.map((i) => buffer(opts?.into?.[i], len));
      this.impl.matMul(coeffs, inputs, outputs, len);
      missingData.forEach((i, n) => { shards[i] = outputs[n]; });
    }
    if (opts?.dataOnly) return;
    const missingParity: number[] = [];
    for (let i = 0; i < m; i++) if (shards[k + i] == null) missingParity.push(i);
    if (missingParity.length === 0) return;
    const outputs = missingParity.map((i) => buffer(opts?.into?.[k + i], len));
    const key = missingParity.join(',');
    let rows = this.parityRows.get(key);
    if (rows === undefined) {
      if (this.parityRows.size >= DECODE_CACHE_SIZE) this.parityRows.clear();
      this.parityRows.set(key, (rows = selectRows(this.parity, missingParity)));
    }
    this.impl.matMul(rows, shards.slice(0, k) as Uint8Array[], outputs, len);
    missingParity.forEach((i, n) => { shards[k + i] = outputs[n]; });
  }

  /**
   * Rows `missing` of the inverse of the generator rows `use` (k surviving shards): they map those shards back
   * to the missing data shards. Cached (the last 16 erasure patterns), so the kernels' per-matrix tables are too.
   */
  private decodeRows(use: number[], missing: number[]): Matrix {
    const key = `${use.join(',')}/${missing.join(',')}`;
    const hit = this.decodeCache.get(key);
    if (hit !== undefined) {
      this.decodeCache.delete(key);
      this.decodeCache.set(key, hit);
      return hit;
    }
    const rows = selectRows(invert(selectRows(this.gen, use)), missing);
    this.decodeCache.set(key, rows);
    if (this.decodeCache.size > DECODE_CACHE_SIZE) this.decodeCache.delete(this.decodeCache.keys().next().value as string);
    return rows;
  }
}

/**
 * A Reed-Solomon codec with k data and m parity shards (1 <= k, 0 <= m, k + m <= 256); see docs/codec.md.
 * kernel 'auto' (default) picks native (ISA-L addon) when built, else SIMD when available, else portable; every
 * kernel gives identical bytes. An explicit 'native' or 'simd' throws BF_INTERNAL when that kernel is unavailable.
 * Errors: BF_RS_INVALID for a bad shape.
 */
export function createReedSolomon(k: number, m: number, opts?: { kernel?: KernelName | 'auto' }): ReedSolomon {
  checkShape(k, m);
  const want = opts?.kernel ?? 'auto';
  let impl: Kernel;
  if (want === 'portable') impl = portableKernel;
  else if (want === 'native') {
    const native = nativeKernel();
    if (native === null) throw misuse(`the native ISA-L kernel is not available: ${nativeStatus}`);
    impl = native;
  } else if (want === 'simd') {
    const simd = wasmKernel();
    if (simd === null) throw misuse('the WebAssembly SIMD kernel is not available in this runtime');
    impl = simd;
  } else impl = defaultKernel();
  return new Codec(k, m, impl);
}
