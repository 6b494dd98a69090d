// Shared helpers for the codec tests: a seeded PRNG, shard builders and a naive GF(2^8) reference.

/** xorshift32: deterministic bytes for reproducible tests. */
export function prng(seed: number): () => number {
  let x = (seed >>> 0) || 0x9e3779b9;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
}

export function randomShards(count: number, len: number, seed: number): Uint8Array[] {
  const next = prng(seed);
  return Array.from({ length: count }, () => {
    const a = new Uint8Array(len);
    for (let i = 0; i < len; i++) a[i] = next() & 0xff;
    return a;
  });
}

export function zeroShards(count: number, len: number): Uint8Array[] {
  return Array.from({ length: count }, () => new Uint8Array(len));
}

/** Fisher-Yates pick of `n` distinct values from 0..total-1. */
export function pickDistinct(total: number, n: number, next: () => number): number[] {
  const all = Array.from({ length: total }, (_, i) => i);
  for (let i = total - 1; i > 0; i--) {
    const j = next() % (i + 1);
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, n);
}

/** How many subsets of 0..total-1 have at most `max` elements (capped at 1e9). */
export function countSubsetsUpTo(total: number, max: number): number {
  let sum = 0;
  let c = 1; // C(total, i)
  for (let i = 0; i <= max && sum < 1e9; i++) {
    sum += c;
    c = (c * (total - i)) / (i + 1);
  }
  return Math.min(sum, 1e9);
}

/** Every subset of 0..total-1 with at most `max` elements. */
export function subsetsUpTo(total: number, max: number): number[][] {
  const out: number[][] = [];
  const rec = (start: number, cur: number[]): void => {
    out.push([...cur]);
    if (cur.length === max) return;
    for (let i = start; i < total; i++) rec(i + 1, [...cur, i]);
  };
  rec(0, []);
  return out;
}

/** Naive GF(2^8) multiply by shift-and-add, reducing by 0x11d: independent of src/codec/gf256.ts. */
export function naiveMul(a: number, b: number): number {
  let r = 0;
  while (b > 0) {
    if (b & 1) r ^= a;
    a <<= 1;
    if (a & 0x100) a ^= 0x11d;
    b >>= 1;
  }
  return r;
}

/** Naive inverse by exhaustive search. */
export function naiveInv(a: number): number {
  for (let x = 1; x < 256; x++) if (naiveMul(a, x) === 1) return x;
  throw new Error(`no inverse for ${a}`);
}

/** docs/codec.md: a[i][j] = ((k XOR j) * (k + i)) / (((k + i) XOR j) * k). */
export function naiveCoefficient(k: number, i: number, j: number): number {
  const x = k + i;
  return naiveMul(naiveMul(k ^ j, x), naiveInv(naiveMul(x ^ j, k)));
}

/** docs/codec.md: parity_i[p] = XOR over j of a[i][j] * data_j[p]. */
export function naiveEncode(k: number, m: number, data: Uint8Array[]): Uint8Array[] {
  const len = data[0].length;
  return Array.from({ length: m }, (_, i) => {
    const out = new Uint8Array(len);
    for (let j = 0; j < k; j++) {
      const a = naiveCoefficient(k, i, j);
      for (let p = 0; p < len; p++) out[p] ^= naiveMul(a, data[j][p]);
    }
    return out;
  });
}
