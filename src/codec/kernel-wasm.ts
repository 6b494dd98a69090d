// WebAssembly SIMD kernel loader: instantiates the embedded modules, owns their memories, multiplies in place or in tiles.
import { setFlagsFromString } from 'node:v8';
import { BlockFrameError } from '../errors.js';
import { MUL_TABLE, type Matrix } from './gf256.js';
import type { Kernel } from './kernel-portable.js';
import { RS_WASM_BASE64, RS_WASM_RELAXED_BASE64, RS_WASM_SHARED_BASE64, RS_WASM_SHARED_RELAXED_BASE64 } from './rs-wasm-binary.js';
import { WasmArena } from './wasm-arena.js';
import { WASM, type WasmMemory } from '../wasm.js';

interface RsExports {
  readonly memory: WasmMemory;
  heapBase(): number;
  copy(dst: number, src: number, n: number): void;
  /**
   * asm/rs.ts: outputs (^)= coefficients x inputs over [p0, p0 + n), n a multiple of 32; ins/outs are u32 address
   * lists, rb the tables' row pitch; flags bit 0: row 0 is all ones, bit 1: accumulate into the outputs.
   */
  matmul(tbl: number, rb: number, rows: number, cols: number, ins: number, outs: number, p0: number, n: number, flags: number): void;
}

/** Target bytes of (inputs + outputs) per copied tile: the tile stays in L2 while the kernel runs over it. */
const TILE_BUDGET = 1024 * 1024;
const MIN_STRIDE = 1024;
const MAX_STRIDE = 64 * 1024;
/**
 * Zero-copy: input columns per kernel pass, and bytes of every shard per pass (see matMul). Measured on RS(30,3)
 * with 1 MiB shards: all 30 columns at once ran at 9.7 GB/s encode and 7.3 reconstruct, blocks of 3 to 6
 * columns over 16 to 32 KiB at 11 to 12 for both.
 */
const ZC_COLS = 4;
const ZC_CHUNK = 32 * 1024;
/** The kernel works in 32-byte steps; a zero-copy call covers the 32-byte multiple, the tail goes through a tile. */
const STEP = 32;

const align = (n: number, a: number): number => Math.ceil(n / a) * a;

/** The 32-byte split-nibble tables of every coefficient of m, in row-major order (ISA-L's ec_init_tables layout). */
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

/** True when row 0 of m is all ones (parity 0 of every encode): the kernel then XORs it without lookups. */
function firstRowOnes(m: Matrix): boolean {
  for (let c = 0; c < m.cols; c++) if (m.data[c] !== 1) return false;
  return m.rows > 0;
}

/** One instance of the module: its memory, the blocks in it, and the tables last loaded there. */
class KernelMemory {
  readonly arena: WasmArena;
  /** Every ArrayBuffer the memory has had: a view on any of them is this memory (a shared one never detaches). */
  private readonly buffers = new WeakSet<object>();
  private mem: Uint8Array;
  private loadedTables: Matrix | null = null;
  /** Scratch block: tables, then the two address lists, then (tile path) the tiles. */
  private scratch = -1;
  private scratchSize = 0;

  constructor(readonly ex: RsExports) {
    this.arena = new WasmArena(ex.memory, ex.heapBase());
    this.mem = new Uint8Array(ex.memory.buffer);
    this.buffers.add(ex.memory.buffer);
  }

  /** The memory's current bytes (a grow replaces the buffer object). */
  view(): Uint8Array {
    const buf = this.ex.memory.buffer;
    if (this.mem.buffer !== buf) {
      this.mem = new Uint8Array(buf);
      this.buffers.add(buf);
    }
    return this.mem;
  }

  owns(a: Uint8Array): boolean {
    return this.buffers.has(a.buffer);
  }

  /** Scratch of at least `bytes` holding `tables` at its start; returns its offset. */
  prepare(coeffs: Matrix, tables: Uint8Array, bytes: number): number {
    if (this.scratchSize < bytes) {
      if (this.scratch >= 0) this.arena.release(this.scratch);
      this.scratch = this.arena.alloc(bytes);
      this.scratchSize = bytes;
      this.loadedTables = null;
    }
    if (this.loadedTables !== coeffs) {
      this.view().set(tables, this.scratch);
      this.loadedTables = coeffs;
    }
    return this.scratch;
  }
}

/**
 * The SIMD kernel. Ordinary buffers are copied through tiles in an instance with an ordinary memory; shards
 * that are blocks of the second instance's shared memory (allocate()) are multiplied in place there.
 */
export class WasmKernel implements Kernel {
  readonly name = 'simd' as const;
  private readonly tiles: KernelMemory;
  private shared: KernelMemory | null | undefined;
  private readonly tableCache = new WeakMap<Matrix, Uint8Array>();

  constructor(ex: RsExports, private readonly sharedModule: string) {
    this.tiles = new KernelMemory(ex);
  }

  /** The shared-memory instance, made on first use; null where it cannot be made. */
  private zeroCopyMemory(): KernelMemory | null {
    if (this.shared === undefined) {
      const ex = instantiate(this.sharedModule);
      this.shared = ex === null ? null : new KernelMemory(ex);
    }
    return this.shared;
  }

  /**
   * A block of `bytes` of the kernel's shared memory as a view (see allocCodecBuffer in index.ts); an ordinary
   * Uint8Array where shared WebAssembly memory is unavailable. Errors: BF_INTERNAL when the memory cannot grow.
   */
  allocate(bytes: number): Uint8Array {
    const zc = this.zeroCopyMemory();
    if (zc === null) return new Uint8Array(bytes);
    const offset = zc.arena.alloc(bytes);
    return zc.view().subarray(offset, offset + bytes);
  }

  /** Give a block from allocate() back (by its first byte); other arrays are ignored. */
  release(a: Uint8Array): void {
    const zc = this.shared;
    if (zc && zc.owns(a)) zc.arena.release(a.byteOffset);
  }

  /** Is `a` inside the kernel's shared memory (so multiplied in place)? */
  owns(a: Uint8Array): boolean {
    return this.shared ? this.shared.owns(a) : false;
  }

  /** dst.set(src) (equal lengths), done by the module when both are blocks of its shared memory. */
  copy(src: Uint8Array, dst: Uint8Array): void {
    const zc = this.shared;
    if (zc && zc.owns(src) && zc.owns(dst)) zc.ex.copy(dst.byteOffset, src.byteOffset, src.length);
    else dst.set(src);
  }

  matMul(coeffs: Matrix, inputs: readonly Uint8Array[], outputs: readonly Uint8Array[], len: number): void {
    const rows = outputs.length;
    const cols = inputs.length;
    if (coeffs.rows !== rows || coeffs.cols !== cols) throw new BlockFrameError('BF_INTERNAL', 'kernel: coefficient matrix shape mismatch');
    if (len === 0 || rows === 0) return;
    let tables = this.tableCache.get(coeffs);
    if (tables === undefined) {
      tables = buildTables(coeffs);
      this.tableCache.set(coeffs, tables);
    }
    const ones = firstRowOnes(coeffs) ? 1 : 0;
    const lists = align(tables.length + 4 * (rows + cols), 64);
    const zc = this.shared;
    let body = 0;
    if (zc && inputs.every((a) => zc.owns(a)) && outputs.every((a) => zc.owns(a))) {
      // Zero-copy: the kernel reads and writes the callers' blocks of its shared memory.
      body = len - (len % STEP);
      if (body > 0) {
        const tbl = zc.prepare(coeffs, tables, lists);
        const addrs = new Uint32Array(zc.view().buffer, tbl + tables.length, rows + cols);
        inputs.forEach((a, c) => { addrs[c] = a.byteOffset; });
        outputs.forEach((a, r) => { addrs[cols + r] = a.byteOffset; });
        const ins = tbl + tables.length;
        const outs = ins + 4 * cols;
        // Columns in blocks of ZC_COLS over ZC_CHUNK bytes: few enough input streams at a time for the
        // hardware prefetchers, while the chunk of outputs being accumulated stays in L2.
        for (let s = 0; s < body; s += ZC_CHUNK) {
          const n = Math.min(ZC_CHUNK, body - s);
          for (let c0 = 0; c0 < cols; c0 += ZC_COLS) {
            const g = Math.min(ZC_COLS, cols - c0);
            zc.ex.matmul(tbl + c0 * 32, cols * 32, rows, g, ins + 4 * c0, outs, s, n, ones | (c0 > 0 ? 2 : 0));
          }
        }
      }
      if (body === len) return;
    }
    const rest = len - body;
    const stride = Math.min(align(rest, STEP), Math.max(MIN_STRIDE, Math.min(MAX_STRIDE, Math.floor(TILE_BUDGET / (rows + cols) / STEP) * STEP)));
    const t = this.tiles;
    const tbl = t.prepare(coeffs, tables, lists + (rows + cols) * stride);
    const ins = tbl + tables.length;
    const outs = ins + 4 * cols;
    const inp = tbl + lists;
    const out = inp + cols * stride;
    const mem = t.view();
    const addrs = new Uint32Array(mem.buffer, ins, rows + cols);
    for (let c = 0; c < cols; c++) addrs[c] = inp + c * stride;
    for (let r = 0; r < rows; r++) addrs[cols + r] = out + r * stride;
    for (let s = body; s < len; s += stride) {
      const n = Math.min(stride, len - s);
      for (let c = 0; c < cols; c++) mem.set(inputs[c].subarray(s, s + n), inp + c * stride);
      t.ex.matmul(tbl, cols * 32, rows, cols, ins, outs, 0, align(n, STEP), ones);
      for (let r = 0; r < rows; r++) outputs[r].set(mem.subarray(out + r * stride, out + r * stride + n), s);
    }
  }
}

let loaded: WasmKernel | null | undefined;

function decode(b64: string): Uint8Array {
  return new Uint8Array(Buffer.from(b64, 'base64'));
}

function instantiate(b64: string): RsExports | null {
  try {
    const bytes = decode(b64);
    if (WASM === undefined || bytes.length === 0 || !WASM.validate(bytes)) return null;
    return new WASM.Instance(new WASM.Module(bytes), {}).exports as unknown as RsExports;
  } catch {
    return null;
  }
}

/**
 * Node 20 (V8 11.3) implements relaxed SIMD but ships it behind --experimental-wasm-relaxed-simd; Node >= 22 has
 * it on. Plain i8x16.swizzle costs V8 a saturating add before every pshufb (out-of-range lanes must give 0), so
 * where the relaxed module does not validate, turn the feature on (process-wide; it only adds the opcodes of the
 * WebAssembly relaxed-SIMD proposal, phase 4). BLOCKFRAME_WASM_RELAXED=0 leaves V8's flags alone.
 */
function enableRelaxedSimd(): void {
  if (process.env.BLOCKFRAME_WASM_RELAXED === '0') return;
  try {
    const bytes = decode(RS_WASM_RELAXED_BASE64);
    if (WASM === undefined || bytes.length === 0 || WASM.validate(bytes)) return;
    setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    // Unknown flag or no WebAssembly: the plain SIMD module is used.
  }
}

/** Which module variant loaded: relaxed SIMD (single-instruction swizzle), plain SIMD, or none. */
export let wasmVariant: 'relaxed-simd' | 'simd' | 'none' = 'none';

/**
 * The SIMD kernel, or null when this runtime cannot validate or run WebAssembly SIMD. Prefers the
 * relaxed-SIMD build (identical results: the kernel's swizzle indices are always 0..15).
 */
export function wasmKernel(): WasmKernel | null {
  if (loaded !== undefined) return loaded;
  enableRelaxedSimd();
  let ex = instantiate(RS_WASM_RELAXED_BASE64);
  if (ex !== null) {
    wasmVariant = 'relaxed-simd';
    loaded = new WasmKernel(ex, RS_WASM_SHARED_RELAXED_BASE64);
  } else {
    ex = instantiate(RS_WASM_BASE64);
    wasmVariant = ex !== null ? 'simd' : 'none';
    loaded = ex === null ? null : new WasmKernel(ex, RS_WASM_SHARED_BASE64);
  }
  return loaded;
}
