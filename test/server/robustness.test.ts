// Hostile and heavy traffic: traversal attempts over raw HTTP, malformed and huge Range headers, 100 concurrent range
// readers plus paused slow readers with bounded server memory, shards damaged while the server runs (still correct
// bytes), unrecoverable damage (never wrong bytes), and clients that vanish mid-response.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { get as httpGet, request, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { prng } from '../helpers/fixtures.js';
import { eqBytes, makeArchive, rssMiB, startChild, startServer, type TestArchive } from './serve-helpers.js';

const MiB = 1024 * 1024;
const BIG = 24 * MiB + 777;

/** Send `raw` bytes as the request and collect the whole reply as text (bounded by a timeout). */
function rawRequest(port: number, raw: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(raw)); // not end(): a half-closed socket may be dropped early
    let out = '';
    s.on('data', (d: Buffer) => (out += d.toString('latin1')));
    s.on('close', () => resolve(out));
    s.on('error', reject);
    s.setTimeout(5000, () => s.destroy());
  });
}

function fetchRaw(base: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer; res: IncomingMessage }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: Number(u.port), path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks), res }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('blockframe serve: robustness', () => {
  let a: TestArchive;
  let srv: { base: string; close(): Promise<void> };
  let port: number;

  before(async () => {
    a = await makeArchive([
      { name: 'big.bin', size: BIG, seed: 41, tier: 2, segmentSize: 4 * MiB },
      { name: 'heal.bin', size: 3 * MiB + 5, seed: 42, tier: 3, segmentSize: 256 * 1024 },
      { name: 'doomed.bin', size: 600_000, seed: 43, tier: 2, segmentSize: 200_000 },
    ]);
    srv = await startServer({ archive: a.root });
    port = Number(new URL(srv.base).port);
  });
  after(async () => {
    await srv?.close();
    await a?.cleanup();
  });

  test('traversal attempts never leave the archive (400/404, raw paths, no normalisation)', async () => {
    const secret = 'root:x:0:0';
    const targets = [
      '/files/..',
      '/files/.',
      '/files/%2e%2e',
      '/files/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd',
      '/files/..%2f..%2f..%2fetc%2fpasswd',
      '/files/..%5c..%5cpackage.json',
      '/files/%2fetc%2fpasswd',
      '/files//etc/passwd',
      '/files/%00',
      '/files/a%00b',
      '/files/%zz',
      '/../../etc/passwd',
      '/files/../../../etc/passwd',
      '/ui/..%2f..%2f..%2fpackage.json',
      '/ui/%2e%2e%2fserver.ts',
      '/ui/..',
      '/ui/%2e%2e',
      '/ui/%00',
      '/api/archives/..%2f..%2f/health',
      '/api/archives/%2e%2e',
      '/api/archives/big.bin/shards/0/data/..%2f..%2fmanifest.json',
      '/api/archives/big.bin/shards/0/..%2f..%2f/0',
      '/api/archives/big.bin/shards/%2e%2e/data/0',
    ];
    for (const t of targets) {
      const reply = await rawRequest(port, `GET ${t} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1]);
      assert.ok(status === 400 || status === 404, `${t} → ${status}`);
      assert.ok(!reply.includes(secret) && !reply.includes('"devDependencies"'), t);
      if (status !== 400 || reply.includes('application/json')) assert.match(reply, /"code": "BF_/, t);
    }
    for (const target of ['http://evil.example/files/big.bin', '*', 'files/big.bin']) {
      const reply = await rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.match(reply, /^HTTP\/1\.1 40[04]/, target);
    }
  });

  test('malformed, huge and hostile Range headers', async () => {
    const data = a.data.get('heal.bin')!;
    const cases: [string, number][] = [
      ['bytes=' + '1-2,'.repeat(1000), 200], // over the header length cap: ignored
      ['bytes=' + Array.from({ length: 100 }, (_, i) => `${i * 3}-${i * 3}`).join(','), 206], // at the cap: served (coalesced)
      ['bytes=0-0,' + '-1,'.repeat(50), 206],
      ['bytes=--1', 200],
      ['bytes=1--2', 200],
      ['bytes=0x10-0x20', 200],
      ['bytes=1.5-2', 200],
      ['bytes=99999999999999999999999-', 200],
      ['BYTES=0-9', 206],
      ['bytes = 0-9', 206],
      ['bytes=0-9,,', 206],
      [',', 200],
    ];
    for (const [h, status] of cases) {
      let r;
      try {
        r = await fetchRaw(srv.base, '/files/heal.bin', { Range: h });
      } catch (err) {
        assert.fail(`${JSON.stringify(h.slice(0, 40))}: ${(err as Error).message}`);
      }
      assert.equal(r.status, status, JSON.stringify(h.slice(0, 40)));
      if (status === 200) assert.ok(eqBytes(r.body, data));
    }
    // Headers beyond Node's limit are refused before routing.
    const reply = await rawRequest(port, `GET /files/heal.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=${'0-1,'.repeat(10_000)}0-1\r\nConnection: close\r\n\r\n`);
    assert.match(reply, /^HTTP\/1\.1 431/);
  });

  test('100 concurrent range readers and 4 paused slow readers: bounded memory, bounded time, exact bytes', async (t) => {
    const child = await startChild(a.root);
    try {
      const data = a.data.get('big.bin')!;
      await fetch(`${child.base}/files/big.bin`, { headers: { Range: 'bytes=0-0' } }).then((r) => r.arrayBuffer());
      const baseline = rssMiB(child.pid);
      let peak = baseline;
      const timer = setInterval(() => (peak = Math.max(peak, rssMiB(child.pid))), 20);
      // Slow readers: ask for the whole file, read nothing, keep the connection open.
      const slow: IncomingMessage[] = [];
      const slowReqs = Array.from({ length: 4 }, () =>
        new Promise<void>((resolve, reject) => {
          const req = httpGet(`${child.base}/files/big.bin`, (res) => {
            res.pause();
            slow.push(res);
            resolve();
          });
          req.on('error', (e) => (slow.length >= 4 ? undefined : reject(e)));
        }),
      );
      await Promise.all(slowReqs);
      const rand = prng(4242);
      const t0 = Date.now();
      const one = async () => {
        const start = rand() % (BIG - MiB);
        const end = start + (rand() % MiB);
        const r = await fetch(`${child.base}/files/big.bin`, { headers: { Range: `bytes=${start}-${end}` } });
        assert.equal(r.status, 206);
        assert.ok(eqBytes(new Uint8Array(await r.arrayBuffer()), data.subarray(start, end + 1)), `${start}-${end}`);
      };
      await Promise.all(Array.from({ length: 100 }, one));
      const elapsed = Date.now() - t0;
      // The slow readers are still there, still paused: reading resumes and completes for one of them.
      const first = slow[0]!;
      let got = 0;
      first.on('data', (d: Buffer) => (got += d.length));
      first.resume();
      await new Promise((r) => first.on('end', r));
      assert.equal(got, BIG);
      clearInterval(timer);
      for (const s of slow) s.destroy();
      t.diagnostic(`100 range reads in ${elapsed} ms; server RSS ${Math.round(baseline)} → peak ${Math.round(peak)} MiB`);
      assert.ok(elapsed < 20_000, `100 range reads took ${elapsed} ms`);
      assert.ok(peak - baseline < 250, `server RSS grew ${Math.round(peak - baseline)} MiB over ${Math.round(baseline)} MiB`);
      // Clients that vanish mid-response: the server stays healthy.
      for (let i = 0; i < 10; i++) {
        await new Promise<void>((resolve) => {
          const req = httpGet(`${child.base}/files/big.bin`, (res) => {
            res.once('data', () => {
              req.destroy();
              resolve();
            });
          });
          req.on('error', () => resolve());
        });
      }
      const ok = await fetch(`${child.base}/files/big.bin`, { headers: { Range: 'bytes=-100' } });
      assert.equal(ok.status, 206);
      assert.ok(eqBytes(new Uint8Array(await ok.arrayBuffer()), data.subarray(BIG - 100)));
    } finally {
      assert.equal(await child.stop(), 0);
    }
  });

  test('shards corrupted or deleted while the server runs: the bytes are still exact', async () => {
    const data = a.data.get('heal.bin')!;
    const url = `${srv.base}/files/heal.bin`;
    assert.ok(eqBytes(new Uint8Array(await (await fetch(url)).arrayBuffer()), data)); // the reader is cached now
    const info = (await (await fetch(`${srv.base}/api/archives/heal.bin`)).json()) as { summary: { dir: string }; manifest: { stripes: { data: { path: string }[]; parity: { path: string }[] }[] } };
    const dir = join(a.root, info.summary.dir);
    const st = info.manifest.stripes[0]!;
    // Corrupt one data shard in place (the cached file handle sees it) and delete another.
    const victim = join(dir, st.data[1]!.path);
    await chmod(victim, 0o644);
    const bytes = await readFile(victim);
    for (let i = 0; i < bytes.length; i += 997) bytes[i] ^= 0x5a;
    await writeFile(victim, bytes);
    await rm(join(dir, st.data[3]!.path));
    assert.ok(eqBytes(new Uint8Array(await (await fetch(url)).arrayBuffer()), data));
    const r = await fetch(url, { headers: { Range: 'bytes=262100-700000' } });
    assert.ok(eqBytes(new Uint8Array(await r.arrayBuffer()), data.subarray(262100, 700001)));
  });

  test('unrecoverable damage: an error or a cut connection, never wrong bytes', async () => {
    const url = `${srv.base}/files/doomed.bin`;
    const data = a.data.get('doomed.bin')!;
    const info = (await (await fetch(`${srv.base}/api/archives/doomed.bin`)).json()) as { summary: { dir: string }; manifest: { stripes: { data: { path: string }[]; parity: { path: string }[] }[] } };
    const dir = join(a.root, info.summary.dir);
    // Stripe 1 (bytes 200000-399999) loses its data shard and every parity shard.
    const st = info.manifest.stripes[1]!;
    for (const p of [st.data[0]!.path, ...st.parity.map((x) => x.path)]) {
      await chmod(join(dir, p), 0o644);
      await writeFile(join(dir, p), Buffer.alloc((await readFile(join(dir, p))).length, 0x33));
    }
    // A range starting in the lost stripe fails before any byte is sent: a JSON error.
    const bad = await fetch(url, { headers: { Range: 'bytes=250000-260000' } });
    assert.equal(bad.status, 500);
    assert.match(((await bad.json()) as { error: { code: string } }).error.code, /^BF_/);
    // The whole file starts fine, then hits the loss: the connection is cut, the body is short.
    let body: Buffer | null = null;
    let failed = false;
    try {
      const r = await fetch(url);
      body = Buffer.from(await r.arrayBuffer());
    } catch {
      failed = true;
    }
    assert.ok(failed || (body !== null && body.length < data.length), 'a damaged file is never delivered whole');
    if (body) assert.ok(eqBytes(body, data.subarray(0, body.length)), 'what was sent is a correct prefix');
    // Readable parts of the file are still served.
    const good = await fetch(url, { headers: { Range: 'bytes=0-1000' } });
    assert.ok(eqBytes(new Uint8Array(await good.arrayBuffer()), data.subarray(0, 1001)));
  });
});
