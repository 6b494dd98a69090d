// GF(2^8) arithmetic (polynomial 0x11d, generator 2): tables, scalar ops and small-matrix algebra.
import { BlockFrameError } from '../errors.js';

/** The field's reducing polynomial x^8 + x^4 + x^3 + x^2 + 1. */
export const GF_POLY = 0x11d;

/** EXP[i] = 2^i for i in 0..509 (doubled so EXP[LOG[a] + LOG[b]] needs no modulo). */
export const EXP: Uint8Array = new Uint8Array(510);
/** LOG[a] = discrete log base 2 of a, for a in 1..255. LOG[0] is unused (0). */
export const LOG: Uint8Array = new Uint8Array(256);
/** MUL_TABLE[(a << 8) | b] = a * b: 64 KiB, one 256-byte row per multiplier a. */
export const MUL_TABLE: Uint8Array = new Uint8Array(65536);

{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    EXP[i + 255] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= GF_POLY;
  }
  for (let a = 1; a < 256; a++) {
    const la = LOG[a];
    const row = a << 8;
    for (let b = 1; b < 256; b++) MUL_TABLE[row | b] = EXP[la + LOG[b]];
  }
}

/** Addition (and subtraction) in GF(2^8) is XOR. */
export function add(a: number, b: number): number {
  return (a ^ b) & 0xff;
}

export function mul(a: number, b: number): number {
  return MUL_TABLE[((a & 0xff) << 8) | (b & 0xff)];
}

export function inv(a: number): number {
  a &= 0xff;
  if (a === 0) throw new BlockFrameError('BF_INTERNAL', 'gf256: 0 has no inverse');
  return EXP[255 - LOG[a]];
}

export function div(a: number, b: number): number {
  a &= 0xff;
  b &= 0xff;
  if (b === 0) throw new BlockFrameError('BF_INTERNAL', 'gf256: division by 0');
  if (a === 0) return 0;
  return EXP[LOG[a] + 255 - LOG[b]];
}

/** a^n for integer n >= 0 (0^0 = 1). */
export function pow(a: number, n: number): number {
  a &= 0xff;
  if (n === 0) return 1;
  if (a === 0) return 0;
  return EXP[(LOG[a] * n) % 255];
}

/** A dense rows x cols matrix over GF(2^8), row-major. */
export interface Matrix {
  readonly rows: number;
  readonly cols: number;
  readonly data: Uint8Array;
}

export function matrix(rows: number, cols: number, data?: Uint8Array): Matrix {
  if (data !== undefined && data.length !== rows * cols) throw new BlockFrameError('BF_INTERNAL', 'gf256: matrix data has the wrong size');
  return { rows, cols, data: data ?? new Uint8Array(rows * cols) };
}

export function identity(n: number): Matrix {
  const m = matrix(n, n);
  for (let i = 0; i < n; i++) m.data[i * n + i] = 1;
  return m;
}

export function get(m: Matrix, r: number, c: number): number {
  return m.data[r * m.cols + c];
}

/** Product a x b. */
export function matMul(a: Matrix, b: Matrix): Matrix {
  if (a.cols !== b.rows) throw new BlockFrameError('BF_INTERNAL', 'gf256: matrix shapes do not match');
  const out = matrix(a.rows, b.cols);
  for (let r = 0; r < a.rows; r++) {
    for (let i = 0; i < a.cols; i++) {
      const x = a.data[r * a.cols + i];
      if (x === 0) continue;
      const row = x << 8;
      const bOff = i * b.cols;
      const oOff = r * b.cols;
      for (let c = 0; c < b.cols; c++) out.data[oOff + c] ^= MUL_TABLE[row | b.data[bOff + c]];
    }
  }
  return out;
}

/** The rows of m listed in `rows`, in that order. */
export function selectRows(m: Matrix, rows: readonly number[]): Matrix {
  const out = matrix(rows.length, m.cols);
  rows.forEach((r, i) => out.data.set(m.data.subarray(r * m.cols, (r + 1) * m.cols), i * m.cols));
  return out;
}

/** Inverse of a square matrix by Gauss-Jordan elimination; throws if it is singular. */
export function invert(m: Matrix): Matrix {
  const n = m.rows;
  if (m.cols !== n) throw new BlockFrameError('BF_INTERNAL', 'gf256: only square matrices can be inverted');
  const w = 2 * n;
  const aug = new Uint8Array(n * w);
  for (let r = 0; r < n; r++) {
    aug.set(m.data.subarray(r * n, (r + 1) * n), r * w);
    aug[r * w + n + r] = 1;
  }
  for (let col = 0; col < n; col++) {
    let pivot = col;
    while (pivot < n && aug[pivot * w + col] === 0) pivot++;
    if (pivot === n) throw new BlockFrameError('BF_INTERNAL', 'gf256: matrix is singular');
    if (pivot !== col) {
      const tmp = aug.slice(pivot * w, (pivot + 1) * w);
      aug.copyWithin(pivot * w, col * w, (col + 1) * w);
      aug.set(tmp, col * w);
    }
    const scale = inv(aug[col * w + col]) << 8;
    for (let c = 0; c < w; c++) aug[col * w + c] = MUL_TABLE[scale | aug[col * w + c]];
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = aug[r * w + col];
      if (f === 0) continue;
      const row = f << 8;
      for (let c = 0; c < w; c++) aug[r * w + c] ^= MUL_TABLE[row | aug[col * w + c]];
    }
  }
  const out = matrix(n, n);
  for (let r = 0; r < n; r++) out.data.set(aug.subarray(r * w + n, (r + 1) * w), r * n);
  return out;
}
