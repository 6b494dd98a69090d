// `blockframe serve` benchmark: full-file GET throughput (curl) against cat, and 1 MiB range GET latency under load.
import { execFile, spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { prng } from '../test/helpers/fixtures.js';

const CLI = fileURLToPath(new URL('../../bin/blockframe.js', import.meta.url));
const MiB = 1024 * 1024;

export interface ServeBenchRow {
  measure: string;
  value: string;
  target: string;
  met: boolean | null;
}

function run(cmd: string, args: string[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { maxBuffer: 1024 * 1024 }, (err) => (err ? reject(err) : resolve(Number(process.hrtime.bigint() - t0) / 1e9))),
  );
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

/** The real CLI server on a free loopback port, in its own process. */
async function startServer(archive: string): Promise<{ base: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--archive', archive, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const base = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('blockframe serve did not start')), 15_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /at (http:\/\/[^ ]+?)\/?\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`blockframe serve exited ${code}`)));
  });
  return {
    base,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * Benchmark `blockframe serve` on an archive root holding `name` (committed from `file`, which is kept for the
 * cat baseline): (a) full GET with curl vs cat of the original, best of 3 each; (b) 400 random 1 MiB range GETs
 * from 16 concurrent fetch clients.
 */
export async function benchServe(archive: string, file: string, name: string): Promise<{ rows: ServeBenchRow[] }> {
  const size = (await stat(file)).size;
  const srv = await startServer(archive);
  const rows: ServeBenchRow[] = [];
  try {
    const url = `${srv.base}/files/${encodeURIComponent(name)}`;
    await run('sh', ['-c', `cat "$1" > /dev/null`, 'sh', file]); // warm the cache for both sides alike
    await run('curl', ['-sf', '-o', '/dev/null', url]);
    let cat = Infinity;
    let curl = Infinity;
    for (let i = 0; i < 3; i++) {
      cat = Math.min(cat, await run('sh', ['-c', `cat "$1" > /dev/null`, 'sh', file]));
      curl = Math.min(curl, await run('curl', ['-sf', '-o', '/dev/null', url]));
    }
    const mbps = (s: number) => size / MiB / s;
    const ratio = cat / curl;
    rows.push({
      measure: `serve: full GET of ${Math.round(size / MiB)} MiB (curl) vs cat`,
      value: `${mbps(curl).toFixed(0)} MiB/s vs ${mbps(cat).toFixed(0)} MiB/s (${ratio.toFixed(2)}×)`,
      target: '≥ 0.7× cat',
      met: ratio >= 0.7,
    });

    const rand = prng(7);
    const span = Math.max(1, size - MiB);
    const lat: number[] = [];
    let next = 0;
    const TOTAL = 400;
    const worker = async () => {
      while (next < TOTAL) {
        next++;
        const start = rand() % span;
        const t0 = process.hrtime.bigint();
        const r = await fetch(url, { headers: { Range: `bytes=${start}-${start + MiB - 1}` } });
        const body = await r.arrayBuffer();
        lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (r.status !== 206 || body.byteLength !== Math.min(MiB, size - start)) throw new Error(`range GET failed: ${r.status}, ${body.byteLength} bytes`);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    const p50 = pct(lat, 50);
    const p99 = pct(lat, 99);
    rows.push({ measure: 'serve: 1 MiB random range GET, 16 clients, 400 requests: p50', value: `${p50.toFixed(1)} ms`, target: '≤ 10 ms', met: p50 <= 10 });
    rows.push({ measure: 'serve: 1 MiB random range GET, 16 clients, 400 requests: p99', value: `${p99.toFixed(1)} ms`, target: '', met: null });
  } finally {
    await srv.stop();
  }
  return { rows };
}

// Standalone: node dist/bench/serve.js ARCHIVE FILE NAME
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [archive, file, name] = process.argv.slice(2);
  if (!archive || !file) {
    process.stderr.write('usage: node dist/bench/serve.js ARCHIVE FILE [NAME]\n');
    process.exit(2);
  }
  benchServe(archive, file, name ?? join(file).split('/').pop()!).then(
    (r) => {
      for (const row of r.rows) process.stdout.write(`${row.measure}: ${row.value}${row.target ? ` (target ${row.target}: ${row.met ? 'met' : 'MISSED'})` : ''}\n`);
    },
    (err) => {
      process.stderr.write(`${(err as Error).stack}\n`);
      process.exit(1);
    },
  );
}
