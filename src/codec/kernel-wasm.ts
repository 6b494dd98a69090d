// WebAssembly SIMD kernel loader: instantiates the embedded module, owns its linear memory, feeds it tiles.
import { BlockFrameError } from '../errors.js';
import { MUL_TABLE, type Matrix } from './gf256.js';
import type { Kernel } from './kernel-portable.js';
import { RS_WASM_BASE64, RS_WASM_RELAXED_BASE64 } from './rs-wasm-binary.js';
import { WASM, type WasmMemory } from '../wasm.js';


interface RsExports {
  readonly memory: WasmMemory;
  heapBase(): number;
  matmul(tbl: number, rows: number, cols: number, inp: number, out: number, stride: number, len: number): void;
}

/** Target bytes of (inputs + outputs) per tile: the tile stays in L2 while the kernel runs over it. */
const TILE_BUDGET = 1024 * 1024;
const MIN_STRIDE = 1024;
const MAX_STRIDE = 64 * 1024;
const PAGE = 65536;

const align = (n: number, a: number): number => Math.ceil(n / a) * a;

/** The 32-byte split-nibble tables of every coefficient of m, in row-major order. */
function buildTables(m: Matrix): Uint8Array {
  const t = new Uint8Array(m.data.length * 32);
  for (let i = 0; i < m.data.length; i++) {
    const row = m.data[i] << 8;
    for (let n = 0; n < 16; n++) {
      t[i * 32 + n] = MUL_TABLE[row | n];
      t[i * 32 + 16 + n] = MUL_TABLE[row | (n << 4)];
    }
  }
  return t;
}

class WasmKernel implements Kernel {
  readonly name = 'simd' as const;
  private readonly ex: RsExports;
  private readonly base: number;
  private mem: Uint8Array;
  private readonly tableCache = new WeakMap<Matrix, Uint8Array>();
  private loadedTables: Matrix | null = null;

  constructor(ex: RsExports) {
    this.ex = ex;
    this.base = align(ex.heapBase(), 64);
    this.mem = new Uint8Array(ex.memory.buffer);
  }

  private ensure(bytes: number): void {
    if (bytes > this.ex.memory.buffer.byteLength) {
      this.ex.memory.grow(Math.ceil((bytes - this.ex.memory.buffer.byteLength) / PAGE));
    }
    if (this.mem.buffer !== this.ex.memory.buffer || this.mem.length === 0) this.mem = new Uint8Array(this.ex.memory.buffer);
  }

  matMul(coeffs: Matrix, inputs: readonly Uint8Array[], outputs: readonly Uint8Array[], len: number): void {
    const rows = outputs.length;
    const cols = inputs.length;
    if (coeffs.rows !== rows || coeffs.cols !== cols) throw new BlockFrameError('BF_INTERNAL', 'kernel: coefficient matrix shape mismatch');
    if (len === 0 || rows === 0) return;
    if (cols === 1 && coeffs.data.every((c) => c === 1)) {
      // k = 1 (replication): every output is a copy of the single input.
      for (const out of outputs) out.set(inputs[0].subarray(0, len));
      return;
    }
    let tables = this.tableCache.get(coeffs);
    if (tables === undefined) {
      tables = buildTables(coeffs);
      this.tableCache.set(coeffs, tables);
    }
    const stride = Math.min(align(len, 32), Math.max(MIN_STRIDE, Math.min(MAX_STRIDE, Math.floor(TILE_BUDGET / (rows + cols) / 32) * 32)));
    const tbl = this.base;
    const inp = align(tbl + tables.length, 64);
    const out = inp + cols * stride;
    this.ensure(out + rows * stride);
    if (this.loadedTables !== coeffs) {
      this.mem.set(tables, tbl);
      this.loadedTables = coeffs;
    }
    const mem = this.mem;
    for (let s = 0; s < len; s += stride) {
      const n = Math.min(stride, len - s);
      for (let c = 0; c < cols; c++) mem.set(inputs[c].subarray(s, s + n), inp + c * stride);
      this.ex.matmul(tbl, rows, cols, inp, out, stride, n);
      for (let r = 0; r < rows; r++) outputs[r].set(mem.subarray(out + r * stride, out + r * stride + n), s);
    }
  }
}

let loaded: WasmKernel | null | undefined;

function decode(b64: string): Uint8Array {
  return new Uint8Array(Buffer.from(b64, 'base64'));
}

function instantiate(b64: string): WasmKernel | null {
  try {
    const bytes = decode(b64);
    if (WASM === undefined || bytes.length === 0 || !WASM.validate(bytes)) return null;
    const instance = new WASM.Instance(new WASM.Module(bytes), {});
    return new WasmKernel(instance.exports as unknown as RsExports);
  } catch {
    return null;
  }
}

/** Which module variant loaded: relaxed SIMD (single-instruction swizzle), plain SIMD, or none. */
export let wasmVariant: 'relaxed-simd' | 'simd' | 'none' = 'none';

/**
 * The SIMD kernel, or null when this runtime cannot validate or run WebAssembly SIMD. Prefers the
 * relaxed-SIMD build (identical results: the kernel's swizzle indices are always 0..15).
 */
export function wasmKernel(): Kernel | null {
  if (loaded !== undefined) return loaded;
  loaded = instantiate(RS_WASM_RELAXED_BASE64);
  if (loaded !== null) wasmVariant = 'relaxed-simd';
  else {
    loaded = instantiate(RS_WASM_BASE64);
    wasmVariant = loaded !== null ? 'simd' : 'none';
  }
  return loaded;
}
