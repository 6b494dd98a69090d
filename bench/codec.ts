// Benchmark: one-thread Reed-Solomon encode and reconstruct throughput (GB/s of data bytes) per kernel and shape.
import { pathToFileURL } from 'node:url';
import { codecKernel, createReedSolomon, nativeAvailable, simdAvailable, type KernelName } from '../src/codec/index.js';
import { wasmVariant } from '../src/codec/kernel-wasm.js';

const SHARD = 1024 * 1024;
const SHAPES: readonly [number, number][] = [[30, 3], [1, 3]];

export interface CodecResult {
  name: string;
  /** k x shard bytes (the stripe's data) per second, in GB/s (1e9 bytes). */
  gbps: number;
  op: 'encode' | 'reconstruct';
  kernel: KernelName;
  k: number;
  m: number;
}

function fill(a: Uint8Array, seed: number): void {
  let x = seed >>> 0 || 1;
  for (let i = 0; i < a.length; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    a[i] = x & 0xff;
  }
}

/** Run `once` (warmed up) until at least minMs and 3 runs have passed; data bytes per second in GB/s. */
function rate(once: () => void, bytes: number, minMs: number): number {
  once(); // warm-up (JIT, wasm memory growth, tables, decode matrix)
  let iters = 0;
  const t0 = process.hrtime.bigint();
  let elapsed = 0;
  do {
    once();
    iters++;
    elapsed = Number(process.hrtime.bigint() - t0) / 1e6;
  } while (elapsed < minMs || iters < 3);
  return (iters * bytes) / (elapsed / 1000) / 1e9;
}

function stripe(k: number, m: number): { data: Uint8Array[]; parity: Uint8Array[] } {
  const data = Array.from({ length: k }, (_, i) => { const a = new Uint8Array(SHARD); fill(a, i + 1); return a; });
  const parity = Array.from({ length: m }, () => new Uint8Array(SHARD));
  return { data, parity };
}

function measureEncode(k: number, m: number, kernel: KernelName, minMs: number): number {
  const rs = createReedSolomon(k, m, { kernel });
  const { data, parity } = stripe(k, m);
  return rate(() => rs.encode(data, parity), k * SHARD, minMs);
}

/** Lose min(m, k) data shards spread over the stripe (the costly case) and rebuild them into reused buffers. */
function measureReconstruct(k: number, m: number, kernel: KernelName, minMs: number): number {
  const rs = createReedSolomon(k, m, { kernel });
  const { data, parity } = stripe(k, m);
  rs.encode(data, parity);
  const lost = Array.from({ length: Math.min(m, k) }, (_, i) => Math.floor((i * k) / Math.min(m, k)));
  const into: (Uint8Array | undefined)[] = [];
  for (const i of lost) into[i] = new Uint8Array(SHARD);
  const all = [...data, ...parity];
  return rate(() => {
    const shards: (Uint8Array | null)[] = all.slice();
    for (const i of lost) shards[i] = null;
    rs.reconstruct(shards, { into, dataOnly: true });
  }, k * SHARD, minMs);
}

function label(kernel: KernelName): string {
  return kernel === 'native' ? `native-isal-${codecKernel().detail.match(/\((.*?)\)/)?.[1] ?? ''}` : kernel === 'simd' ? `wasm-${wasmVariant}` : kernel;
}

/** Encode of RS(30,3) and RS(1,3), and a 3-loss RS(30,3) reconstruct, with 1 MiB shards, for each available kernel. */
export async function benchCodec(minMs = 600): Promise<CodecResult[]> {
  const kernels: KernelName[] = [...(nativeAvailable() ? ['native' as const] : []), ...(simdAvailable() ? ['simd' as const] : []), 'portable'];
  const out: CodecResult[] = [];
  for (const [k, m] of SHAPES) {
    for (const kernel of kernels) {
      out.push({ name: `rs-encode RS(${k},${m}) 1MiB shards [${label(kernel)}]`, gbps: measureEncode(k, m, kernel, minMs), op: 'encode', kernel, k, m });
    }
  }
  for (const kernel of kernels) {
    out.push({ name: `rs-reconstruct RS(30,3) 3 lost [${label(kernel)}]`, gbps: measureReconstruct(30, 3, kernel, minMs), op: 'reconstruct', kernel, k: 30, m: 3 });
  }
  return out;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const info = codecKernel();
  console.log(`default kernel: ${info.name} (${info.detail})${info.nativeStatus ? `; native: ${info.nativeStatus}` : ''}`);
  for (const r of await benchCodec()) console.log(`${r.name.padEnd(48)} ${r.gbps.toFixed(2)} GB/s`);
}
