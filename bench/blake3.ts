// Benchmark: one-thread BLAKE3 throughput (GB/s) of the WebAssembly SIMD hasher vs hash-wasm, one-shot and streamed, and of 64 KiB unit CVs (native and WASM kernels).
import { randomFillSync } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { blake3SimdAvailable, blake3Simd, createBlake3Simd } from '../src/integrity/blake3-simd.js';
import { BLAKE3_CV_BACKEND, BLAKE3_CV_NATIVE_DEGREE, blake3Cv, unitCount, type Blake3CvBackend } from '../src/integrity/blake3-cv.js';
import { createBLAKE3 } from 'hash-wasm';

const SIZE = 256 * 1024 * 1024;
const PIECE = 4 * 1024 * 1024;
const RUNS = 3;
/** Unit size of the format v2 chunk hashes. */
const UNIT = 64 * 1024;

/** Best-of-RUNS throughput of `hash` over `data`, in GB/s (10^9 bytes per second). */
async function best(data: Uint8Array, hash: (d: Uint8Array) => Uint8Array | Promise<Uint8Array>): Promise<number> {
  await hash(data.subarray(0, 16 * PIECE)); // warm-up: JIT tiers, wasm memory
  let bestNs = Infinity;
  for (let r = 0; r < RUNS; r++) {
    const t0 = process.hrtime.bigint();
    const out = await hash(data);
    const ns = Number(process.hrtime.bigint() - t0);
    if (out.length !== 32) throw new Error('bench-blake3: bad digest length');
    bestNs = Math.min(bestNs, ns);
  }
  return data.length / bestNs;
}

/**
 * One-thread BLAKE3 GB/s on a 256 MiB buffer: ours (WASM SIMD) and hash-wasm, one-shot and in 4 MiB
 * updates; and every 64 KiB unit's chaining value plus the hash merged from them (blake3-cv.ts), with the native
 * addon (when it is in use) and with the WASM kernel.
 */
export async function benchBlake3(): Promise<{ name: string; gbps: number }[]> {
  const data = new Uint8Array(SIZE);
  for (let o = 0; o < SIZE; o += 65536) randomFillSync(data, o, 65536);
  const out: { name: string; gbps: number }[] = [];
  if (blake3SimdAvailable()) {
    out.push({ name: 'blake3 256MiB one-shot [wasm-simd]', gbps: await best(data, blake3Simd) });
    out.push({
      name: 'blake3 256MiB 4MiB updates [wasm-simd]',
      gbps: await best(data, (d) => {
        const h = createBlake3Simd();
        for (let o = 0; o < d.length; o += PIECE) h.update(d.subarray(o, o + PIECE));
        return h.digest();
      }),
    });
  }
  // The chunk pass's kernels (blake3-cv.ts), each on one core: CVs of every 64 KiB unit, 4 MiB at a time as the
  // compute workers get them, then the root merged from them.
  const cvs = new Uint8Array(unitCount(SIZE, UNIT) * 32);
  const kernels: Blake3CvBackend[] = [...(BLAKE3_CV_BACKEND === 'native' ? ['native' as const] : []), ...(blake3SimdAvailable() ? ['wasm-simd' as const] : [])];
  for (const k of kernels) {
    const impl = blake3Cv(k);
    out.push({
      name: `blake3 256MiB 64KiB unit CVs+root [${k === 'native' ? `native, ${BLAKE3_CV_NATIVE_DEGREE} lanes` : k}]`,
      gbps: await best(data, (d) => {
        for (let o = 0; o < d.length; o += PIECE) impl.unitCVs(d.subarray(o, o + PIECE), o / UNIT, UNIT, d.length, cvs, (o / UNIT) * 32);
        return impl.rootFromCVs(cvs.subarray(0, unitCount(d.length, UNIT) * 32), UNIT, d.length);
      }),
    });
  }
  // hash-wasm directly: src/integrity/blake3.ts itself now runs on the SIMD kernel when it can.
  const hw = await createBLAKE3();
  out.push({ name: 'blake3 256MiB one-shot [hash-wasm]', gbps: await best(data, async (d) => hw.init().update(d).digest('binary')) });
  out.push({
    name: 'blake3 256MiB 4MiB updates [hash-wasm]',
    gbps: await best(data, async (d) => {
      const h = (await createBLAKE3()).init();
      for (let o = 0; o < d.length; o += PIECE) h.update(d.subarray(o, o + PIECE));
      return h.digest('binary');
    }),
  });
  return out;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const r of await benchBlake3()) console.log(`${r.name.padEnd(44)} ${r.gbps.toFixed(2)} GB/s`);
}
