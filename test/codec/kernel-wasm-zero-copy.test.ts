// The WASM kernel's zero-copy path: shards in its own memory, ragged tails, guard bytes, and its block allocator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { allocCodecBuffer, codecKernel, createReedSolomon, releaseCodecBuffer, simdAvailable } from '../../src/codec/index.js';
import { matrix } from '../../src/codec/gf256.js';
import { portableKernel } from '../../src/codec/kernel-portable.js';
import { wasmKernel } from '../../src/codec/kernel-wasm.js';
import { WasmArena } from '../../src/codec/wasm-arena.js';
import { prng, randomShards, zeroShards } from './helpers.js';

const skip = simdAvailable() ? false : 'WebAssembly SIMD is not available in this runtime';
const GUARD = 40;

/** `count` views of `len` bytes inside one block of kernel memory, `GUARD` bytes apart, every byte random. */
function inKernel(count: number, len: number, seed: number): { views: Uint8Array[]; block: Uint8Array } {
  const block = wasmKernel()!.allocate(count * (len + GUARD) + GUARD);
  block.set(randomShards(1, block.length, seed)[0]);
  const views = Array.from({ length: count }, (_, i) => block.subarray(GUARD + i * (len + GUARD), GUARD + i * (len + GUARD) + len));
  return { views, block };
}

test('zero-copy matMul equals the portable kernel and writes nothing outside the outputs', { skip }, () => {
  const k = wasmKernel()!;
  for (const [rows, cols, len] of [[3, 30, 4096], [3, 30, 1000], [1, 5, 31], [2, 4, 33], [4, 9, 65], [5, 7, 100_001], [3, 1, 64], [8, 3, 0]] as const) {
    const next = prng(rows * 7 + cols + len);
    const c = matrix(rows, cols, Uint8Array.from({ length: rows * cols }, (_, i) => (i < cols ? 1 : next() & 0xff)));
    const inp = inKernel(cols, len, len + 1);
    const out = inKernel(rows, len, len + 2);
    const before = out.block.slice();
    const expect = zeroShards(rows, len);
    k.matMul(c, inp.views, out.views, len);
    portableKernel.matMul(c, inp.views, expect, len);
    out.views.forEach((v, r) => assert.deepEqual(new Uint8Array(v), expect[r], `rows ${rows} cols ${cols} len ${len}: row ${r}`));
    // Guard bytes between and around the outputs are untouched.
    for (let i = 0; i < rows + 1; i++) {
      const g = i * (len + GUARD);
      assert.deepEqual(out.block.subarray(g, g + GUARD), before.subarray(g, g + GUARD), `guard ${i} changed`);
    }
    k.release(inp.block);
    k.release(out.block);
  }
});

test('encode and reconstruct over kernel-memory shards match ordinary buffers (property)', { skip }, () => {
  const wasm = wasmKernel()!;
  fc.assert(fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 3000 }), fc.integer(), (k, m, len, seed) => {
    const rs = createReedSolomon(k, m, { kernel: 'simd' });
    const buf = wasm.allocate((k + m) * len);
    const shards = Array.from({ length: k + m }, (_, i) => buf.subarray(i * len, (i + 1) * len));
    const data = randomShards(k, len, seed);
    data.forEach((d, i) => shards[i].set(d));
    const parity = zeroShards(m, len);
    createReedSolomon(k, m, { kernel: 'portable' }).encode(data, parity);
    rs.encode(shards.slice(0, k), shards.slice(k));
    shards.slice(k).forEach((p, i) => assert.deepEqual(new Uint8Array(p), parity[i]));
    if (m > 0 && k > 1) {
      const lost = [0, k - 1].slice(0, Math.min(m, 2));
      const into: (Uint8Array | undefined)[] = [];
      const spare = wasm.allocate(lost.length * len);
      lost.forEach((i, n) => { into[i] = spare.subarray(n * len, (n + 1) * len); });
      const view: (Uint8Array | null)[] = shards.slice();
      for (const i of lost) view[i] = null;
      rs.reconstruct(view, { into, dataOnly: true });
      for (const i of lost) assert.deepEqual(new Uint8Array(view[i]!), data[i]);
      wasm.release(spare);
    }
    wasm.release(buf);
  }), { numRuns: 120 });
});

test('allocCodecBuffer gives zero-copy memory for the default kernel', () => {
  const buf = allocCodecBuffer(4096);
  assert.equal(buf.length, 4096);
  const wasm = wasmKernel();
  assert.equal(wasm !== null && wasm.owns(buf), codecKernel().name === 'simd', 'kernel memory exactly when the WASM kernel is the default');
  releaseCodecBuffer(buf);
  assert.throws(() => allocCodecBuffer(-1), (e: Error & { code?: string }) => e.code === 'BF_INTERNAL');
});

test('kernel-memory views stay valid when the memory grows', { skip }, () => {
  const k = wasmKernel()!;
  const a = k.allocate(1000);
  a.fill(0xab);
  const big = k.allocate(8 * 1024 * 1024); // forces a grow
  big.fill(1);
  assert.equal(a.length, 1000);
  assert.ok(a.every((x) => x === 0xab));
  assert.ok(k.owns(a) && k.owns(big) && !k.owns(new Uint8Array(4)));
  k.release(big);
  k.release(a);
});

test('WasmArena: first fit, reuse, merging, and the top goes back', () => {
  const pages: number[] = [];
  const memory = { buffer: new ArrayBuffer(65536), grow(n: number) { pages.push(n); (this as { buffer: ArrayBuffer }).buffer = new ArrayBuffer(this.buffer.byteLength + n * 65536); return 0; } };
  const arena = new WasmArena(memory, 100);
  const a = arena.alloc(10);
  const b = arena.alloc(100);
  const c = arena.alloc(64);
  assert.deepEqual([a, b, c], [128, 192, 320]);
  arena.release(b);
  assert.equal(arena.alloc(64), 192, 'first fit reuses the freed block');
  arena.release(192);
  arena.release(a);
  assert.equal(arena.alloc(190), 128, 'freed neighbours merge');
  arena.release(128);
  arena.release(c);
  assert.equal(arena.alloc(1), 128, 'everything free: back to the start');
  const big = arena.alloc(100_000);
  assert.ok(pages.length === 1 && memory.buffer.byteLength >= big + 100_000);
  arena.release(12345); // unknown: ignored
});
