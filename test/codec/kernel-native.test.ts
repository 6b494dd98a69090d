// The optional ISA-L kernel against the WebAssembly and portable kernels: identical parity and reconstructions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { codecKernel, createReedSolomon, nativeAvailable, simdAvailable, type KernelName } from '../../src/codec/index.js';
import { matrix } from '../../src/codec/gf256.js';
import { nativeKernel } from '../../src/codec/kernel-native.js';
import { portableKernel } from '../../src/codec/kernel-portable.js';
import { ComputePool } from '../../src/compute/pool.js';
import { runCli } from '../helpers/fixtures.js';
import { pickDistinct, prng, randomShards, zeroShards } from './helpers.js';

const native = nativeAvailable();
const skip = native ? false : `ISA-L addon not built or not loadable (${codecKernel().nativeStatus}); install libisal-dev and run npm run build:native`;
/** The kernel the native one is compared with: WASM SIMD where it loads, else portable. */
const other: KernelName = simdAvailable() ? 'simd' : 'portable';

const SHAPES: [number, number][] = [[1, 1], [1, 3], [2, 2], [4, 2], [10, 4], [17, 7], [30, 3], [64, 32], [200, 56]];
const SIZES = [0, 1, 15, 63, 64, 65, 1000, 65537];

/** Parity of `data` under kernel `kernel`. */
function parityOf(kernel: KernelName, k: number, m: number, data: Uint8Array[]): Uint8Array[] {
  const parity = randomShards(m, data[0]?.length ?? 0, 99); // stale contents: every byte must be overwritten
  createReedSolomon(k, m, { kernel }).encode(data, parity);
  return parity;
}

/** Erase `erase` from `full` and rebuild everything with kernel `kernel`. */
function rebuilt(kernel: KernelName, k: number, m: number, full: Uint8Array[], erase: number[]): (Uint8Array | null)[] {
  const shards: (Uint8Array | null)[] = full.slice();
  for (const i of erase) shards[i] = null;
  createReedSolomon(k, m, { kernel }).reconstruct(shards);
  return shards;
}

test('native and WASM kernels: identical parity, table-driven over shapes and lengths', { skip }, () => {
  for (const [k, m] of SHAPES) {
    for (const len of SIZES) {
      if (k * len > 8 * 1024 * 1024) continue;
      const data = randomShards(k, len, k * 1000 + m * 10 + len);
      const a = parityOf('native', k, m, data);
      const b = parityOf(other, k, m, data);
      assert.deepEqual(a, b, `RS(${k},${m}) len ${len}: native parity differs from ${other}`);
    }
  }
});

test('native and WASM kernels: identical reconstructions of seeded erasure sets', { skip }, () => {
  for (const [k, m] of SHAPES) {
    const len = k * 1000 > 2_000_000 ? 4099 : 65537;
    const next = prng(k * 31 + m);
    const data = randomShards(k, len, k + m);
    const full: Uint8Array[] = [...data, ...parityOf(other, k, m, data)];
    for (let trial = 0; trial < 4; trial++) {
      const erase = pickDistinct(k + m, Math.min(m, trial === 0 ? m : next() % (m + 1)), next);
      const a = rebuilt('native', k, m, full, erase);
      const b = rebuilt(other, k, m, full, erase);
      for (let i = 0; i < k + m; i++) {
        assert.deepEqual(a[i], full[i], `RS(${k},${m}) erase [${erase}]: native shard ${i} wrong`);
        assert.deepEqual(b[i], full[i], `RS(${k},${m}) erase [${erase}]: ${other} shard ${i} wrong`);
      }
    }
  }
});

test('native kernel: SharedArrayBuffer views at odd offsets, in place, equal the portable kernel', { skip }, () => {
  const kernel = nativeKernel();
  assert.ok(kernel);
  for (const [rows, cols, len, offset] of [[3, 30, 100_003, 3], [2, 5, 64, 1], [6, 9, 63, 7], [1, 1, 4097, 5]] as const) {
    const next = prng(rows * cols + len);
    const c = matrix(rows, cols, Uint8Array.from({ length: rows * cols }, () => next() & 0xff));
    const sab = new SharedArrayBuffer((rows + cols) * (len + offset) + offset);
    const view = (i: number): Uint8Array => new Uint8Array(sab, offset + i * (len + offset), len);
    const inputs = Array.from({ length: cols }, (_, i) => view(i));
    inputs.forEach((a, i) => a.set(randomShards(1, len, 7 + i)[0]));
    const outputs = Array.from({ length: rows }, (_, r) => view(cols + r));
    const expect = zeroShards(rows, len);
    kernel.matMul(c, inputs, outputs, len);
    portableKernel.matMul(c, inputs, expect, len);
    outputs.forEach((o, r) => assert.deepEqual(new Uint8Array(o), expect[r], `rows ${rows} cols ${cols} len ${len}: row ${r}`));
  }
});

test('native and WASM kernels agree on parity and reconstructions (property)', { skip }, () => {
  const scenario = fc.record({ k: fc.integer({ min: 1, max: 48 }), m: fc.integer({ min: 0, max: 16 }) })
    .chain(({ k, m }) => fc.record({
      k: fc.constant(k),
      m: fc.constant(m),
      len: fc.oneof(fc.constantFrom(0, 1, 63, 64, 65, 127), fc.integer({ min: 0, max: 5000 })),
      seed: fc.integer(),
      erase: fc.uniqueArray(fc.integer({ min: 0, max: k + m - 1 }), { maxLength: m }),
    }));
  fc.assert(fc.property(scenario, ({ k, m, len, seed, erase }) => {
    const data = randomShards(k, len, seed);
    const a = parityOf('native', k, m, data);
    assert.deepEqual(a, parityOf(other, k, m, data));
    const full = [...data, ...a];
    assert.deepEqual(rebuilt('native', k, m, full, erase), rebuilt(other, k, m, full, erase));
  }), { numRuns: 150 });
});

test('an explicit native kernel throws BF_INTERNAL where the addon is missing', { skip: native ? 'the addon is built here' : false }, () => {
  assert.throws(() => createReedSolomon(4, 2, { kernel: 'native' }), (e: Error & { code?: string }) => e.code === 'BF_INTERNAL' && /native ISA-L kernel/.test(e.message));
});

test('the default kernel is the fastest available, in this thread and in compute workers', async () => {
  const expect = native ? 'native' : simdAvailable() ? 'simd' : 'portable';
  assert.equal(codecKernel().name, expect);
  assert.equal(createReedSolomon(30, 3).kernel, expect);
  const pool = ComputePool.start(1);
  try {
    assert.equal(await pool.codecKernel(), expect);
  } finally {
    await pool.close();
  }
});

test('blockframe --version --verbose names the codec kernel in use', () => {
  const r = runCli(['--version', '--verbose']);
  assert.equal(r.status, 0, r.stderr);
  const info = codecKernel();
  assert.match(r.stdout, /^\d+\.\d+\.\d+\n/);
  assert.ok(r.stdout.includes(`codec kernel: ${info.name} (${info.detail})`), r.stdout);
  const off = runCli(['--version', '--verbose'], { env: { BLOCKFRAME_NATIVE_CODEC: '0' } });
  assert.match(off.stdout, /codec kernel: (simd|portable) .*native: disabled by BLOCKFRAME_NATIVE_CODEC=0/);
});
