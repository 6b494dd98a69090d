// Tests of GF(2^8) arithmetic and small-matrix algebra (src/codec/gf256.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as gf from '../../src/codec/gf256.js';
import { naiveInv, naiveMul } from './helpers.js';

const byte = fc.integer({ min: 0, max: 255 });
const nonzero = fc.integer({ min: 1, max: 255 });

test('mul agrees with a naive shift-and-add multiply on all 65536 pairs', () => {
  for (let a = 0; a < 256; a++) for (let b = 0; b < 256; b++) assert.equal(gf.mul(a, b), naiveMul(a, b), `${a}*${b}`);
});

test('exp/log tables: 2 generates the multiplicative group', () => {
  const seen = new Set<number>();
  for (let i = 0; i < 255; i++) seen.add(gf.EXP[i]);
  assert.equal(seen.size, 255);
  assert.ok(!seen.has(0));
  assert.equal(gf.EXP[8], 0x1d); // 2^8 = x^4 + x^3 + x^2 + 1
});

test('field axioms (property)', () => {
  fc.assert(fc.property(byte, byte, byte, (a, b, c) => {
    assert.equal(gf.mul(a, b), gf.mul(b, a));
    assert.equal(gf.mul(a, gf.mul(b, c)), gf.mul(gf.mul(a, b), c));
    assert.equal(gf.mul(a, b ^ c), gf.mul(a, b) ^ gf.mul(a, c));
    assert.equal(gf.mul(a, 1), a);
    assert.equal(gf.mul(a, 0), 0);
    assert.equal(gf.add(a, a), 0);
  }), { numRuns: 2000 });
});

test('inv and div', () => {
  for (let a = 1; a < 256; a++) {
    assert.equal(gf.inv(a), naiveInv(a));
    assert.equal(gf.mul(a, gf.inv(a)), 1);
  }
  fc.assert(fc.property(byte, nonzero, (a, b) => {
    assert.equal(gf.mul(gf.div(a, b), b), a);
    assert.equal(gf.div(a, b), gf.mul(a, gf.inv(b)));
  }));
  assert.throws(() => gf.inv(0), (e: any) => e.code === 'BF_INTERNAL');
  assert.throws(() => gf.div(1, 0), (e: any) => e.code === 'BF_INTERNAL');
  assert.equal(gf.pow(2, 8), 0x1d);
  assert.equal(gf.pow(7, 0), 1);
});

test('matrix invert: M * M^-1 = I for random invertible matrices', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 12 }), fc.integer(), (n, seed) => {
    // Lower-unitriangular times upper-triangular with non-zero diagonal: always invertible.
    let s = seed >>> 0 || 1;
    const next = (): number => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s & 0xff; };
    const l = gf.identity(n);
    const u = gf.identity(n);
    for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) {
      if (c < r) l.data[r * n + c] = next();
      if (c > r) u.data[r * n + c] = next();
      if (c === r) u.data[r * n + c] = (next() % 255) + 1;
    }
    const m = gf.matMul(l, u);
    assert.deepEqual(gf.matMul(m, gf.invert(m)).data, gf.identity(n).data);
    assert.deepEqual(gf.matMul(gf.invert(m), m).data, gf.identity(n).data);
  }));
  assert.throws(() => gf.invert(gf.matrix(2, 2, new Uint8Array([1, 2, 2, 4]))), /singular/);
});
