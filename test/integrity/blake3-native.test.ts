// The native BLAKE3 stream (@napi-rs/blake-hash) agrees with the WASM kernel, also on SharedArrayBuffer views.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { createNativeBlake3, nativeBlake3Available } from '../../src/integrity/blake3-native.js';
import { blake3Simd } from '../../src/integrity/blake3-simd.js';
import { BLAKE3_STREAM_BACKEND } from '../../src/integrity/blake3.js';
import { toHex } from '../../src/integrity/hex.js';
import { randomBytesSeeded } from '../helpers/fixtures.js';

test('the stream backend is native where it loads', () => {
  assert.equal(BLAKE3_STREAM_BACKEND === 'native', nativeBlake3Available());
});

test('native BLAKE3 equals the WASM kernel for split SharedArrayBuffer views (property)', { skip: nativeBlake3Available() ? false : 'the native BLAKE3 package does not load here' }, () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 300_000 }), fc.array(fc.integer({ min: 0, max: 300_000 }), { maxLength: 4 }), fc.integer(), (size, cuts, seed) => {
      const shared = new Uint8Array(new SharedArrayBuffer(size + 16));
      const data = shared.subarray(7, 7 + size);
      data.set(randomBytesSeeded(size, seed));
      const h = createNativeBlake3();
      const points = [0, ...cuts.map((c) => c % (size + 1)).sort((a, b) => a - b), size];
      for (let i = 1; i < points.length; i++) h.update(data.subarray(points[i - 1], points[i]));
      assert.equal(toHex(h.digest()), toHex(blake3Simd(data.slice())));
    }),
    { numRuns: 60, seed: 3 },
  );
});
