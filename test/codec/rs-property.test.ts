// fast-check property tests of the Reed-Solomon codec and of kernel equivalence (SIMD vs portable).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createReedSolomon, simdAvailable } from '../../src/codec/index.js';
import { matrix } from '../../src/codec/gf256.js';
import { portableKernel } from '../../src/codec/kernel-portable.js';
import { wasmKernel } from '../../src/codec/kernel-wasm.js';
import { randomShards, zeroShards } from './helpers.js';

const length = fc.oneof(fc.constantFrom(0, 1, 15, 16, 17, 31, 33), fc.integer({ min: 0, max: 3000 }));

const scenario = fc.record({ k: fc.integer({ min: 1, max: 64 }), m: fc.integer({ min: 0, max: 32 }) })
  .filter(({ k, m }) => k + m <= 256)
  .chain(({ k, m }) => fc.record({
    k: fc.constant(k),
    m: fc.constant(m),
    len: length,
    seed: fc.integer(),
    erase: fc.uniqueArray(fc.integer({ min: 0, max: k + m - 1 }), { maxLength: m }),
    dataOnly: fc.boolean(),
  }));

test('any erasure set of size <= m reconstructs byte-exact (property)', () => {
  fc.assert(fc.property(scenario, ({ k, m, len, seed, erase, dataOnly }) => {
    const rs = createReedSolomon(k, m);
    const data = randomShards(k, len, seed);
    const parity = zeroShards(m, len);
    rs.encode(data, parity);
    const full = [...data, ...parity];
    const shards: (Uint8Array | null)[] = full.slice();
    for (const i of erase) shards[i] = null;
    rs.reconstruct(shards, { dataOnly });
    for (let i = 0; i < k + m; i++) {
      if (dataOnly && i >= k && erase.includes(i)) assert.equal(shards[i], null);
      else assert.deepEqual(shards[i], full[i]);
    }
  }), { numRuns: 150 });
});

test('SIMD and portable codecs produce identical parity (property)', { skip: !simdAvailable() }, () => {
  fc.assert(fc.property(scenario, ({ k, m, len, seed }) => {
    const data = randomShards(k, len, seed);
    const a = zeroShards(m, len);
    const b = zeroShards(m, len);
    createReedSolomon(k, m, { kernel: 'simd' }).encode(data, a);
    createReedSolomon(k, m, { kernel: 'portable' }).encode(data, b);
    assert.deepEqual(a, b);
  }), { numRuns: 150 });
});

test('kernels agree on arbitrary coefficient matrices and unaligned views (property)', { skip: !simdAvailable() }, () => {
  const simd = wasmKernel();
  assert.ok(simd);
  const coef = fc.oneof(fc.constantFrom(0, 1), fc.integer({ min: 0, max: 255 }));
  const arb = fc.record({
    rows: fc.integer({ min: 1, max: 9 }),
    cols: fc.integer({ min: 1, max: 12 }),
    len: length,
    seed: fc.integer(),
    offset: fc.integer({ min: 0, max: 7 }),
  }).chain((s) => fc.record({ s: fc.constant(s), coeffs: fc.array(coef, { minLength: s.rows * s.cols, maxLength: s.rows * s.cols }) }));
  fc.assert(fc.property(arb, ({ s, coeffs }) => {
    const { rows, cols, len, seed, offset } = s;
    const c = matrix(rows, cols, Uint8Array.from(coeffs));
    const inputs = randomShards(cols, len + offset, seed).map((a) => a.subarray(offset));
    const a = randomShards(rows, len + offset, seed + 1).map((x) => x.subarray(offset)); // stale contents must be overwritten
    const b = randomShards(rows, len, seed + 2);
    simd.matMul(c, inputs, a, len);
    portableKernel.matMul(c, inputs, b, len);
    assert.deepEqual(a, b);
    // Reference: byte-at-a-time through the portable kernel's single-byte path on exact copies.
    for (let r = 0; r < rows; r++) {
      for (let p = 0; p < len; p += Math.max(1, len >> 3)) {
        let x = 0;
        for (let j = 0; j < cols; j++) {
          const one = new Uint8Array(1);
          portableKernel.matMul(matrix(1, 1, Uint8Array.of(c.data[r * cols + j])), [inputs[j].subarray(p, p + 1)], [one], 1);
          x ^= one[0];
        }
        assert.equal(a[r][p], x);
      }
    }
  }), { numRuns: 200 });
});
