// Tests for src/integrity/blake3-cv.ts: unit CVs merge to the plain BLAKE3 hash, piecewise = at once, portable = WASM, locality, b3sum, official vectors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import fc from 'fast-check';
import { createBLAKE3 } from 'hash-wasm';
import { BLAKE3_CV_BACKEND, blake3Cv, rootFromCVs, unitCV, unitCount, unitCVs, type Blake3Cv } from '../../src/integrity/blake3-cv.js';
import { blake3SimdAvailable, createBlake3Simd } from '../../src/integrity/blake3-simd.js';
import { blake3 } from '../../src/integrity/blake3.js';
import { isBlockFrameError } from '../../src/errors.js';
import { toHex } from '../../src/integrity/hex.js';
import { nativeCvStatus } from '../../src/integrity/blake3-native-cv.js';
import { OFFICIAL, vectorInput } from '../helpers/blake3-vectors.js';
import { b3sum, haveCommand, prng, randomBytesSeeded, tempDir } from '../helpers/fixtures.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const UNIT_SIZES = [KiB, 4 * KiB, 64 * KiB, 256 * KiB];
const EDGE_LENGTHS = [0, 1, 1023, 1024, 1025, 64 * KiB - 1, 64 * KiB, 64 * KiB + 1, 128 * KiB, 3 * 64 * KiB + 5, MiB + 17];
const hex = toHex;
const hashWasm = await createBLAKE3();
const wasm = blake3SimdAvailable() ? blake3Cv('wasm-simd') : null;
const portable = blake3Cv('portable');

/** All unit CVs of `data` (one whole message) in one call. */
function allCVs(impl: Blake3Cv, data: Uint8Array, unitSize: number): Uint8Array {
  const out = new Uint8Array(unitCount(data.length, unitSize) * 32);
  assert.equal(impl.unitCVs(data, 0, unitSize, data.length, out), out.length / 32);
  return out;
}

/** The hash through unit CVs, checked against src/integrity/blake3.ts and hash-wasm. */
function assertRootMatches(impl: Blake3Cv, data: Uint8Array, unitSize: number, what: string): void {
  const want = hex(blake3(data));
  assert.equal(hex(hashWasm.init().update(data).digest('binary')), want, `hash-wasm vs blake3, ${what}`);
  assert.equal(hex(impl.rootFromCVs(allCVs(impl, data, unitSize), unitSize, data.length)), want, `${impl.backend}, ${what}`);
}

function expectCode(fn: () => unknown, what: string): void {
  assert.throws(fn, (e: unknown) => isBlockFrameError(e, 'BF_BLAKE3_UNITS_INVALID'), what);
}

test('the WASM SIMD backend is chosen on Node 20 (unless the native addon is; forced: blake3-native-cv.test.ts)', () => {
  assert.equal(BLAKE3_CV_BACKEND, process.env.BLOCKFRAME_BLAKE3 !== 'wasm' && nativeCvStatus === '' ? 'native' : 'wasm-simd');
  assert.ok(wasm !== null);
});

test('rootFromCVs(unitCVs(msg)) is the plain BLAKE3 hash at edge lengths, every unit size', () => {
  for (const unitSize of UNIT_SIZES) {
    const lens = new Set(EDGE_LENGTHS);
    for (const d of [-1, 0, 1]) for (const k of [1, 2, 3, 5]) lens.add(Math.max(0, k * unitSize + d));
    for (const len of lens) {
      const data = randomBytesSeeded(len, len + unitSize);
      assertRootMatches(wasm!, data, unitSize, `unit ${unitSize}, length ${len}`);
    }
  }
});

test('rootFromCVs(unitCVs(msg)) is the plain hash for seeded random lengths up to 4 MiB', () => {
  const next = prng(0xb1a4e3);
  for (const unitSize of UNIT_SIZES) {
    for (let i = 0; i < 4; i++) {
      const len = next() % (4 * MiB + 1);
      assertRootMatches(wasm!, randomBytesSeeded(len, next()), unitSize, `unit ${unitSize}, length ${len}`);
    }
  }
});

test('official BLAKE3 vectors through unit CVs, both backends', () => {
  for (const [len, want] of OFFICIAL) {
    const input = vectorInput(len);
    for (const unitSize of UNIT_SIZES) {
      for (const impl of [wasm!, portable]) {
        assert.equal(hex(impl.rootFromCVs(allCVs(impl, input, unitSize), unitSize, len)), want, `${impl.backend}, unit ${unitSize}, length ${len}`);
      }
    }
  }
});

test('a one-unit message: its single value is the hash itself (empty message included)', () => {
  for (const len of [0, 1, 1024, 5000, 64 * KiB]) {
    const data = randomBytesSeeded(len, 7 + len);
    const cv = unitCV(data, 0, 64 * KiB, len);
    assert.equal(hex(cv), hex(blake3(data)), `length ${len}`);
    assert.equal(hex(rootFromCVs(cv, 64 * KiB, len)), hex(blake3(data)));
  }
  const out = new Uint8Array(32);
  assert.equal(unitCVs(new Uint8Array(0), 0, 4 * KiB, 0, out), 1);
  assert.equal(hex(out), OFFICIAL[0]![1]);
});

test('the portable fallback gives the same CVs as the WASM kernel', () => {
  for (const unitSize of UNIT_SIZES) {
    for (const len of [...EDGE_LENGTHS, 5 * unitSize - 1, 2 * unitSize]) {
      const data = randomBytesSeeded(len, len ^ unitSize);
      const a = allCVs(wasm!, data, unitSize);
      assert.equal(hex(allCVs(portable, data, unitSize)), hex(a), `unit ${unitSize}, length ${len}`);
      assert.equal(hex(portable.rootFromCVs(a, unitSize, len)), hex(wasm!.rootFromCVs(a, unitSize, len)));
    }
  }
});

test('the portable fallback equals WASM for random inputs (property)', () => {
  fc.assert(
    fc.property(fc.constantFrom(...UNIT_SIZES), fc.integer({ min: 0, max: 600 * KiB }), fc.integer(), (unitSize, len, seed) => {
      const data = randomBytesSeeded(len, seed);
      assert.equal(hex(allCVs(portable, data, unitSize)), hex(allCVs(wasm!, data, unitSize)));
    }),
    { numRuns: 25 },
  );
});

test('units past 2^32 chunks (4 TiB; high counter word) agree between backends', () => {
  // Only the units' own bytes are needed, so a unit deep inside a huge message can be hashed alone.
  for (const unitSize of UNIT_SIZES) {
    for (const first of [2 ** 32 / (unitSize / KiB) - 1, 2 ** 40 / (unitSize / KiB) + 3]) {
      const totalLen = (first + 2) * unitSize + 777; // two whole units from `first`, then more
      const data = randomBytesSeeded(2 * unitSize, first);
      const a = new Uint8Array(64);
      const b = new Uint8Array(64);
      assert.equal(wasm!.unitCVs(data, first, unitSize, totalLen, a), 2);
      assert.equal(portable.unitCVs(data, first, unitSize, totalLen, b), 2);
      assert.equal(hex(b), hex(a), `unit ${unitSize}, first unit ${first}`);
      const last = randomBytesSeeded(777, first + 1);
      assert.equal(hex(portable.unitCV(last, first + 2, unitSize, totalLen)), hex(wasm!.unitCV(last, first + 2, unitSize, totalLen)));
    }
  }
});

test('CVs computed in pieces at unit boundaries (any firstUnit, any output offset) equal all at once (property)', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...UNIT_SIZES),
      fc.integer({ min: 0, max: 2 * MiB }),
      fc.integer(),
      fc.array(fc.nat(), { maxLength: 8 }),
      fc.nat({ max: 3 }),
      (unitSize, len, seed, cutSeeds, pad) => {
        const data = randomBytesSeeded(len, seed);
        const units = unitCount(len, unitSize);
        const whole = allCVs(wasm!, data, unitSize);
        const cuts = [...new Set(cutSeeds.map((c) => c % (units + 1)))].sort((a, b) => a - b);
        const bounds = [0, ...cuts.filter((c) => c > 0 && c < units), units];
        const out = new Uint8Array(pad * 32 + whole.length);
        for (let i = 0; i + 1 < bounds.length; i++) {
          const [u0, u1] = [bounds[i]!, bounds[i + 1]!];
          const piece = data.subarray(u0 * unitSize, Math.min(u1 * unitSize, len));
          assert.equal(unitCVs(piece, u0, unitSize, len, out, pad * 32 + u0 * 32), u1 - u0);
        }
        assert.equal(hex(out.subarray(pad * 32)), hex(whole));
        for (let u = 0; u < units; u++) {
          const unit = data.subarray(u * unitSize, Math.min((u + 1) * unitSize, len));
          assert.equal(hex(unitCV(unit, u, unitSize, len)), hex(whole.subarray(u * 32, u * 32 + 32)), `unitCV ${u}`);
        }
      },
    ),
    { numRuns: 60 },
  );
});

test('changing one byte of unit i changes CV i and no other (property)', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...UNIT_SIZES),
      fc.integer({ min: 1, max: MiB }),
      fc.integer(),
      fc.nat(),
      fc.integer({ min: 1, max: 255 }),
      (unitSize, len, seed, at, flip) => {
        const data = randomBytesSeeded(len, seed);
        const before = allCVs(wasm!, data, unitSize);
        const pos = at % len;
        data[pos] ^= flip;
        const after = allCVs(wasm!, data, unitSize);
        const changed = Math.floor(pos / unitSize);
        for (let u = 0; u < before.length / 32; u++) {
          const same = hex(before.subarray(u * 32, u * 32 + 32)) === hex(after.subarray(u * 32, u * 32 + 32));
          assert.equal(same, u !== changed, `unit ${u}, byte ${pos} changed`);
        }
      },
    ),
    { numRuns: 80 },
  );
});

test('unit CVs interleave safely with a streaming hasher on the shared kernel', () => {
  const data = randomBytesSeeded(3 * MiB + 11, 99);
  const h = createBlake3Simd();
  const cvs = new Uint8Array(unitCount(data.length, 64 * KiB) * 32);
  for (let u = 0; u * 64 * KiB < data.length; u++) {
    const unit = data.subarray(u * 64 * KiB, (u + 1) * 64 * KiB);
    h.update(unit);
    unitCVs(unit, u, 64 * KiB, data.length, cvs, u * 32);
  }
  assert.equal(hex(rootFromCVs(cvs, 64 * KiB, data.length)), hex(h.digest()));
});

test('shape errors throw BF_BLAKE3_UNITS_INVALID', () => {
  const U = 4 * KiB;
  const data = randomBytesSeeded(10 * KiB, 5);
  const out = new Uint8Array(3 * 32);
  for (const bad of [0, 512, 3000, 512 * KiB, 1.5 * KiB, Number.NaN]) expectCode(() => unitCVs(data, 0, bad, data.length, out), `unit size ${bad}`);
  expectCode(() => unitCVs(data, 0, U, -1, out), 'negative length');
  expectCode(() => unitCVs(data, -1, U, data.length, out), 'negative first unit');
  expectCode(() => unitCVs(data, 0.5, U, data.length, out), 'fractional first unit');
  expectCode(() => unitCVs(data, 1, U, data.length, out), 'runs past the end');
  expectCode(() => unitCVs(data.subarray(0, 5 * KiB), 0, U, data.length, out), 'ends inside a unit');
  expectCode(() => unitCVs(data, 0, U, data.length, new Uint8Array(95)), 'output too small');
  expectCode(() => unitCVs(data, 0, U, data.length, out, 1), 'output offset too far');
  expectCode(() => unitCV(data.subarray(0, 3 * KiB), 2, U, data.length), 'wrong last-unit length');
  assert.equal(unitCV(data.subarray(8 * KiB), 2, U, data.length).length, 32);
  expectCode(() => unitCV(data.subarray(0, U), 3, U, data.length), 'unit index outside');
  expectCode(() => unitCV(new Uint8Array(0), 0, U, data.length), 'empty unit of a non-empty message');
  const cvs = allCVs(wasm!, data, U);
  expectCode(() => rootFromCVs(cvs.subarray(0, 64), U, data.length), 'too few CVs');
  expectCode(() => rootFromCVs(cvs, U, 20 * KiB), 'a CV count that does not fit the length');
  expectCode(() => rootFromCVs(cvs.subarray(0, 95), U, data.length), 'not a multiple of 32 bytes');
  expectCode(() => rootFromCVs(new Uint8Array(0), U, 0), 'the empty message still has one CV');
  expectCode(() => portable.rootFromCVs(cvs.subarray(0, 64), U, data.length), 'portable: too few CVs');
});

test('cross-check against b3sum: unit CVs merge to what b3sum prints', async (t) => {
  if (!haveCommand('b3sum')) {
    t.skip('b3sum is not on PATH (Debian package "b3sum")');
    return;
  }
  const { dir, cleanup } = await tempDir('bf-blake3-cv-');
  try {
    for (const len of [0, 3 * 64 * KiB + 5, 8 * MiB + 5]) {
      const data = randomBytesSeeded(len, 4242 + len);
      const file = join(dir, `in-${len}.bin`);
      await writeFile(file, data);
      const want = b3sum(file);
      for (const unitSize of UNIT_SIZES) {
        assert.equal(hex(rootFromCVs(allCVs(wasm!, data, unitSize), unitSize, len)), want, `unit ${unitSize}, length ${len}`);
      }
      if (len < MiB) assert.equal(hex(portable.rootFromCVs(allCVs(portable, data, 64 * KiB), 64 * KiB, len)), want, `portable, length ${len}`);
    }
  } finally {
    await cleanup();
  }
});
