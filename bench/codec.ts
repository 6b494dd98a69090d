// Benchmark: one-thread Reed-Solomon encode and reconstruct throughput (GB/s of data bytes) per kernel and shape.
import { pathToFileURL } from 'node:url';
import { codecKernel, createReedSolomon, nativeAvailable, simdAvailable, type KernelName } from '../src/codec/index.js';
import { wasmKernel, wasmVariant } from '../src/codec/kernel-wasm.js';

const SHARD = 1024 * 1024;
const SHAPES: readonly [number, number][] = [[30, 3], [1, 3]];

export interface CodecResult {
  name: string;
  /** k x shard bytes (the stripe's data) per second of wall-clock time, in GB/s (1e9 bytes). */
  gbps: number;
  /** The same per second of this process's CPU time (immune to other processes taking the core). */
  cpuGbps: number;
  op: 'encode' | 'reconstruct';
  kernel: KernelName;
  /** Shards in the WASM kernel's own memory: no copy in or out (the native kernel is always zero-copy). */
  zeroCopy: boolean;
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

/**
 * Run `once` (warmed up) until at least minMs and 3 runs have passed. Returns data bytes per second in GB/s, by
 * wall clock and by this process's CPU time (user + system): the second is what one core does when the machine
 * is shared, since time the thread spends descheduled is not counted.
 */
function rate(once: () => void, bytes: number, minMs: number): { gbps: number; cpuGbps: number } {
  once(); // warm-up (JIT, wasm memory growth, tables, decode matrix)
  let iters = 0;
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let elapsed = 0;
  do {
    once();
    iters++;
    elapsed = Number(process.hrtime.bigint() - t0) / 1e6;
  } while (elapsed < minMs || iters < 3);
  const cpu = process.cpuUsage(c0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return { gbps: (iters * bytes) / (elapsed / 1000) / 1e9, cpuGbps: (iters * bytes) / (cpuMs / 1000) / 1e9 };
}

type Alloc = (bytes: number) => Uint8Array;
const plain: Alloc = (n) => new Uint8Array(n);
/** Blocks of the WASM kernel's memory (what allocCodecBuffer gives when the WASM kernel is the default). */
const inKernel: Alloc = (n) => wasmKernel()!.allocate(n);

/** One stripe (plus 3 spare shards) per allocator and shape, reused by every measurement: no garbage to collect mid-run. */
const stripes = new Map<string, { data: Uint8Array[]; parity: Uint8Array[]; spare: Uint8Array[] }>();

function stripe(k: number, m: number, alloc: Alloc): { data: Uint8Array[]; parity: Uint8Array[]; spare: Uint8Array[] } {
  const key = `${alloc === plain ? 'plain' : 'kernel'} ${k},${m}`;
  let s = stripes.get(key);
  if (s === undefined) {
    const data = Array.from({ length: k }, (_, i) => { const a = alloc(SHARD); fill(a, i + 1); return a; });
    stripes.set(key, (s = { data, parity: Array.from({ length: m }, () => alloc(SHARD)), spare: Array.from({ length: 3 }, () => alloc(SHARD)) }));
  }
  return s;
}

function measureEncode(k: number, m: number, kernel: KernelName, alloc: Alloc, minMs: number): { gbps: number; cpuGbps: number } {
  const rs = createReedSolomon(k, m, { kernel });
  const { data, parity } = stripe(k, m, alloc);
  return rate(() => rs.encode(data, parity), k * SHARD, minMs);
}

/** Lose min(m, k) data shards spread over the stripe (the costly case) and rebuild them into reused buffers. */
function measureReconstruct(k: number, m: number, kernel: KernelName, alloc: Alloc, minMs: number): { gbps: number; cpuGbps: number } {
  const rs = createReedSolomon(k, m, { kernel });
  const { data, parity, spare } = stripe(k, m, alloc);
  rs.encode(data, parity);
  const lost = Array.from({ length: Math.min(m, k, spare.length) }, (_, i) => Math.floor((i * k) / Math.min(m, k, spare.length)));
  const into: (Uint8Array | undefined)[] = [];
  lost.forEach((i, n) => { into[i] = spare[n]; });
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

/**
 * Encode of RS(30,3) and RS(1,3), and a 3-loss RS(30,3) reconstruct, with 1 MiB shards, for each available
 * kernel; the WASM kernel both with ordinary buffers (copied through its memory in tiles) and zero-copy.
 */
export async function benchCodec(minMs = 600): Promise<CodecResult[]> {
  const variants: [KernelName, boolean][] = [
    ...(nativeAvailable() ? [['native', true] as [KernelName, boolean]] : []),
    ...(simdAvailable() ? [['simd', false], ['simd', true]] as [KernelName, boolean][] : []),
    ['portable', false],
  ];
  const out: CodecResult[] = [];
  const name = (op: string, kernel: KernelName, zeroCopy: boolean): string =>
    `${op} [${label(kernel)}${kernel === 'simd' && zeroCopy ? ' zero-copy' : ''}]`;
  for (const [k, m] of SHAPES) {
    for (const [kernel, zeroCopy] of variants) {
      const r = measureEncode(k, m, kernel, zeroCopy && kernel === 'simd' ? inKernel : plain, minMs);
      out.push({ name: name(`rs-encode RS(${k},${m}) 1MiB shards`, kernel, zeroCopy), ...r, op: 'encode', kernel, zeroCopy, k, m });
    }
  }
  for (const [kernel, zeroCopy] of variants) {
    const r = measureReconstruct(30, 3, kernel, zeroCopy && kernel === 'simd' ? inKernel : plain, minMs);
    out.push({ name: name('rs-reconstruct RS(30,3) 3 lost', kernel, zeroCopy), ...r, op: 'reconstruct', kernel, zeroCopy, k: 30, m: 3 });
  }
  return out;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const info = codecKernel();
  console.log(`default kernel: ${info.name} (${info.detail})${info.nativeStatus ? `; native: ${info.nativeStatus}` : ''}`);
  for (const r of await benchCodec()) console.log(`${r.name.padEnd(62)} ${r.gbps.toFixed(2).padStart(6)} GB/s  (${r.cpuGbps.toFixed(2)} GB/s of CPU time)`);
}
