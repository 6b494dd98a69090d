// Table-driven and known-answer tests of the Reed-Solomon codec (src/codec/index.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReedSolomon, nativeAvailable, RS_MATRIX, simdAvailable, type KernelName, type ReedSolomon } from '../../src/codec/index.js';
import { parityMatrix } from '../../src/codec/matrix.js';
import {
  countSubsetsUpTo, naiveCoefficient, naiveEncode, pickDistinct, prng, randomShards, subsetsUpTo, zeroShards,
} from './helpers.js';

const KERNELS: KernelName[] = [...(nativeAvailable() ? ['native' as const] : []), ...(simdAvailable() ? ['simd' as const] : []), 'portable'];
const SHAPES: [number, number][] = [[1, 1], [1, 3], [2, 2], [4, 2], [10, 4], [30, 3], [64, 32], [200, 56]];
const SIZES = [0, 1, 15, 16, 17, 1000, 65537];

function encodeAll(rs: ReedSolomon, data: Uint8Array[]): Uint8Array[] {
  const parity = zeroShards(rs.parityShards, data[0].length);
  rs.encode(data, parity);
  return parity;
}

/** Drops `erase`, reconstructs, and checks every shard is byte-exact (and present ones untouched). */
function checkRecovery(rs: ReedSolomon, full: Uint8Array[], erase: number[], dataOnly: boolean): void {
  const shards: (Uint8Array | null)[] = full.slice();
  for (const i of erase) shards[i] = null;
  rs.reconstruct(shards, { dataOnly });
  for (let i = 0; i < full.length; i++) {
    if (!erase.includes(i)) assert.equal(shards[i], full[i], `present shard ${i} was replaced`);
    else if (dataOnly && i >= rs.dataShards) assert.equal(shards[i], null, `parity ${i} rebuilt despite dataOnly`);
    else assert.deepEqual(shards[i], full[i], `shard ${i} differs after erasing [${erase}]`);
  }
}

for (const kernel of KERNELS) {
  for (const [k, m] of SHAPES) {
    test(`RS(${k},${m}) [${kernel}]: any <= m erasures recover, m+1 throw`, () => {
      const rs = createReedSolomon(k, m, { kernel });
      assert.equal(rs.kernel, kernel);
      const next = prng(k * 1000 + m);
      for (const len of SIZES) {
        if (kernel === 'portable' && k * m * len > 50_000_000) continue; // keep the slow kernel's runtime sane
        const data = randomShards(k, len, next());
        const full = [...data, ...encodeAll(rs, data)];
        const exhaustive = countSubsetsUpTo(k + m, m) <= 200;
        const sets = exhaustive ? subsetsUpTo(k + m, m) : Array.from({ length: len > 20000 ? 6 : 24 }, () =>
          pickDistinct(k + m, next() % (m + 1), next));
        if (!exhaustive) sets.push(pickDistinct(k + m, m, next), Array.from({ length: m }, (_, i) => i)); // m erasures; first m shards
        sets.forEach((erase, n) => checkRecovery(rs, full, erase, n % 3 === 2));
        const tooMany: (Uint8Array | null)[] = full.slice();
        for (const i of pickDistinct(k + m, m + 1, next)) tooMany[i] = null;
        assert.throws(() => rs.reconstruct(tooMany), (err: unknown) => (err as { code?: string }).code === 'BF_RS_TOO_FEW_SHARDS');
      }
    });
  }
}

test('known answer: parity equals a naive implementation of the docs/codec.md formula', () => {
  for (const [k, m, len] of [[1, 3, 9], [5, 3, 37], [30, 3, 33], [17, 9, 5], [3, 253, 2]] as const) {
    const data = randomShards(k, len, 42 + k);
    const expected = naiveEncode(k, m, data);
    for (const kernel of KERNELS) {
      assert.deepEqual(encodeAll(createReedSolomon(k, m, { kernel }), data), expected, `RS(${k},${m}) [${kernel}]`);
    }
    const a = parityMatrix(k, m);
    for (let i = 0; i < m; i++) for (let j = 0; j < k; j++) assert.equal(a.data[i * k + j], naiveCoefficient(k, i, j));
  }
});

test('docs/codec.md worked examples', () => {
  assert.equal(RS_MATRIX, 'cauchy-normalized-v1');
  assert.deepEqual([...parityMatrix(1, 3).data], [1, 1, 1]);
  const rs303 = parityMatrix(30, 3).data;
  assert.deepEqual([...rs303.subarray(0, 30)], new Array(30).fill(1));
  assert.deepEqual([...rs303.subarray(30, 36)], [0x01, 0x89, 0x7a, 0x11, 0xa4, 0x96]);
  assert.deepEqual([...rs303.subarray(60, 66)], [0x01, 0x73, 0x18, 0x4d, 0x5f, 0x15]);
  // k = 1: parity shards are copies of the data shard.
  const data = randomShards(1, 100, 7);
  for (const p of encodeAll(createReedSolomon(1, 3), data)) assert.deepEqual(p, data[0]);
  // parity 0 is the XOR of the data shards.
  const d4 = randomShards(4, 50, 8);
  const x = new Uint8Array(50);
  for (const d of d4) for (let i = 0; i < 50; i++) x[i] ^= d[i];
  assert.deepEqual(encodeAll(createReedSolomon(4, 2), d4)[0], x);
});

test('encoding in slices equals encoding whole shards', () => {
  for (const kernel of KERNELS) {
    for (const [k, m] of [[30, 3], [10, 4], [1, 3], [7, 0]] as const) {
      const rs = createReedSolomon(k, m, { kernel });
      const len = 3 * 65536 + 4099;
      const data = randomShards(k, len, k + m);
      const whole = encodeAll(rs, data);
      const sliced = zeroShards(m, len);
      const next = prng(99);
      for (let s = 0; s < len;) {
        const n = Math.min(len - s, [1, 15, 1000, 4097, 65536, 100_000][next() % 6]);
        rs.encode(data.map((d) => d.subarray(s, s + n)), sliced.map((p) => p.subarray(s, s + n)));
        s += n;
      }
      assert.deepEqual(sliced, whole, `RS(${k},${m}) [${kernel}]`);
    }
  }
});

test('encode overwrites stale parity and m = 0 is a no-op', () => {
  for (const kernel of KERNELS) {
    const rs = createReedSolomon(3, 2, { kernel });
    const data = randomShards(3, 33, 5);
    const clean = encodeAll(rs, data);
    const dirty = randomShards(2, 33, 6);
    rs.encode(data, dirty);
    assert.deepEqual(dirty, clean);
    const rs0 = createReedSolomon(3, 0, { kernel });
    rs0.encode(data, []);
    const shards: (Uint8Array | null)[] = [...data];
    rs0.reconstruct(shards);
    assert.deepEqual(shards, data);
  }
});

test('argument checks', () => {
  assert.throws(() => createReedSolomon(0, 1), (e: any) => e.code === 'BF_RS_INVALID');
  assert.throws(() => createReedSolomon(200, 57), (e: any) => e.code === 'BF_RS_INVALID');
  assert.throws(() => createReedSolomon(1.5, 1), (e: any) => e.code === 'BF_RS_INVALID');
  assert.doesNotThrow(() => createReedSolomon(256, 0));
  assert.doesNotThrow(() => createReedSolomon(1, 255));
  const rs = createReedSolomon(2, 1);
  assert.throws(() => rs.encode([new Uint8Array(2)], [new Uint8Array(2)]));
  assert.throws(() => rs.encode([new Uint8Array(2), new Uint8Array(3)], [new Uint8Array(2)]));
  assert.throws(() => rs.encode([new Uint8Array(2), new Uint8Array(2)], [new Uint8Array(3)]));
  assert.throws(() => rs.reconstruct([new Uint8Array(2), null]));
  assert.throws(() => rs.reconstruct([new Uint8Array(2), null, new Uint8Array(3)]));
});

test('kernel auto picks native, else simd, else portable', () => {
  assert.equal(createReedSolomon(4, 2).kernel, nativeAvailable() ? 'native' : simdAvailable() ? 'simd' : 'portable');
  assert.equal(createReedSolomon(4, 2, { kernel: 'portable' }).kernel, 'portable');
});
