// Benchmark: one-thread Reed-Solomon encode throughput (GB/s of data bytes) per kernel and shape.
import { pathToFileURL } from 'node:url';
import { createReedSolomon, simdAvailable, type KernelName } from '../src/codec/index.js';
import { wasmVariant } from '../src/codec/kernel-wasm.js';

const SHARD = 1024 * 1024;
const SHAPES: readonly [number, number][] = [[30, 3], [1, 3]];

function fill(a: Uint8Array, seed: number): void {
  let x = seed >>> 0 || 1;
  for (let i = 0; i < a.length; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    a[i] = x & 0xff;
  }
}

function measure(k: number, m: number, kernel: KernelName, minMs: number): number {
  const rs = createReedSolomon(k, m, { kernel });
  const data = Array.from({ length: k }, (_, i) => { const a = new Uint8Array(SHARD); fill(a, i + 1); return a; });
  const parity = Array.from({ length: m }, () => new Uint8Array(SHARD));
  rs.encode(data, parity); // warm-up (JIT, wasm memory growth, tables)
  let iters = 0;
  const t0 = process.hrtime.bigint();
  let elapsed = 0;
  do {
    rs.encode(data, parity);
    iters++;
    elapsed = Number(process.hrtime.bigint() - t0) / 1e6;
  } while (elapsed < minMs || iters < 3);
  return (iters * k * SHARD) / (elapsed / 1000) / 1e9;
}

/** Encode throughput of RS(30,3) and RS(1,3) with 1 MiB shards, for each available kernel. */
export async function benchCodec(): Promise<{ name: string; gbps: number }[]> {
  const kernels: KernelName[] = simdAvailable() ? ['simd', 'portable'] : ['portable'];
  const out: { name: string; gbps: number }[] = [];
  for (const [k, m] of SHAPES) {
    for (const kernel of kernels) {
      const label = kernel === 'simd' ? `wasm-${wasmVariant}` : kernel;
      out.push({ name: `rs-encode RS(${k},${m}) 1MiB shards [${label}]`, gbps: measure(k, m, kernel, 600) });
    }
  }
  return out;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const r of await benchCodec()) console.log(`${r.name.padEnd(44)} ${r.gbps.toFixed(2)} GB/s`);
}
