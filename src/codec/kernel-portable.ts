// Portable TypeScript GF(2^8) matrix-times-shards kernel (the fallback when WebAssembly SIMD is missing).
import { BlockFrameError } from '../errors.js';
import { MUL_TABLE, type Matrix } from './gf256.js';

/** A kernel computes outputs[r][p] = XOR over c of coeffs[r][c] * inputs[c][p] for p in [0, len). */
export interface Kernel {
  readonly name: 'native' | 'simd' | 'portable';
  /** coeffs is outputs.length x inputs.length; every output is fully overwritten on [0, len). */
  matMul(coeffs: Matrix, inputs: readonly Uint8Array[], outputs: readonly Uint8Array[], len: number): void;
  /** dst.set(src) for equal lengths, where the kernel has a faster way (the WASM kernel's shared memory). */
  copy?(src: Uint8Array, dst: Uint8Array): void;
}

/** Bytes per column tile: each output tile stays in L1 while every input is streamed over it. */
const TILE = 16 * 1024;

/** 32-bit view of a byte array, or null when its start is not 4-byte aligned. */
function words(a: Uint8Array): Uint32Array | null {
  return a.byteOffset % 4 === 0 ? new Uint32Array(a.buffer, a.byteOffset, a.length >>> 2) : null;
}

/** out[s..e) (=|^=) coef * inp[s..e) where coef >= 2; `assign` overwrites instead of accumulating. */
function mulRange(
  coef: number, inp: Uint8Array, out: Uint8Array, in32: Uint32Array | null, out32: Uint32Array | null,
  s: number, e: number, assign: boolean,
): void {
  const base = coef << 8;
  const t = MUL_TABLE;
  let p = s;
  if (in32 !== null && out32 !== null) {
    const we = (e >>> 2);
    let w = s >>> 2; // s is a multiple of TILE, hence of 4
    if (assign) {
      for (; w < we; w++) {
        const v = in32[w];
        out32[w] = t[base | (v & 255)] | (t[base | ((v >>> 8) & 255)] << 8) |
          (t[base | ((v >>> 16) & 255)] << 16) | (t[base | (v >>> 24)] << 24);
      }
    } else {
      for (; w < we; w++) {
        const v = in32[w];
        out32[w] ^= t[base | (v & 255)] | (t[base | ((v >>> 8) & 255)] << 8) |
          (t[base | ((v >>> 16) & 255)] << 16) | (t[base | (v >>> 24)] << 24);
      }
    }
    p = we << 2;
  }
  if (assign) for (; p < e; p++) out[p] = t[base | inp[p]];
  else for (; p < e; p++) out[p] ^= t[base | inp[p]];
}

function xorRange(inp: Uint8Array, out: Uint8Array, in32: Uint32Array | null, out32: Uint32Array | null, s: number, e: number): void {
  let p = s;
  if (in32 !== null && out32 !== null) {
    const we = e >>> 2;
    for (let w = s >>> 2; w < we; w++) out32[w] ^= in32[w];
    p = we << 2;
  }
  for (; p < e; p++) out[p] ^= inp[p];
}

export const portableKernel: Kernel = {
  name: 'portable',
  matMul(coeffs, inputs, outputs, len) {
    const rows = outputs.length;
    const cols = inputs.length;
    if (coeffs.rows !== rows || coeffs.cols !== cols) throw new BlockFrameError('BF_INTERNAL', 'kernel: coefficient matrix shape mismatch');
    const in32 = inputs.map(words);
    const out32 = outputs.map(words);
    const c = coeffs.data;
    const tile = cols === 1 ? Math.max(len, 1) : TILE; // one input: no reuse to gain from tiling
    for (let s = 0; s < len; s += tile) {
      const e = Math.min(len, s + tile);
      for (let r = 0; r < rows; r++) {
        const out = outputs[r];
        let first = true;
        for (let j = 0; j < cols; j++) {
          const coef = c[r * cols + j];
          if (coef === 0) continue;
          const inp = inputs[j];
          if (coef === 1) {
            if (first) out.set(inp.subarray(s, e), s);
            else xorRange(inp, out, in32[j], out32[r], s, e);
          } else {
            mulRange(coef, inp, out, in32[j], out32[r], s, e, first);
          }
          first = false;
        }
        if (first) out.fill(0, s, e);
      }
    }
  },
};
