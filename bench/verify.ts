// Bench rows: verify of a Tier 3 archive against `b3sum --num-threads 2` of the same shard files, with the native and the forced WASM chaining-value kernels back to back.
import { execFileSync, spawnSync } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BLAKE3_CV_BACKEND, BLAKE3_CV_NATIVE_DEGREE } from '../src/integrity/blake3-cv.js';
import { nativeCvStatus } from '../src/integrity/blake3-native-cv.js';
import { median } from './util.js';

const here = dirname(fileURLToPath(import.meta.url));

interface Row {
  measure: string;
  value: string;
  target: string;
  met: boolean | null;
}

/** One `verify` in a fresh process: the time verify() itself took, and the whole process's wall time (Node start, imports, kernel checks). */
function verifyOnce(archive: string, env: NodeJS.ProcessEnv): { seconds: number; processSeconds: number; maxRssMiB: number } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [join(here, 'child.js'), 'verify', 'big.bin', '', archive], { encoding: 'utf8', env: { ...process.env, ...env } });
  const processSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`bench verify failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { seconds: number; maxRssMiB: number; status: string };
  if (out.status !== 'healthy') throw new Error(`bench verify: archive is ${out.status}`);
  return { seconds: out.seconds, processSeconds, maxRssMiB: out.maxRssMiB };
}

function b3sum(files: string[]): number {
  const t0 = process.hrtime.bigint();
  execFileSync('b3sum', ['--num-threads', '2', ...files], { stdio: 'ignore' });
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const spread = (xs: number[]) => `${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)}`;

/**
 * `runs` rounds of: b3sum of every shard file, verify (native kernel), b3sum again, verify with BLOCKFRAME_BLAKE3=wasm
 * (the kernel before the native one), all from a warm page cache (one untimed pass reads the files first). Each
 * verify is divided by the b3sum taken right before it; the rows give the medians of those ratios and their spread.
 */
export async function benchVerify(archive: string, label: string, runs: number, log: (m: string) => void): Promise<{ rows: Row[]; raw: Record<string, unknown> }> {
  const adir = join(archive, (await readdir(archive)).find((d) => d.startsWith('big.bin_'))!);
  const files = spawnSync('find', [adir, '-name', '*.dat'], { encoding: 'utf8' }).stdout.trim().split('\n');
  b3sum(files); // warm the page cache
  const kinds = { native: {}, wasm: { BLOCKFRAME_BLAKE3: 'wasm' } } as const;
  const raw = { backend: BLAKE3_CV_BACKEND, lanes: BLAKE3_CV_NATIVE_DEGREE, nativeStatus: nativeCvStatus, native: { b3sum: [] as number[], verify: [] as number[], process: [] as number[] }, wasm: { b3sum: [] as number[], verify: [] as number[], process: [] as number[] }, rss: 0 };
  for (let i = 0; i < runs; i++) {
    log(`verify run ${i + 1}/${runs}: b3sum, verify (native), b3sum, verify (wasm)`);
    for (const [kind, env] of Object.entries(kinds) as [keyof typeof kinds, NodeJS.ProcessEnv][]) {
      raw[kind].b3sum.push(b3sum(files));
      const v = verifyOnce(archive, env);
      raw[kind].verify.push(v.seconds);
      raw[kind].process.push(v.processSeconds);
      raw.rss = Math.max(raw.rss, v.maxRssMiB);
    }
  }
  const rows: Row[] = [];
  const ratios = (k: keyof typeof kinds, of: 'verify' | 'process') => raw[k][of].map((x, i) => x / raw[k].b3sum[i]!);
  const kernel = BLAKE3_CV_BACKEND === 'native' ? `native, ${BLAKE3_CV_NATIVE_DEGREE} lanes` : `${BLAKE3_CV_BACKEND}: native not in use (${nativeCvStatus})`;
  rows.push({ measure: `b3sum --num-threads 2 of the shard files, ${label} (reference, warm cache)`, value: `${median(raw.native.b3sum).toFixed(2)} s (${spread([...raw.native.b3sum, ...raw.wasm.b3sum])})`, target: '', met: null });
  for (const k of ['wasm', 'native'] as const) {
    const r = median(ratios(k, 'verify'));
    const p = median(ratios(k, 'process'));
    const what = k === 'native' ? `chunk hashes ${kernel}` : 'chunk hashes wasm-simd (BLOCKFRAME_BLAKE3=wasm, the kernel before)';
    rows.push({ measure: `verify ${label} / b3sum, ${what}`, value: `${r.toFixed(2)} (${spread(ratios(k, 'verify'))}; verify ${median(raw[k].verify).toFixed(2)} s)`, target: k === 'native' ? '<= 2.5 (goal 1.5)' : '', met: k === 'native' ? r <= 2.5 : null });
    rows.push({ measure: `  same, whole process (node start, imports) / b3sum`, value: `${p.toFixed(2)} (${spread(ratios(k, 'process'))})`, target: '', met: null });
  }
  rows.push({ measure: `peak RSS, verify ${label}`, value: `${raw.rss.toFixed(0)} MiB`, target: '<= 256 MiB', met: raw.rss <= 256 });
  return { rows, raw };
}
