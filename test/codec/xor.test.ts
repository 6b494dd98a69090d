// xorInto (Tier 4's level-2 fold) on every kernel: in place, any length and alignment, equal to a plain byte loop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocCodecBuffer, releaseCodecBuffer, xorInto } from '../../src/codec/index.js';
import { nativeKernel } from '../../src/codec/kernel-native.js';
import { portableKernel, type Kernel } from '../../src/codec/kernel-portable.js';
import { wasmKernel } from '../../src/codec/kernel-wasm.js';
import { prng } from './helpers.js';

const kernels: [string, Kernel | null][] = [
  ['portable', portableKernel],
  ['wasm', wasmKernel()],
  ['native (ISA-L)', nativeKernel()],
];
// Lengths around the kernels' 32- and 64-byte steps and tiles; offsets that break 4-byte alignment.
const LENGTHS = [1, 3, 31, 32, 33, 63, 64, 65, 1000, 16 * 1024 + 5, 65536 + 7];
const OFFSETS = [0, 1, 3];

function seeded(n: number, seed: number): Uint8Array {
  const r = prng(seed);
  const a = new Uint8Array(n);
  for (let i = 0; i < n; i++) a[i] = r() & 0xff;
  return a;
}

for (const [name, kernel] of kernels) {
  test(`xorInto in place equals a byte loop: ${name} kernel`, { skip: kernel ? false : `${name} kernel not available here` }, () => {
    for (const len of LENGTHS) {
      for (const off of OFFSETS) {
        const into = seeded(len + off, len * 7 + off).subarray(off);
        const from = seeded(len + 2 * off, len * 13 + off).subarray(2 * off);
        const want = into.map((b, i) => b ^ from[i]!);
        xorInto(into, from, kernel!);
        assert.deepEqual(into, want, `length ${len}, offset ${off}`);
      }
    }
  });
}

test('xorInto covers only the shorter length, and works on the codec buffers the WASM kernel shares without a copy', () => {
  const into = allocCodecBuffer(4096);
  const from = allocCodecBuffer(4096);
  into.set(seeded(4096, 5));
  from.set(seeded(4096, 6));
  const want = into.map((b, i) => (i < 1000 ? b ^ from[i]! : b));
  xorInto(into, from.subarray(0, 1000));
  assert.deepEqual(into, want);
  releaseCodecBuffer(into);
  releaseCodecBuffer(from);
});
