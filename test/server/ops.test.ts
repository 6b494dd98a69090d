// `serve` run unattended: /metrics parsed by promtool, /healthz and /readyz, the access log in both formats, a clear
// error when the port is taken, and alerts to a webhook and a command: one per store state change, none per request.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { commit } from '../../src/index.js';
import { haveCommand, runCli, tempDir, writeRandomFile } from '../helpers/fixtures.js';
import { startServe, startServer } from './serve-helpers.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const PROMTOOL = haveCommand('promtool');

async function waitFor(cond: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A webhook receiver on 127.0.0.1 that keeps every JSON body it is POSTed. */
async function receiver(): Promise<{ url: string; bodies: Json[]; close(): Promise<void> }> {
  const bodies: Json[] = [];
  const srv: Server = createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (text += c));
    req.on('end', () => {
      bodies.push({ method: req.method, type: req.headers['content-type'], ...JSON.parse(text) });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/hook`,
    bodies,
    close: () => new Promise<void>((r) => srv.close(() => r())),
  };
}

describe('serve: metrics, health, access log and alerts', () => {
  let work: string;
  let cleanup: () => Promise<void>;
  let stores: string[];
  let data: Uint8Array;
  before(async () => {
    ({ dir: work, cleanup } = await tempDir('bf-serve-ops-'));
    stores = [1, 2, 3].map((i) => join(work, `d${i}`));
    data = await writeRandomFile(join(work, 'f.bin'), 300 * 1024 + 7, 5);
    await commit(join(work, 'f.bin'), { stores, tier: 3, segmentSize: 16 * 1024 });
  });
  after(async () => cleanup());

  test('/metrics is Prometheus text that promtool accepts, and counts requests, store bytes and latency', { skip: !PROMTOOL && !process.env.CI ? 'promtool not installed (.ci/run installs it)' : false }, async () => {
    const srv = await startServer({ stores });
    try {
      const r = await fetch(`${srv.base}/files/f.bin`);
      assert.deepEqual(new Uint8Array(await r.arrayBuffer()), data);
      assert.equal((await fetch(`${srv.base}/files/nope.bin`)).status, 404);
      const m = await fetch(`${srv.base}/metrics`);
      assert.equal(m.status, 200);
      assert.match(m.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
      const text = await m.text();
      const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}\n---\n${text}`);
      assert.match(text, /^blockframe_http_requests_total\{server="files",route="files",method="GET",code="200"\} 1$/m);
      assert.match(text, /^blockframe_http_requests_total\{server="files",route="files",method="GET",code="404"\} 1$/m);
      const sent = Number(/^blockframe_http_sent_bytes_total\{server="files",route="files"\} (\d+)$/m.exec(text)?.[1]);
      assert.ok(sent >= data.length, `sent ${sent}`);
      for (const s of [1, 2, 3]) {
        assert.match(text, new RegExp(`^blockframe_store_up\\{store="${s}",kind="local"\\} 1$`, 'm'));
        assert.ok(Number(new RegExp(`^blockframe_store_read_bytes_total\\{store="${s}"\\} (\\d+)$`, 'm').exec(text)?.[1]) > 0, `store ${s} read bytes`);
        assert.match(text, new RegExp(`^blockframe_store_call_duration_seconds_count\\{store="${s}",op="get"\\} [1-9]`, 'm'));
      }
      assert.doesNotMatch(text, new RegExp(work.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'no store directory in the metrics');
    } finally {
      await srv.close();
    }
  });

  test('/metrics needs the bearer token when the server has one', async () => {
    const srv = await startServer({ stores, token: 'tok' });
    try {
      const denied = await fetch(`${srv.base}/metrics`);
      assert.equal(denied.status, 401);
      assert.equal(((await denied.json()) as Json).error.code, 'BF_UNAUTHORIZED');
      assert.equal((await fetch(`${srv.base}/metrics`, { headers: { Authorization: 'Bearer tok' } })).status, 200);
      assert.equal((await fetch(`${srv.base}/healthz`)).status, 200, '/healthz stays open');
    } finally {
      await srv.close();
    }
  });

  test('/healthz is 200; /readyz is 200 ready, degraded with a store gone, 503 with a JSON reason beyond the set tolerance', async () => {
    const srv = await startServer({ stores, storeWatch: { intervalMs: 0 } });
    try {
      assert.deepEqual(await (await fetch(`${srv.base}/healthz`)).json(), { status: 'ok' });
      let r = await fetch(`${srv.base}/readyz`);
      assert.equal(r.status, 200);
      assert.equal(((await r.json()) as Json).status, 'ready');
      await rename(stores[2]!, `${stores[2]}.away`);
      await new Promise((res) => setTimeout(res, 1100)); // past READY_FRESH_MS
      r = await fetch(`${srv.base}/readyz`);
      assert.equal(r.status, 200);
      const degraded = (await r.json()) as Json;
      assert.equal(degraded.status, 'degraded');
      assert.deepEqual(degraded.stores.map((s: Json) => s.state), ['up', 'up', 'down']);
      await rename(stores[1]!, `${stores[1]}.away`);
      await new Promise((res) => setTimeout(res, 1100));
      r = await fetch(`${srv.base}/readyz`);
      assert.equal(r.status, 503);
      const body = (await r.json()) as Json;
      assert.equal(body.status, 'unready');
      assert.match(body.reason, /2 of 3 stores not answering \(stores 2, 3\)/);
      assert.ok(!JSON.stringify(body).includes(work), 'no store directory in the answer');
    } finally {
      await rename(`${stores[1]}.away`, stores[1]!).catch(() => undefined);
      await rename(`${stores[2]}.away`, stores[2]!).catch(() => undefined);
      await srv.close();
    }
    const again = await startServer({ stores, storeWatch: { intervalMs: 0 } });
    try {
      assert.equal((await fetch(`${again.base}/readyz`)).status, 200);
    } finally {
      await again.close();
    }
  });

  test('access log: one combined line per request on stdout, one JSON line per request in --access-log-file', async () => {
    const combined = await startServe(['--store', stores[0]!, '--store', stores[1]!, '--store', stores[2]!, '--access-log', 'combined', '--quiet']);
    try {
      await (await fetch(`${combined.base}/files/f.bin`, { headers: { Range: 'bytes=0-99', 'User-Agent': 'ops-test "1"', Referer: 'http://r.example/' } })).arrayBuffer();
      await (await fetch(`${combined.base}/files/missing`)).arrayBuffer();
      await waitFor(() => combined.stdout().split('\n').filter((l) => l.includes('"GET /files/')).length === 2, 5000, 'two access lines');
      const lines = combined.stdout().split('\n').filter((l) => l.includes('"GET /files/'));
      assert.match(lines[0]!, /^127\.0\.0\.1 - - \[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "GET \/files\/f\.bin HTTP\/1\.1" 206 100 "http:\/\/r\.example\/" "ops-test \\x221\\x22"$/);
      assert.match(lines[1]!, /"GET \/files\/missing HTTP\/1\.1" 404 \d+ "-" "[^"]*"$/);
    } finally {
      assert.equal(await combined.stop(), 0);
    }
    assert.equal(combined.stderr(), '', '--quiet: nothing on stderr (not even the "stopping" note)');
    const file = join(work, 'access.jsonl');
    const json = await startServe(['--store', stores[0]!, '--store', stores[1]!, '--store', stores[2]!, '--access-log', 'json', '--access-log-file', file]);
    try {
      await (await fetch(`${json.base}/files/f.bin`)).arrayBuffer();
      await (await fetch(`${json.base}/healthz`)).arrayBuffer();
    } finally {
      assert.equal(await json.stop(), 0);
    }
    const recs = (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Json);
    assert.equal(recs.length, 2);
    assert.deepEqual([recs[0]!.method, recs[0]!.target, recs[0]!.route, recs[0]!.status, recs[0]!.bytes, recs[0]!.server, recs[0]!.completed], ['GET', '/files/f.bin', 'files', 200, data.length, 'files', true]);
    assert.deepEqual([recs[1]!.target, recs[1]!.route, recs[1]!.status], ['/healthz', 'healthz', 200]);
    assert.match(recs[0]!.time, /^\d{4}-\d{2}-\d{2}T/);
    assert.equal(typeof recs[0]!.seconds, 'number');
    assert.ok(!json.stdout().includes('/files/f.bin'), 'nothing of the log on stdout');
  });

  test('a port in use: one clear line naming the flag and the reason, BF_IO, exit 1', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    try {
      const port = String((busy.address() as AddressInfo).port);
      const r = runCli(['serve', '--store', stores[0]!, '--store', stores[1]!, '--store', stores[2]!, '--port', port]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^blockframe: cannot listen on 127\\.0\\.0\\.1:${port} \\(--port\\): the port is in use \\(another server listens on it\\) \\[BF_IO\\]\\n$`));
    } finally {
      busy.close();
    }
  });

  test('a store renamed away under a running serve, then back: exactly one "lost" and one "back" alert, to the webhook and the command, none for requests', async () => {
    const hook = await receiver();
    const out = join(work, 'alerts.txt');
    const srv = await startServe(
      ['--store', stores[0]!, '--store', stores[1]!, '--store', stores[2]!, '--store-check-interval', '0.1', '--notify-url', hook.url, '--notify', `printf '%s %s\\n' "$BLOCKFRAME_ALERT_KIND" "$BLOCKFRAME_ALERT_STORE" >> '${out}'`],
    );
    try {
      const read = async () => assert.deepEqual(new Uint8Array(await (await fetch(`${srv.base}/files/f.bin`)).arrayBuffer()), data);
      await read();
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(hook.bodies.length, 0, 'no alert while every store answers');
      await rename(stores[1]!, `${stores[1]}.away`);
      await waitFor(() => hook.bodies.length >= 1, 10_000, 'the lost alert');
      for (let i = 0; i < 5; i++) await read();
      await new Promise((r) => setTimeout(r, 500));
      await rename(`${stores[1]}.away`, stores[1]!);
      await waitFor(() => hook.bodies.length >= 2, 10_000, 'the back alert');
      for (let i = 0; i < 5; i++) await read();
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(hook.bodies.map((b) => [b.method, b.type, b.kind, b.store, b.source]), [
        ['POST', 'application/json', 'store-lost', 2, 'blockframe'],
        ['POST', 'application/json', 'store-back', 2, 'blockframe'],
      ]);
      assert.match(hook.bodies[0]!.detail, /store 2 \(local\) is not answering/);
      assert.match(hook.bodies[0]!.time, /^\d{4}-\d{2}-\d{2}T/);
      const metrics = await (await fetch(`${srv.base}/metrics`)).text();
      assert.match(metrics, /^blockframe_store_up\{store="2",kind="local"\} 1$/m);
      assert.match(metrics, /^blockframe_alerts_sent_total 4$/m);
    } finally {
      await rename(`${stores[1]}.away`, stores[1]!).catch(() => undefined);
      await srv.stop();
      await hook.close();
    }
    assert.equal(await readFile(out, 'utf8'), 'store-lost 2\nstore-back 2\n');
  });
});

describe('serve: graceful shutdown', () => {
  test('SIGTERM lets a response in flight finish within --shutdown-grace, then the server exits 0', async () => {
    const t = await tempDir('bf-serve-grace-');
    try {
      const root = join(t.dir, 'archive');
      const size = 12 * 1024 * 1024;
      const data = await writeRandomFile(join(t.dir, 'big.bin'), size, 9);
      await commit(join(t.dir, 'big.bin'), { archive: root });
      const srv = await startServe(['--archive', root, '--shutdown-grace', '20']);
      const { get } = await import('node:http');
      const body = await new Promise<Buffer>((resolve, reject) => {
        get(`${srv.base}/files/big.bin`, (res) => {
          const chunks: Buffer[] = [];
          let signalled = false;
          res.on('data', (c: Buffer) => {
            chunks.push(c);
            if (!signalled) {
              signalled = true;
              // Stop reading (the server's writes back up), stop the server, then read on.
              res.pause();
              srv.child.kill('SIGTERM');
              setTimeout(() => res.resume(), 700);
            }
          });
          res.on('end', () => resolve(Buffer.concat(chunks)));
          res.on('error', reject);
          res.on('close', () => {
            if (!res.complete) reject(new Error('the response was cut'));
          });
        }).on('error', reject);
      });
      assert.equal(body.length, size);
      assert.ok(Buffer.from(data).equals(body), 'byte-exact');
      const code = await new Promise<number | null>((r) => (srv.child.exitCode !== null ? r(srv.child.exitCode) : srv.child.once('exit', (c) => r(c))));
      assert.equal(code, 0, srv.stderr());
    } finally {
      await t.cleanup();
    }
  });
});

describe('serve --s3-port: the S3 endpoint shares the loop, the metrics and the access log', () => {
  test('S3 requests are counted with server="s3" on the file server\'s /metrics and logged with the access key', async () => {
    const { S3Client, CreateBucketCommand, PutObjectCommand, GetObjectCommand } = await import('@aws-sdk/client-s3');
    const t = await tempDir('bf-serve-s3ops-');
    const srv = await startServe(['--archive', join(t.dir, 'archive'), '--s3-port', '0', '--s3-user', 'OPSKEY01:ops-secret-1234', '--access-log', 'json'], { BLOCKFRAME_S3_USERS: '' });
    try {
      await waitFor(() => /S3 API at http:\/\/127\.0\.0\.1:\d+\//.test(srv.stdout()), 10_000, 'the S3 endpoint');
      const endpoint = /S3 API at (http:\/\/127\.0\.0\.1:\d+)\//.exec(srv.stdout())![1]!;
      const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'OPSKEY01', secretAccessKey: 'ops-secret-1234' } });
      await s3.send(new CreateBucketCommand({ Bucket: 'ops' }));
      await s3.send(new PutObjectCommand({ Bucket: 'ops', Key: 'k.txt', Body: 'hello metrics' }));
      const got = await s3.send(new GetObjectCommand({ Bucket: 'ops', Key: 'k.txt' }));
      assert.equal(await got.Body!.transformToString(), 'hello metrics');
      s3.destroy();
      const text = await (await fetch(`${srv.base}/metrics`)).text();
      assert.match(text, /^blockframe_http_requests_total\{server="s3",route="bucket",method="PUT",code="200"\} 1$/m);
      assert.match(text, /^blockframe_http_requests_total\{server="s3",route="object",method="PUT",code="200"\} 1$/m);
      assert.match(text, /^blockframe_http_requests_total\{server="s3",route="object",method="GET",code="200"\} 1$/m);
      const s3paths = (await fetch(`${endpoint}/metrics`)).status;
      assert.notEqual(s3paths, 200, 'no /metrics on the S3 port: it is a bucket name there');
      await waitFor(() => srv.stdout().split('\n').filter((l) => l.includes('"server":"s3"')).length >= 3, 5000, 'the S3 access lines');
      const recs = srv.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Json);
      const put = recs.find((r) => r.server === 's3' && r.method === 'PUT' && String(r.target).startsWith('/ops/k.txt'))!;
      assert.deepEqual([put.user, put.route, put.status], ['OPSKEY01', 'object', 200]);
    } finally {
      await srv.stop();
      await t.cleanup();
    }
  });
});

describe('serve: damage alerts', () => {
  test('bit rot healed on read: one damage-found alert however often it is read; after a repair, new rot alerts again', async () => {
    const { makeArchive } = await import('./serve-helpers.js');
    const { Notifier } = await import('../../src/engine/notify.js');
    const a = await makeArchive([{ name: 'rot.bin', size: 256 * 1024 + 5, seed: 77, tier: 2, segmentSize: 32 * 1024 }]);
    const hook = await receiver();
    const notifier = new Notifier({ url: hook.url, log: () => undefined });
    const srv = await startServer({ archive: a.root, notifier, allowUpload: true, token: 'tok', log: () => undefined });
    const flip = async (at: number) => {
      const { open } = await import('node:fs/promises');
      const fh = await open(join(a.root, a.dirs.get('rot.bin')!, 'segments', 'segment_1.dat'), 'r+');
      const b = Buffer.alloc(1);
      await fh.read(b, 0, 1, at);
      b[0]! ^= 0xff;
      await fh.write(b, 0, 1, at);
      await fh.close();
    };
    try {
      await flip(10);
      for (let i = 0; i < 4; i++) assert.deepEqual(new Uint8Array(await (await fetch(`${srv.base}/files/rot.bin`)).arrayBuffer()), a.data.get('rot.bin'));
      await waitFor(() => hook.bodies.length >= 1, 5000, 'the damage alert');
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(hook.bodies.map((b) => [b.kind, b.archive]), [['damage-found', a.dirs.get('rot.bin')]]);
      assert.match(hook.bodies[0]!.detail, /corrupt segments\/segment_1\.dat .*rebuilt from parity on read/);
      const rep = await fetch(`${srv.base}/files/rot.bin/repair`, { method: 'POST', headers: { Authorization: 'Bearer tok' } });
      assert.equal(rep.status, 200);
      await rep.arrayBuffer();
      await flip(20);
      for (let i = 0; i < 3; i++) await (await fetch(`${srv.base}/files/rot.bin`)).arrayBuffer();
      await waitFor(() => hook.bodies.length >= 2, 5000, 'the second damage alert');
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(hook.bodies.map((b) => b.kind), ['damage-found', 'damage-found']);
      assert.match(await (await fetch(`${srv.base}/metrics`, { headers: { Authorization: 'Bearer tok' } })).text(), /^blockframe_heals_on_read_total 2$/m);
    } finally {
      await srv.close();
      await notifier.close();
      await hook.close();
      await a.cleanup();
    }
  });
});
