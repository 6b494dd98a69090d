// `npm run bench` S3 rows: `aws s3 cp` of one file up and down through BlockFrame's S3 endpoint against a reference
// S3 server (one-node Ceph radosgw) and cp, 1 MiB ranged GETs from 16 clients, 1,000 small PUTs from 16 clients, and
// peak server RSS under 16 uploads.
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cephMissing, startCeph, type CephS3 } from '../test/helpers/ceph.js';
import { awsEnv, findAws, signerFor, startCliS3 } from '../test/s3/helpers.js';
import { uriEncode } from '../src/s3/sigv4.js';
import type { S3User } from '../src/s3/users.js';
import type { RangeLoad } from './s3-load.js';
import type { SmallPutLoad } from './s3-small.js';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { median, pct, makeFile } from './util.js';
import { ensureTools, rangeRun, rangeScript, type RangeRun } from './serve.js';

const MiB = 1024 ** 2;
const LOAD = fileURLToPath(new URL('./s3-load.js', import.meta.url));
const SMALL = fileURLToPath(new URL('./s3-small.js', import.meta.url));
const USER: S3User = { accessKey: 'BENCHKEY', secretKey: 'bench-secret-0000' };
/** Clients for the ranged GETs and the concurrent uploads, and the size of each of those uploads. */
const CLIENTS = 16;
const UPLOAD_EACH = 64 * MiB;
/** The small-object row: this many PutObjects of this many bytes (the issue's 1,000 × 4 KiB, 16 clients). */
const SMALL_COUNT = 1000;
const SMALL_SIZE = 4096;

export interface S3Row {
  measure: string;
  value: string;
  target: string;
  met: boolean | null;
}

export interface S3BenchOptions {
  /** Scratch directory (the source file, the archive root, downloads). */
  work: string;
  /** Bytes of the file copied up and down (1 GiB in a full run). */
  size: number;
  runs: number;
  log(msg: string): void;
  /** Wait for the dirty page cache to drain; returns the MiB that were dirty. */
  drain(): number;
}



/** Debian's awscli, installed from apt when missing (as run.ts does for par2); undefined when that fails. */
function awsCli(log: (m: string) => void): string | undefined {
  const found = findAws();
  if (found) return found;
  log('awscli missing: installing it from Debian');
  spawnSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq awscli'], { stdio: 'ignore' });
  return findAws();
}

/** Seconds one command takes; throws with its stderr when it fails. */
function timed(cmd: string, args: string[], env?: NodeJS.ProcessEnv): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', maxBuffer: 16 * MiB });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** The environment a client process gets: awscli's (no config files, no proxies, AWS_CA_BUNDLE unset). */
function clientEnv(work: string, user: S3User): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...awsEnv(work, user) };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  return env;
}

/** Peak resident set (VmHWM, /proc/PID/status) of a process in MiB. */
async function peakRss(pid: number): Promise<number> {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmHWM for pid ${pid}`);
  return Number(m[1]) / 1024;
}

/** Run the ranged-GET load in its own process; resolves to the latencies in ms. */
function rangeLoad(o: RangeLoad): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [LOAD, JSON.stringify(o)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.once('exit', (code) => (code === 0 ? resolve((JSON.parse(out.trim().split('\n').pop()!) as { lat: number[] }).lat) : reject(new Error(`range load failed: ${err}`))));
  });
}

/** Run the small-PUT load in its own process. */
function smallLoad(o: SmallPutLoad): Promise<{ seconds: number; lat: number[] }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [SMALL, JSON.stringify(o)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!) as { seconds: number; lat: number[] }) : reject(new Error(`small-PUT load failed: ${err}`))));
  });
}

/** Seconds of each wrk run of the presigned ranged GETs, runs per server (interleaved), and the paced clients' pause. */
const WRK_SECONDS = 8;
const WRK_RUNS = 3;
const PACE_MS = 50;

/**
 * 1 MiB random ranged GETs on a presigned GetObject URL (SigV4 in the query, signed by the AWS SDK's signer, so
 * every request is authenticated by the server) from CLIENTS keep-alive connections of wrk in its own process: flat out (latency
 * is then CLIENTS / throughput, Little's law) and with each client pausing PACE_MS between requests, WRK_RUNS runs
 * of each per server, interleaved. The load generator is C, so what is measured is the server, as with /files/.
 */
async function presignedRanges(
  dir: string,
  size: number,
  servers: { name: string; endpoint: string; user: S3User }[],
  log: (m: string) => void,
): Promise<Record<string, { flat: RangeRun[]; paced: RangeRun[] }>> {
  ensureTools();
  const flat = join(dir, 'ranges.lua');
  const paced = join(dir, 'paced.lua');
  await writeFile(flat, rangeScript(size, 7));
  await writeFile(paced, rangeScript(size, 8, PACE_MS));
  // SigV4 query signing by the SDK's signer (awscli's `s3 presign` may pick SigV2, which BlockFrame refuses).
  const urls = await Promise.all(
    servers.map(async (s) => {
      const u = new URL(s.endpoint);
      const p = await signerFor(s.user).presign(
        { method: 'GET', protocol: 'http:', hostname: u.hostname, port: Number(u.port), path: '/bench/big.bin', query: {}, headers: { host: u.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } },
        { expiresIn: 3600 },
      );
      return `${s.endpoint}${p.path}?${Object.entries(p.query ?? {}).map(([k, v]) => `${uriEncode(k)}=${uriEncode(String(v))}`).join('&')}`;
    }),
  );
  const out: Record<string, { flat: RangeRun[]; paced: RangeRun[] }> = {};
  for (const s of servers) out[s.name] = { flat: [], paced: [] };
  for (const u of urls) await rangeRun(u, flat, 2); // warm-up
  for (const [kind, script] of [
    ['flat', flat],
    ['paced', paced],
  ] as const) {
    for (let i = 0; i < WRK_RUNS; i++) {
      log(`S3: presigned 1 MiB ranged GETs, ${CLIENTS} wrk connections${kind === 'paced' ? `, ${PACE_MS} ms pauses` : ''}, run ${i + 1}/${WRK_RUNS}`);
      for (const [j, s] of servers.entries()) {
        const r = await rangeRun(urls[j]!, script, WRK_SECONDS);
        if (r.errors) throw new Error(`wrk on ${s.name}'s presigned URL: ${r.errors} errors (non-2xx responses or timeouts)`);
        out[s.name]![kind].push(r);
      }
    }
  }
  return out;
}

/** An S3 endpoint and a user of it. */
interface Endpoint {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** The load of the small-object row: SMALL_COUNT PutObjects of SMALL_SIZE bytes from CLIENTS SDK clients (another process). */
function smallRun(e: Endpoint, bucket: string, log: (m: string) => void, who: string): Promise<{ seconds: number; lat: number[] }> {
  log(`S3: ${SMALL_COUNT} PutObjects of ${SMALL_SIZE / 1024} KiB, ${CLIENTS} clients (${who})`);
  return smallLoad({ bucket, prefix: 'small/', count: SMALL_COUNT, size: SMALL_SIZE, clients: CLIENTS, ...e });
}

/** The small-object row from BlockFrame's run `b` and radosgw's `r` (measured in the same bench run), and its raw numbers. */
function smallRow(b: { seconds: number; lat: number[] }, r: { seconds: number; lat: number[] } | undefined, row: (m: string, v: string) => void): Record<string, unknown> {
  const rate = (x: { seconds: number }) => SMALL_COUNT / x.seconds;
  const vs = r ? `; radosgw ${rate(r).toFixed(0)} objects/s, p50 ${pct(r.lat, 50).toFixed(0)} ms; BlockFrame at ${(rate(b) / rate(r)).toFixed(2)}x` : '';
  row(`S3 small PUTs: ${SMALL_COUNT} PutObjects of ${SMALL_SIZE / 1024} KiB, ${CLIENTS} clients`, `${rate(b).toFixed(0)} objects/s (p50 ${pct(b.lat, 50).toFixed(0)} ms, p99 ${pct(b.lat, 99).toFixed(0)} ms${vs})`);
  return { count: SMALL_COUNT, size: SMALL_SIZE, clients: CLIENTS, seconds: b.seconds, objectsPerSecond: rate(b), latMs: b.lat, reference: r ? { seconds: r.seconds, objectsPerSecond: rate(r), latMs: r.lat } : null };
}

/**
 * `npm run bench -- --s3-small-only`: just the small-PUT row, on a fresh BlockFrame (`serve --s3-port`, archive
 * root under `work`), then on a fresh radosgw when Ceph is installed (started after BlockFrame's run, so neither
 * server's daemons compete with the other's load on a small machine).
 */
export async function benchSmallPuts(o: { work: string; log(msg: string): void }): Promise<{ rows: S3Row[]; raw: Record<string, unknown> }> {
  const rows: S3Row[] = [];
  const row = (measure: string, value: string) => rows.push({ measure, value, target: '', met: null });
  const dir = join(o.work, 's3-small');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  let bf: Awaited<ReturnType<typeof startCliS3>> | undefined = await startCliS3(join(dir, 'archive'), [USER]);
  let ceph: CephS3 | undefined;
  try {
    const mine = { endpoint: bf.endpoint, accessKeyId: USER.accessKey, secretAccessKey: USER.secretKey };
    await makeBucket(mine, 'small');
    const b = await smallRun(mine, 'small', o.log, 'BlockFrame');
    await bf.stop();
    bf = undefined;
    const why = cephMissing();
    let r: { seconds: number; lat: number[] } | undefined;
    if (why === null) {
      o.log('S3: starting the reference radosgw (one-node Ceph)');
      ceph = await startCeph();
      const ref = { endpoint: ceph.endpoint, accessKeyId: ceph.accessKeyId, secretAccessKey: ceph.secretAccessKey };
      await makeBucket(ref, 'small');
      r = await smallRun(ref, 'small', o.log, 'radosgw');
    } else row('S3 reference server (radosgw)', `skipped: ${why}`);
    return { rows, raw: smallRow(b, r, row) };
  } finally {
    await bf?.stop();
    await ceph?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

async function makeBucket(e: Endpoint, bucket: string): Promise<void> {
  const c = new S3Client({ endpoint: e.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: e.accessKeyId, secretAccessKey: e.secretAccessKey }, maxAttempts: 1 });
  try {
    await c.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    c.destroy();
  }
}

/** Run `n` awscli uploads at once; resolves when all have succeeded. */
function concurrentUploads(aws: string, endpoint: string, env: NodeJS.ProcessEnv, file: string, bucket: string, n: number): Promise<void> {
  const one = (i: number) =>
    new Promise<void>((resolve, reject) => {
      const p = spawn(aws, ['--endpoint-url', endpoint, 's3', 'cp', '--only-show-errors', file, `s3://${bucket}/load/${i}.bin`], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr.on('data', (d) => (err += d));
      p.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`upload ${i} failed (${code}): ${err}`))));
    });
  return Promise.all(Array.from({ length: n }, (_, i) => one(i))).then(() => undefined);
}

/**
 * The S3 rows. Each run, on a drained page cache before every step: cp + sync of the file (reference), `aws s3
 * cp` up to BlockFrame, up to radosgw, down from BlockFrame, down from radosgw. Ratios are medians of per-run
 * ratios. Then 1 MiB ranged GETs (16 SDK clients in another process) on both servers, and the peak RSS (VmHWM)
 * of a fresh BlockFrame server while 16 awscli processes each upload 64 MiB. radosgw is skipped with a row
 * saying why when Ceph is not installed.
 */
export async function benchS3(o: S3BenchOptions): Promise<{ rows: S3Row[]; raw: Record<string, unknown> }> {
  const rows: S3Row[] = [];
  const raw: Record<string, unknown> = { bytes: o.size, runs: o.runs };
  const row = (measure: string, value: string, target = '', met: boolean | null = null) => rows.push({ measure, value, target, met });
  const aws = awsCli(o.log);
  if (!aws) {
    row('S3 benchmark', 'skipped: awscli not available (apt-get install awscli)');
    return { rows, raw };
  }
  const dir = join(o.work, 's3');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const src = join(dir, 'big.bin');
  const out = join(dir, 'down.bin');
  const copy = join(dir, 'copy.bin');
  const root = join(dir, 'archive');
  const label = o.size >= 1024 * MiB ? `${o.size / 1024 / MiB} GiB` : `${o.size / MiB} MiB`;
  o.log(`S3: generating ${label}`);
  await makeFile(src, o.size);
  const dirty: number[] = [];
  const drain = () => dirty.push(o.drain());

  let bf = await startCliS3(root, [USER]);
  const why = cephMissing();
  let ceph: CephS3 | undefined;
  if (why === null) {
    o.log('S3: starting the reference radosgw (one-node Ceph)');
    ceph = await startCeph({ memstoreBytes: Math.max(2 * 1024 * MiB, 3 * o.size) });
  } else row('S3 reference server (radosgw)', `skipped: ${why}`);
  const bfEnv = clientEnv(dir, USER);
  const cephEnv = ceph ? clientEnv(dir, { accessKey: ceph.accessKeyId, secretKey: ceph.secretAccessKey }) : {};
  const a = (endpoint: string, env: NodeJS.ProcessEnv, ...args: string[]) => timed(aws, ['--endpoint-url', endpoint, 's3', ...args, ...(args[0] === 'cp' ? ['--only-show-errors'] : [])], env);
  try {
    a(bf.endpoint, bfEnv, 'mb', 's3://bench');
    if (ceph) a(ceph.endpoint, cephEnv, 'mb', 's3://bench');
    const t = { cp: [] as number[], bfUp: [] as number[], bfDown: [] as number[], refUp: [] as number[], refDown: [] as number[] };
    for (let i = 0; i < o.runs; i++) {
      o.log(`S3 run ${i + 1}/${o.runs}: cp, aws s3 cp up (BlockFrame, radosgw), down (BlockFrame, radosgw)`);
      drain();
      t.cp.push(timed('sh', ['-c', 'cp "$1" "$2" && sync "$2"', 'sh', src, copy]));
      await rm(copy, { force: true });
      drain();
      t.bfUp.push(a(bf.endpoint, bfEnv, 'cp', src, 's3://bench/big.bin'));
      if (ceph) {
        drain();
        t.refUp.push(a(ceph.endpoint, cephEnv, 'cp', src, 's3://bench/big.bin'));
        ceph.admin('gc', 'process', '--include-all'); // the overwritten object's tail, freed before the next run
      }
      drain();
      t.bfDown.push(a(bf.endpoint, bfEnv, 'cp', 's3://bench/big.bin', out));
      if (i === 0 && spawnSync('cmp', ['-s', src, out]).status !== 0) throw new Error('the download from BlockFrame differs from the upload');
      await rm(out, { force: true });
      if (ceph) {
        drain();
        t.refDown.push(a(ceph.endpoint, cephEnv, 'cp', 's3://bench/big.bin', out));
        await rm(out, { force: true });
      }
    }
    raw.seconds = t;
    const mibs = (s: number) => `${(o.size / MiB / s).toFixed(0)} MiB/s`;
    row(`cp + sync of ${label} (reference)`, `${mibs(median(t.cp))} (${median(t.cp).toFixed(2)} s)`);
    for (const [dirn, bfT, refT, target] of [
      ['upload', t.bfUp, t.refUp, 0.7],
      ['download', t.bfDown, t.refDown, 0.8],
    ] as const) {
      const vsCp = median(bfT.map((x, i) => t.cp[i]! / x));
      if (ceph) {
        const r = median(bfT.map((x, i) => refT[i]! / x));
        raw[`${dirn}Ratio`] = r;
        row(`aws s3 cp ${dirn} of ${label}: BlockFrame vs radosgw, median of per-run ratios`, `${r.toFixed(2)}x (${mibs(median(bfT))} vs ${mibs(median(refT))}; ${vsCp.toFixed(2)}x cp)`, `>= ${target}x`, r >= target);
      } else {
        row(`aws s3 cp ${dirn} of ${label} through BlockFrame`, `${mibs(median(bfT))} (${vsCp.toFixed(2)}x cp)`);
      }
    }
    raw.serverPeakRssMiB = await peakRss(bf.proc.pid!);
    row(`peak server RSS (VmHWM) over the ${label} uploads and downloads (one client)`, `${(raw.serverPeakRssMiB as number).toFixed(0)} MiB`);

    const servers = [{ name: 'BlockFrame', endpoint: bf.endpoint, user: USER }, ...(ceph ? [{ name: 'radosgw', endpoint: ceph.endpoint, user: { accessKey: ceph.accessKeyId, secretKey: ceph.secretAccessKey } }] : [])];
    const wrk = await presignedRanges(dir, o.size, servers, o.log);
    raw.presignedRanges = wrk;
    const m = (runs: RangeRun[], f: (r: RangeRun) => number) => median(runs.map(f));
    const fmt = (runs: RangeRun[]) => `${m(runs, (r) => r.p50ms).toFixed(1)} / ${m(runs, (r) => r.p99ms).toFixed(1)} ms`;
    const ref = (kind: 'flat' | 'paced') => (wrk.radosgw ? ` (radosgw ${fmt(wrk.radosgw[kind])})` : '');
    const bfFlat = wrk.BlockFrame!.flat;
    const wrkP50 = m(bfFlat, (r) => r.p50ms);
    row(`S3 1 MiB ranged GET, presigned URL, ${CLIENTS} clients (wrk), flat out: p50 / p99`, `${fmt(bfFlat)}${ref('flat')}`, '<= 10 ms p50', wrkP50 <= 10);
    const rate = (runs: RangeRun[]) => `${m(runs, (r) => r.bytes / 1e6 / r.seconds).toFixed(0)} MB/s, ${m(runs, (r) => r.requests / r.seconds).toFixed(0)} req/s`;
    row(`S3 1 MiB ranged GET, presigned URL, ${CLIENTS} clients (wrk): throughput`, `${rate(bfFlat)}${wrk.radosgw ? ` (radosgw ${rate(wrk.radosgw.flat)})` : ''}`);
    const bfPaced = wrk.BlockFrame!.paced;
    row(`S3 1 MiB ranged GET, presigned URL, ${CLIENTS} clients pausing ${PACE_MS} ms (${m(bfPaced, (r) => r.requests / r.seconds).toFixed(0)} req/s): p50 / p99`, `${fmt(bfPaced)}${ref('paced')}`);

    // The same reads from the AWS SDK for JavaScript: 16 clients in one Node process, which spends about as much CPU
    // per request as the server on this 2-core machine, so the latency includes the client's own queueing.
    o.log(`S3: 1 MiB ranged GETs, ${CLIENTS} SDK clients`);
    const load = { bucket: 'bench', key: 'big.bin', size: o.size, requests: 400, warmup: 20, clients: CLIENTS };
    const lat = await rangeLoad({ ...load, endpoint: bf.endpoint, accessKeyId: USER.accessKey, secretAccessKey: USER.secretKey });
    raw.rangeMs = lat;
    row(`S3 1 MiB ranged GET, ${CLIENTS} AWS SDK clients in one Node process, ${lat.length} requests: p50 / p99`, `${pct(lat, 50).toFixed(1)} / ${pct(lat, 99).toFixed(1)} ms`);
    // The same requests one at a time: the latency of one request, without queueing behind 15 others on 2 cores.
    const alone = await rangeLoad({ ...load, requests: 100, clients: 1, endpoint: bf.endpoint, accessKeyId: USER.accessKey, secretAccessKey: USER.secretKey });
    raw.rangeMsOneClient = alone;
    row('S3 1 MiB ranged GET, 1 client (unloaded): p50 / p99', `${pct(alone, 50).toFixed(1)} ms / ${pct(alone, 99).toFixed(1)} ms`);
    if (ceph) {
      const refLat = await rangeLoad({ ...load, endpoint: ceph.endpoint, accessKeyId: ceph.accessKeyId, secretAccessKey: ceph.secretAccessKey });
      raw.referenceRangeMs = refLat;
      row(`radosgw 1 MiB ranged GET, ${CLIENTS} AWS SDK clients (reference): p50 / p99`, `${pct(refLat, 50).toFixed(1)} / ${pct(refLat, 99).toFixed(1)} ms`);
    }

    const smallBf = await smallRun({ endpoint: bf.endpoint, accessKeyId: USER.accessKey, secretAccessKey: USER.secretKey }, 'bench', o.log, 'BlockFrame');
    const smallRef = ceph ? await smallRun({ endpoint: ceph.endpoint, accessKeyId: ceph.accessKeyId, secretAccessKey: ceph.secretAccessKey }, 'bench', o.log, 'radosgw') : undefined;
    raw.smallPuts = smallRow(smallBf, smallRef, row);

    // Peak RSS under upload load, measured on a fresh server so nothing earlier counts.
    await bf.stop();
    bf = await startCliS3(root, [USER]);
    const small = join(dir, 'each.bin');
    await makeFile(small, Math.min(UPLOAD_EACH, o.size));
    o.log(`S3: ${CLIENTS} concurrent uploads of ${Math.min(UPLOAD_EACH, o.size) / MiB} MiB`);
    drain();
    const t0 = process.hrtime.bigint();
    await concurrentUploads(aws, bf.endpoint, bfEnv, small, 'bench', CLIENTS);
    const loadSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const rss = await peakRss(bf.proc.pid!);
    raw.uploadLoad = { clients: CLIENTS, bytesEach: Math.min(UPLOAD_EACH, o.size), seconds: loadSeconds, peakRssMiB: rss };
    row(`peak server RSS (VmHWM), ${CLIENTS} clients uploading ${Math.min(UPLOAD_EACH, o.size) / MiB} MiB each`, `${rss.toFixed(0)} MiB (${((CLIENTS * Math.min(UPLOAD_EACH, o.size)) / MiB / loadSeconds).toFixed(0)} MiB/s total)`, '<= 256 MiB', rss <= 256);
  } finally {
    await bf.stop();
    await ceph?.stop();
    raw.dirtyMiBBeforeSteps = dirty;
    await rm(dir, { recursive: true, force: true });
  }
  return { rows, raw };
}
