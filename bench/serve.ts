// `blockframe serve` benchmark, with the load from separate processes and nginx (serving the original file from the
// page cache) in the same run as the ceiling: full-file GET throughput (curl), and 1 MiB random-range GET latency
// from 16 keep-alive connections (wrk with a Lua script that picks each request's range), flat out (the latency is
// then 16 / throughput, Little's law) and paced below saturation, plus serve's peak RSS.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createServer } from 'node:net';
import { median } from './util.js';

/** The CLI to serve with (BENCH_SERVE_CLI: another checkout's bin/blockframe.js, for before/after runs). */
const CLI = process.env.BENCH_SERVE_CLI ?? fileURLToPath(new URL('../../bin/blockframe.js', import.meta.url));
const MiB = 1024 * 1024;
/** Runs of each measure, interleaved serve / nginx; medians are reported. */
const RUNS = 3;
const CLIENTS = 16;
const RANGE_SECONDS = Number(process.env.BENCH_RANGE_SECONDS ?? 8);
/** Pause of each paced client between its requests (16 clients: about 300 requests/s offered). */
const PACE_MS = 50;

export interface ServeBenchRow {
  measure: string;
  value: string;
  target: string;
  met: boolean | null;
}

export interface ServeBenchRaw {
  bytes: number;
  full: { serveSeconds: number[]; nginxSeconds: number[] };
  ranges: { serve: RangeRun[]; nginx: RangeRun[] };
  /** The same clients, each pausing PACE_MS between its requests: latency below saturation. */
  paced: { serve: RangeRun[]; nginx: RangeRun[] };
  serveRssMiB: number;
}

export interface RangeRun {
  requests: number;
  seconds: number;
  bytes: number;
  p50ms: number;
  p99ms: number;
  errors: number;
}

const log = (msg: string) => process.stderr.write(`[bench serve] ${msg}\n`);


function sh(cmd: string): boolean {
  return spawnSync('sh', ['-c', cmd], { stdio: 'ignore' }).status === 0;
}

/** nginx, wrk and curl from Debian when missing (bench time only, never in tests). */
export function ensureTools(): void {
  const need = [
    ['nginx', 'nginx-light'],
    ['wrk', 'wrk'],
    ['curl', 'curl'],
  ].filter(([bin]) => !sh(`command -v ${bin} || test -x /usr/sbin/${bin}`));
  if (!need.length) return;
  log(`installing ${need.map((n) => n[1]).join(', ')} from Debian`);
  sh(`apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${need.map((n) => n[1]).join(' ')}`);
  for (const [bin] of need) if (!sh(`command -v ${bin} || test -x /usr/sbin/${bin}`)) throw new Error(`${bin} is needed for the serve bench and could not be installed`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function exec(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { maxBuffer: 16 * 1024 * 1024 }, (err, out, errOut) => (err ? reject(new Error(`${cmd} failed: ${err.message}\n${errOut}`)) : resolve(out))),
  );
}

interface Running {
  base: string;
  pid: number;
  stop(): Promise<void>;
}

function stopper(child: ChildProcess): () => Promise<void> {
  const exited = new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
  return async () => {
    child.kill('SIGTERM');
    await exited;
  };
}

/** The real CLI server on a free loopback port, in its own process (BENCH_SERVE_NODE_ARGS adds node flags, e.g. --cpu-prof). */
async function startServe(archive: string): Promise<Running> {
  const extra = (process.env.BENCH_SERVE_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...extra, CLI, 'serve', '--archive', archive, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
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
  return { base, pid: child.pid!, stop: stopper(child) };
}

/** Our own nginx on a free loopback port, serving the directory of `file` (sendfile, as shipped). */
async function startNginx(file: string, tmp: string): Promise<Running> {
  const port = await freePort();
  const conf = join(tmp, 'nginx.conf');
  await writeFile(
    conf,
    `${process.getuid?.() === 0 ? 'user root;\n' : ''}worker_processes auto;
pid ${join(tmp, 'nginx.pid')};
error_log ${join(tmp, 'nginx-error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path ${tmp}/cb; proxy_temp_path ${tmp}/px; fastcgi_temp_path ${tmp}/fc; uwsgi_temp_path ${tmp}/uw; scgi_temp_path ${tmp}/sc;
  types { application/octet-stream bin; }
  server {
    listen 127.0.0.1:${port};
    root ${dirname(file)};
  }
}
`,
  );
  const bin = sh('command -v nginx') ? 'nginx' : '/usr/sbin/nginx';
  const child = spawn(bin, ['-p', tmp, '-c', conf, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited ${child.exitCode}; see ${join(tmp, 'nginx-error.log')}`);
    if (await exec('curl', ['-sfI', '-o', '/dev/null', `${base}/${encodeURIComponent(basename(file))}`]).then(() => true, () => false)) break;
    if (i > 100) throw new Error('nginx did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return { base, pid: child.pid!, stop: stopper(child) };
}

/** One full GET with curl (its own process), body to /dev/null: seconds. */
async function fullGet(url: string, size: number): Promise<number> {
  const out = await exec('curl', ['-sf', '-o', '/dev/null', '-w', '%{time_total} %{size_download} %{http_code}', url]);
  const [t, n, code] = out.trim().split(' ');
  if (code !== '200' || Number(n) !== size) throw new Error(`full GET of ${url}: status ${code}, ${n} bytes of ${size}`);
  return Number(t);
}

/**
 * wrk script: a seeded random 1 MiB range per request (to the URL's path and query as given, so a presigned S3 URL
 * keeps its signature; Range is not a signed header); prints the run's numbers as JSON at the end.
 */
export function rangeScript(size: number, seed: number, pauseMs = 0): string {
  const span = Math.max(0, size - MiB);
  return `
math.randomseed(${seed})
${pauseMs ? `delay = function() return ${pauseMs} end` : ''}
local span = ${span}
request = function()
  local s = math.floor(math.random() * (span + 1))
  return wrk.format("GET", nil, { ["Range"] = "bytes=" .. s .. "-" .. (s + ${MiB} - 1) })
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH {"requests":%d,"us":%d,"bytes":%d,"p50":%d,"p99":%d,"errors":%d}\\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
`;
}

/** CLIENTS keep-alive connections of random 1 MiB range GETs for `seconds` (wrk, one thread, its own process). */
export async function rangeRun(url: string, script: string, seconds: number): Promise<RangeRun> {
  const out = await exec('wrk', ['-t1', `-c${CLIENTS}`, `-d${seconds}s`, '--timeout', '10s', '-s', script, url]);
  const m = /BENCH (\{.*\})/.exec(out);
  if (!m) throw new Error(`wrk printed no result:\n${out}`);
  const r = JSON.parse(m[1]!) as { requests: number; us: number; bytes: number; p50: number; p99: number; errors: number };
  return { requests: r.requests, seconds: r.us / 1e6, bytes: r.bytes, p50ms: r.p50 / 1000, p99ms: r.p99 / 1000, errors: r.errors };
}

async function vmHwmMiB(pid: number): Promise<number> {
  const s = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const m = /VmHWM:\s+(\d+) kB/.exec(s);
  return m ? Number(m[1]) / 1024 : NaN;
}

/**
 * Benchmark `blockframe serve` on an archive root holding `name` (committed from `file`, which nginx serves as the
 * ceiling): (a) full GET with curl, RUNS each, interleaved; (b) 1 MiB random range GETs from CLIENTS connections
 * (wrk), RUNS each, interleaved. Medians; serve's peak RSS (VmHWM) over the whole run.
 */
export async function benchServe(archive: string, file: string, name: string): Promise<{ rows: ServeBenchRow[]; raw: ServeBenchRaw }> {
  ensureTools();
  const size = (await stat(file)).size;
  const tmp = await mkdtemp(join(tmpdir(), 'bf-bench-serve-'));
  const srv = await startServe(archive);
  let ngx: Running | undefined;
  const raw: ServeBenchRaw = { bytes: size, full: { serveSeconds: [], nginxSeconds: [] }, ranges: { serve: [], nginx: [] }, paced: { serve: [], nginx: [] }, serveRssMiB: 0 };
  try {
    ngx = await startNginx(file, tmp);
    const urls = { serve: `${srv.base}/files/${encodeURIComponent(name)}`, nginx: `${ngx.base}/${encodeURIComponent(basename(file))}` };
    log('warming up (a full GET from each)');
    await fullGet(urls.nginx, size);
    await fullGet(urls.serve, size);
    for (let i = 0; i < RUNS; i++) {
      log(`full GET run ${i + 1}/${RUNS}`);
      raw.full.serveSeconds.push(await fullGet(urls.serve, size));
      raw.full.nginxSeconds.push(await fullGet(urls.nginx, size));
    }
    const script = join(tmp, 'ranges.lua');
    await writeFile(script, rangeScript(size, 7));
    await rangeRun(urls.serve, script, 2); // warm-up
    await rangeRun(urls.nginx, script, 2);
    for (let i = 0; i < RUNS; i++) {
      log(`${CLIENTS}-client range run ${i + 1}/${RUNS} (${RANGE_SECONDS} s each)`);
      raw.ranges.serve.push(await rangeRun(urls.serve, script, RANGE_SECONDS));
      raw.ranges.nginx.push(await rangeRun(urls.nginx, script, RANGE_SECONDS));
    }
    const paced = join(tmp, 'paced.lua');
    await writeFile(paced, rangeScript(size, 8, PACE_MS));
    for (let i = 0; i < RUNS; i++) {
      log(`${CLIENTS}-client paced range run ${i + 1}/${RUNS} (${RANGE_SECONDS} s each)`);
      raw.paced.serve.push(await rangeRun(urls.serve, paced, RANGE_SECONDS));
      raw.paced.nginx.push(await rangeRun(urls.nginx, paced, RANGE_SECONDS));
    }
    raw.serveRssMiB = await vmHwmMiB(srv.pid);
  } finally {
    await srv.stop();
    await ngx?.stop();
    await rm(tmp, { recursive: true, force: true });
  }
  return { rows: rows(raw), raw };
}

function rows(raw: ServeBenchRaw): ServeBenchRow[] {
  const mbs = (s: number) => raw.bytes / 1e6 / s;
  const serveS = median(raw.full.serveSeconds);
  const nginxS = median(raw.full.nginxSeconds);
  const ratio = nginxS / serveS;
  const label = raw.bytes >= 1024 * MiB ? `${(raw.bytes / 1024 / MiB).toFixed(raw.bytes % (1024 * MiB) ? 1 : 0)} GiB` : `${Math.round(raw.bytes / MiB)} MiB`;
  const out: ServeBenchRow[] = [
    {
      measure: `serve: full GET of ${label} (curl) vs nginx, median of ${raw.full.serveSeconds.length}`,
      value: `${mbs(serveS).toFixed(0)} MB/s vs ${mbs(nginxS).toFixed(0)} MB/s (${ratio.toFixed(2)}×)`,
      target: '≥ 0.5× nginx',
      met: ratio >= 0.5,
    },
  ];
  const med = (runs: RangeRun[], f: (r: RangeRun) => number) => median(runs.map(f));
  const s = raw.ranges.serve;
  const n = raw.ranges.nginx;
  const errors = [...s, ...n].reduce((x, r) => x + r.errors, 0);
  const p50 = med(s, (r) => r.p50ms);
  const p99 = med(s, (r) => r.p99ms);
  const rate = (runs: RangeRun[]) => med(runs, (r) => r.bytes / 1e6 / r.seconds);
  out.push({
    measure: `serve: 1 MiB random range GET, ${CLIENTS} clients (wrk): p50 / p99 (nginx)`,
    value: `${p50.toFixed(1)} / ${p99.toFixed(1)} ms (nginx ${med(n, (r) => r.p50ms).toFixed(1)} / ${med(n, (r) => r.p99ms).toFixed(1)} ms)${errors ? `, ${errors} errors` : ''}`,
    target: '≤ 10 / ≤ 50 ms',
    met: p50 <= 10 && p99 <= 50 && errors === 0,
  });
  out.push({
    measure: `serve: 1 MiB random range GET, ${CLIENTS} clients: throughput (nginx)`,
    value: `${rate(s).toFixed(0)} MB/s, ${med(s, (r) => r.requests / r.seconds).toFixed(0)} req/s (nginx ${rate(n).toFixed(0)} MB/s, ${med(n, (r) => r.requests / r.seconds).toFixed(0)} req/s)`,
    target: '',
    met: null,
  });
  const ps = raw.paced.serve;
  const pn = raw.paced.nginx;
  const pErrors = [...ps, ...pn].reduce((x, r) => x + r.errors, 0);
  out.push({
    measure: `serve: 1 MiB random range GET, ${CLIENTS} clients pausing ${PACE_MS} ms between requests (${med(ps, (r) => r.requests / r.seconds).toFixed(0)} req/s): p50 / p99 (nginx)`,
    value: `${med(ps, (r) => r.p50ms).toFixed(1)} / ${med(ps, (r) => r.p99ms).toFixed(1)} ms (nginx ${med(pn, (r) => r.p50ms).toFixed(1)} / ${med(pn, (r) => r.p99ms).toFixed(1)} ms)${pErrors ? `, ${pErrors} errors` : ''}`,
    target: '',
    met: null,
  });
  out.push({ measure: 'serve: peak RSS under load (VmHWM)', value: `${raw.serveRssMiB.toFixed(0)} MiB`, target: '≤ 256 MiB', met: raw.serveRssMiB <= 256 });
  return out;
}

function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(|k|ki|kib|m|mi|mib|g|gi|gib)b?$/i.exec(s.trim());
  if (!m) throw new Error(`bad size ${s}`);
  const unit = m[2]!.toLowerCase()[0];
  return Math.round(Number(m[1]) * (unit === 'k' ? 1024 : unit === 'm' ? MiB : unit === 'g' ? 1024 * MiB : 1));
}

/**
 * Standalone:
 *   node dist/bench/serve.js --size 2GiB [--dir DIR] [--keep]   (makes a random file, commits it at Tier 3)
 *   node dist/bench/serve.js ARCHIVE FILE [NAME]                (an archive already committed from FILE)
 * Prints the rows, and the raw numbers as JSON on the last line.
 */
async function main(argv: string[]): Promise<void> {
  const flag = (f: string) => {
    const i = argv.indexOf(f);
    return i >= 0 ? argv.splice(i, 2)[1] : undefined;
  };
  const keep = argv.includes('--keep') ? (argv.splice(argv.indexOf('--keep'), 1), true) : false;
  const sizeArg = flag('--size');
  const dirArg = flag('--dir');
  let archive: string;
  let file: string;
  let name: string;
  let cleanup = async () => {};
  if (sizeArg !== undefined) {
    const size = parseSize(sizeArg);
    const dir = dirArg ?? join(process.env.BENCH_DIR ?? join(dirname(CLI), '..', 'bench', 'work'), 'serve');
    file = join(dir, 'big.bin');
    archive = join(dir, 'archive');
    name = 'big.bin';
    const have = await stat(file).then((s) => s.size === size, () => false);
    const committed = have && (await stat(archive).then(() => true, () => false));
    if (!committed) {
      await rm(dir, { recursive: true, force: true });
      await exec('mkdir', ['-p', dir]);
      log(`making ${size} random bytes and committing them (Tier 3) under ${dir}`);
      await exec('sh', ['-c', `head -c ${size} /dev/urandom > "$1"`, 'sh', file]);
      await exec(process.execPath, [CLI, 'commit', file, '--archive', archive, '--tier', '3']);
    } else log(`reusing ${dir}`);
    if (!keep) cleanup = () => rm(dir, { recursive: true, force: true });
  } else {
    [archive, file, name] = argv as [string, string, string];
    if (!archive || !file) {
      process.stderr.write('usage: node dist/bench/serve.js --size 2GiB [--dir DIR] [--keep] | ARCHIVE FILE [NAME]\n');
      process.exit(2);
    }
    name ??= basename(file);
  }
  try {
    const r = await benchServe(archive, file, name);
    for (const row of r.rows) process.stdout.write(`${row.measure}: ${row.value}${row.target ? ` (target ${row.target}: ${row.met ? 'met' : 'MISSED'})` : ''}\n`);
    process.stdout.write(`${JSON.stringify(r.raw)}\n`);
  } finally {
    await cleanup();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  });
}
