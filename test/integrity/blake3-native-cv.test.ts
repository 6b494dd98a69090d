// Tests for the native chaining-value engine (native/blake3cv): identical CVs and roots to the WASM kernel, official vectors, the forced-WASM fallback.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { BLAKE3_CV_BACKEND, BLAKE3_CV_NATIVE_DEGREE, blake3Cv, unitCount, type Blake3Cv } from '../../src/integrity/blake3-cv.js';
import { nativeCvStatus } from '../../src/integrity/blake3-native-cv.js';
import { toHex } from '../../src/integrity/hex.js';
import { OFFICIAL, vectorInput } from '../helpers/blake3-vectors.js';
import { randomBytesSeeded, runCli } from '../helpers/fixtures.js';

const KiB = 1024;
const UNIT_SIZES = [KiB, 2 * KiB, 4 * KiB, 16 * KiB, 64 * KiB, 128 * KiB, 256 * KiB];
/** The addon as scripts/build-native.mjs leaves it (from dist/test/integrity/). */
const ADDON = fileURLToPath(new URL('../../../native/blake3cv/build/Release/blockframe_blake3cv.node', import.meta.url));
const built = existsSync(ADDON);
const forcedOff = process.env.BLOCKFRAME_BLAKE3 === 'wasm';
const skip = !built ? 'the native BLAKE3 addon was not built here (no @c4312/blake3-native sources or no compiler)' : forcedOff ? 'BLOCKFRAME_BLAKE3=wasm is set for this run' : false;
const native = built && BLAKE3_CV_BACKEND === 'native' ? blake3Cv('native') : null;
const wasm = blake3Cv('wasm-simd');

function allCVs(impl: Blake3Cv, data: Uint8Array, unitSize: number): Uint8Array {
  const out = new Uint8Array(unitCount(data.length, unitSize) * 32);
  assert.equal(impl.unitCVs(data, 0, unitSize, data.length, out), out.length / 32);
  return out;
}

/** `data` copied into a SharedArrayBuffer at an odd byte offset (as the compute workers' slabs hand it over). */
function shared(data: Uint8Array, at: number): Uint8Array {
  const v = new Uint8Array(new SharedArrayBuffer(data.length + at + 3)).subarray(at, at + data.length);
  v.set(data);
  return v;
}

test('a built addon is the chaining-value backend (it passed its known-answer check)', { skip }, () => {
  assert.equal(BLAKE3_CV_BACKEND, 'native', nativeCvStatus);
  assert.equal(nativeCvStatus, '');
  assert.ok([1, 4, 8, 16].includes(BLAKE3_CV_NATIVE_DEGREE), `degree ${BLAKE3_CV_NATIVE_DEGREE}`);
});

test('official BLAKE3 vectors through native unit CVs, every unit size', { skip }, () => {
  for (const [len, want] of OFFICIAL) {
    const input = vectorInput(len);
    for (const unitSize of UNIT_SIZES) {
      assert.equal(toHex(native!.rootFromCVs(allCVs(native!, input, unitSize), unitSize, len)), want, `unit ${unitSize}, length ${len}`);
    }
  }
});

test('native CVs and merged roots equal the WASM kernel for random lengths, pieces and offsets (property)', { skip }, () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...UNIT_SIZES),
      fc.integer({ min: 0, max: 1200 * KiB }),
      fc.integer(),
      fc.array(fc.nat(), { maxLength: 5 }),
      fc.nat({ max: 63 }),
      (unitSize, len, seed, cutSeeds, at) => {
        const data = randomBytesSeeded(len, seed);
        const want = allCVs(wasm, data, unitSize);
        // Pieces at unit boundaries (any firstUnit), each a SharedArrayBuffer view at an odd offset.
        const units = unitCount(len, unitSize);
        const cuts = [...new Set(cutSeeds.map((c) => c % (units + 1)))].filter((c) => c > 0 && c < units).sort((a, b) => a - b);
        const bounds = [0, ...cuts, units];
        const got = new Uint8Array(want.length + 32);
        for (let i = 0; i + 1 < bounds.length; i++) {
          const [u0, u1] = [bounds[i]!, bounds[i + 1]!];
          const piece = shared(data.subarray(u0 * unitSize, Math.min(u1 * unitSize, len)), at);
          assert.equal(native!.unitCVs(piece, u0, unitSize, len, got, 32 + u0 * 32), u1 - u0);
        }
        assert.equal(toHex(got.subarray(32)), toHex(want), `unit ${unitSize}, length ${len}, cuts ${bounds.join(',')}`);
        assert.equal(toHex(native!.rootFromCVs(want, unitSize, len)), toHex(wasm.rootFromCVs(want, unitSize, len)));
        const last = units - 1;
        const tail = data.subarray(last * unitSize);
        assert.equal(toHex(native!.unitCV(tail, last, unitSize, len)), toHex(wasm.unitCV(tail, last, unitSize, len)), 'the (short) last unit alone');
      },
    ),
    { numRuns: 60, seed: 0x0b1a4e3 },
  );
});

test('native CVs of units past 2^32 chunks (high counter word) equal the WASM kernel', { skip }, () => {
  for (const unitSize of [KiB, 64 * KiB, 256 * KiB]) {
    for (const first of [2 ** 32 / (unitSize / KiB) - 1, 2 ** 40 / (unitSize / KiB) + 3]) {
      const totalLen = (first + 3) * unitSize + 777;
      const data = randomBytesSeeded(3 * unitSize, first);
      const a = new Uint8Array(96);
      const b = new Uint8Array(96);
      assert.equal(native!.unitCVs(data, first, unitSize, totalLen, a), 3);
      assert.equal(wasm.unitCVs(data, first, unitSize, totalLen, b), 3);
      assert.equal(toHex(a), toHex(b), `unit ${unitSize}, first unit ${first}`);
    }
  }
});

test('BLOCKFRAME_BLAKE3=wasm forces the WASM kernel, with the same chaining values', () => {
  const mod = new URL('../../src/integrity/blake3-cv.js', import.meta.url).href;
  const status = new URL('../../src/integrity/blake3-native-cv.js', import.meta.url).href;
  const len = 5 * 64 * KiB + 4321;
  const script = `
    const m = await import(${JSON.stringify(mod)});
    const s = await import(${JSON.stringify(status)});
    const len = ${len};
    const data = new Uint8Array(len);
    let x = 7;
    for (let i = 0; i < len; i++) { x = (x * 1103515245 + 12345) >>> 0; data[i] = x >>> 24; }
    const out = new Uint8Array(m.unitCount(len, 65536) * 32);
    m.unitCVs(data, 0, 65536, len, out);
    console.log(JSON.stringify({ backend: m.BLAKE3_CV_BACKEND, degree: m.BLAKE3_CV_NATIVE_DEGREE, status: s.nativeCvStatus, cvs: Buffer.from(out).toString('hex') }));`;
  const run = (env: NodeJS.ProcessEnv) => JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ...env }, encoding: 'utf8' })) as Record<string, string | number>;
  const forced = run({ BLOCKFRAME_BLAKE3: 'wasm' });
  assert.equal(forced.backend, 'wasm-simd');
  assert.equal(forced.degree, 0);
  assert.equal(forced.status, 'disabled by BLOCKFRAME_BLAKE3=wasm');
  const normal = run({ BLOCKFRAME_BLAKE3: '' });
  assert.equal(normal.backend, built ? 'native' : 'wasm-simd');
  assert.equal(forced.cvs, normal.cvs);
});

test('blockframe --version --verbose names the chunk-hash kernel, and why native is not in use when forced off', () => {
  const r = runCli(['--version', '--verbose']);
  assert.equal(r.status, 0, r.stderr);
  if (built && !forcedOff) assert.match(r.stdout, /blake3: streams \S+, chunk hashes native \((4|8|16|1) lanes\)\n/);
  const off = runCli(['--version', '--verbose'], { env: { BLOCKFRAME_BLAKE3: 'wasm' } });
  assert.match(off.stdout, /chunk hashes wasm-simd; native: disabled by BLOCKFRAME_BLAKE3=wasm\n/);
});
