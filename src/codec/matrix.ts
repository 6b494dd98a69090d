// The systematic encoding matrix of BlockFrame's Reed-Solomon code (normalised Cauchy parity rows).
import { BlockFrameError } from '../errors.js';
//
// Construction (all arithmetic in GF(2^8) with polynomial 0x11d unless written as an integer):
//   k data shards (columns j = 0..k-1), m parity shards (rows i = 0..m-1), 1 <= k, 0 <= m, k + m <= 256.
//   Cauchy points: x_i = k + i (integer sum, 0..255) and y_j = j; the two sets are disjoint.
//   Raw Cauchy matrix: c[i][j] = 1 / (x_i XOR y_j).
//   Normalised so that row 0 and column 0 are all ones (scaling rows and columns keeps every square
//   submatrix non-singular, so the code stays MDS):
//       a[i][j] = c[i][j] * c[0][0] / (c[0][j] * c[i][0])
//               = ((k XOR j) * (k + i)) / (((k + i) XOR j) * k)
//   Parity byte:  parity_i[p] = XOR over j of a[i][j] * data_j[p]   (for every byte position p).
//   Consequences: parity 0 is the plain XOR of the data shards; with k = 1 every parity shard is a copy
//   of the data shard; row i does not depend on m, so adding parity shards never changes earlier ones.
// The full generator is [I_k ; A]; every k x k submatrix of it is invertible (every square submatrix of a
// Cauchy matrix, and of its row/column rescaling, is non-singular), so any k shards recover the data.
import { div, matrix, mul, type Matrix } from './gf256.js';

export const MAX_TOTAL_SHARDS = 256;

/** Manifest identifier of this construction (erasure_coding.matrix); bump it if the formula ever changes. */
export const RS_MATRIX = 'cauchy-normalized-v1';
/** Manifest identifier of the field (erasure_coding.field). */
export const RS_FIELD = 'gf(2^8)/0x11d';

export function checkShape(k: number, m: number): void {
  if (!Number.isInteger(k) || !Number.isInteger(m) || k < 1 || m < 0 || k + m > MAX_TOTAL_SHARDS) {
    throw new BlockFrameError('BF_RS_INVALID', `reed-solomon: invalid shape k=${k}, m=${m} (need 1 <= k, 0 <= m, k + m <= 256)`, { k, m });
  }
}

/** The coefficient a[i][j] multiplying data shard j in parity shard i. */
export function parityCoefficient(k: number, i: number, j: number): number {
  const x = k + i;
  return div(mul(k ^ j, x), mul(x ^ j, k));
}

/** The m x k parity matrix A. */
export function parityMatrix(k: number, m: number): Matrix {
  checkShape(k, m);
  const a = matrix(m, k);
  for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) a.data[i * k + j] = parityCoefficient(k, i, j);
  return a;
}

/** The (k + m) x k generator [I_k ; A]: row r gives shard r as a combination of the data shards. */
export function encodingMatrix(k: number, m: number): Matrix {
  const a = parityMatrix(k, m);
  const g = matrix(k + m, k);
  for (let r = 0; r < k; r++) g.data[r * k + r] = 1;
  g.data.set(a.data, k * k);
  return g;
}
