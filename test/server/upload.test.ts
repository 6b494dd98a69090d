// Writes over HTTP: off by default (403), bearer-token auth (401 + WWW-Authenticate), name checks (400), a 64 MiB
// streamed upload in constant memory on a child-process server that then restores byte-exact, an aborted upload
// leaving no staging behind, idempotent re-upload, and POST /files/{name}/repair.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../helpers/fixtures.js';
import { makeArchive, rssMiB, startChild, startServer, type TestArchive } from './serve-helpers.js';

const TOKEN = 'test-token-0123456789';
const MiB = 1024 * 1024;

/** PUT `chunks` 1 MiB blocks (block i = base with i stamped in) with backpressure; resolves with status and body. */
function put(url: string, headers: Record<string, string>, blocks: number, base: Buffer, opts: { abortAfter?: number } = {}): Promise<{ status: number; body: string; sha: string }> {
  const sha = createHash('sha256');
  return new Promise((resolve, reject) => {
    // A raw path (no URL normalisation), so "/files/.." really reaches the server.
    const m = /^http:\/\/([^:/]+):(\d+)(\/.*)$/.exec(url)!;
    const req = request({ host: m[1], port: Number(m[2]), path: m[3], method: 'PUT', headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(blocks * base.length), ...headers } });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body, sha: sha.digest('hex') }));
    });
    req.on('error', (err) => (opts.abortAfter !== undefined ? resolve({ status: -1, body: String(err), sha: '' }) : reject(err)));
    let i = 0;
    const pump = () => {
      while (i < blocks) {
        if (opts.abortAfter !== undefined && i >= opts.abortAfter) {
          req.destroy();
          return;
        }
        const b = Buffer.from(base);
        b.writeUInt32LE(i++, 0);
        sha.update(b);
        if (!req.write(b)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

async function sha256Of(url: string): Promise<{ status: number; sha: string; size: number }> {
  const r = await fetch(url);
  const h = createHash('sha256');
  let size = 0;
  for await (const c of r.body as unknown as AsyncIterable<Uint8Array>) {
    h.update(c);
    size += c.length;
  }
  return { status: r.status, sha: h.digest('hex'), size };
}

describe('blockframe serve: writes', () => {
  let a: TestArchive;
  let child: Awaited<ReturnType<typeof startChild>>;

  before(async () => {
    a = await makeArchive([{ name: 'existing.bin', size: 300_000, seed: 31, tier: 2, segmentSize: 50_000 }]);
    child = await startChild(a.root, ['--allow-upload'], { BLOCKFRAME_TOKEN: TOKEN });
  });
  after(async () => {
    if (child) assert.equal(await child.stop(), 0, 'SIGTERM → exit 0');
    await a?.cleanup();
  });

  test('read-only by default: PUT and repair are refused with 403 and nothing is written', async () => {
    const ro = await startServer({ archive: a.root, token: TOKEN });
    try {
      const r = await put(`${ro.base}/files/new.bin`, { Authorization: `Bearer ${TOKEN}` }, 1, randomBytes(1024));
      assert.equal(r.status, 403);
      assert.equal(JSON.parse(r.body).error.code, 'BF_FORBIDDEN');
      const rep = await fetch(`${ro.base}/files/existing.bin/repair`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` } });
      assert.equal(rep.status, 403);
      const list = (await (await fetch(`${ro.base}/api/archives`)).json()) as { archives: unknown[] };
      assert.equal(list.archives.length, 1);
    } finally {
      await ro.close();
    }
    assert.throws(() => runCliSync(['serve', '--archive', a.root, '--allow-upload']), /exit 2/);
  });

  test('401 with WWW-Authenticate without a token or with a wrong one', async () => {
    for (const auth of [undefined, 'Bearer wrong', `Bearer ${TOKEN}x`, `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}`, 'Bearer ', `bearer${TOKEN}`]) {
      const r = await put(`${child.base}/files/new.bin`, auth ? { Authorization: auth } : {}, 1, randomBytes(4096));
      assert.equal(r.status, 401, String(auth));
      assert.equal(JSON.parse(r.body).error.code, 'BF_UNAUTHORIZED');
    }
    const h = await fetch(`${child.base}/files/existing.bin/repair`, { method: 'POST' });
    assert.equal(h.status, 401);
    assert.match(h.headers.get('www-authenticate')!, /^Bearer/);
  });

  test('names with "/", "\\\\", NUL or dot components are refused with 400', async () => {
    for (const n of ['..', '.', 'a%2Fb', 'a%5Cb', 'a%00b', '%2e%2e', '%2E%2E%2Fescape']) {
      const r = await put(`${child.base}/files/${n}`, { Authorization: `Bearer ${TOKEN}` }, 1, randomBytes(16));
      assert.equal(r.status, 400, n);
    }
  });

  test('64 MiB upload: 201, constant server memory, restores byte-exact; re-upload is already-archived', async (t) => {
    const base = randomBytes(MiB);
    // Settle and measure the baseline after the server has served something.
    await fetch(`${child.base}/files/existing.bin`).then((r) => r.arrayBuffer());
    const baseline = rssMiB(child.pid);
    let peak = baseline;
    const timer = setInterval(() => (peak = Math.max(peak, rssMiB(child.pid))), 25);
    let r;
    try {
      r = await put(`${child.base}/files/${encodeURIComponent('big upload.bin')}`, { Authorization: `Bearer ${TOKEN}` }, 64, base);
    } finally {
      clearInterval(timer);
    }
    assert.equal(r.status, 201, r.body);
    const body = JSON.parse(r.body);
    assert.equal(body.status, 'archived');
    assert.equal(body.size, 64 * MiB);
    assert.equal(body.manifest.name, 'big upload.bin');
    assert.equal(body.path, undefined);
    t.diagnostic(`server RSS ${Math.round(baseline)} → peak ${Math.round(peak)} MiB during a 64 MiB upload`);
    assert.ok(peak - baseline < 100, `server RSS grew ${Math.round(peak - baseline)} MiB (baseline ${Math.round(baseline)} MiB)`);
    const got = await sha256Of(`${child.base}/files/${encodeURIComponent('big upload.bin')}`);
    assert.equal(got.status, 200);
    assert.equal(got.size, 64 * MiB);
    assert.equal(got.sha, r.sha);
    const again = await put(`${child.base}/files/small.bin`, { Authorization: `Bearer ${TOKEN}` }, 1, base.subarray(0, 1000));
    assert.equal(again.status, 201);
    const twice = await put(`${child.base}/files/small.bin`, { Authorization: `Bearer ${TOKEN}` }, 1, base.subarray(0, 1000));
    assert.equal(twice.status, 200);
    assert.equal(JSON.parse(twice.body).status, 'already-archived');
  });

  test('issue 18.13: names of 186 to 255 bytes upload (201), read back and re-upload (200); the stored name is exact', async () => {
    for (const name of ['b'.repeat(186), `${'ü'.repeat(125)}.bin`, 'c'.repeat(255)]) {
      const body = randomBytes(3000);
      const url = `${child.base}/files/${encodeURIComponent(name)}`;
      const r = await put(url, { Authorization: `Bearer ${TOKEN}` }, 1, body);
      assert.equal(r.status, 201, `${Buffer.byteLength(name)} bytes: ${r.body}`);
      assert.equal(JSON.parse(r.body).manifest.name, name);
      const got = await sha256Of(url);
      assert.equal(got.status, 200);
      assert.equal(got.sha, r.sha);
      const again = await put(url, { Authorization: `Bearer ${TOKEN}` }, 1, body);
      assert.equal(again.status, 200, again.body);
    }
  });

  test('a client that disconnects mid-upload leaves no archive and no staging file', async () => {
    const r = await put(`${child.base}/files/aborted.bin`, { Authorization: `Bearer ${TOKEN}` }, 32, randomBytes(MiB), { abortAfter: 4 });
    assert.equal(r.status, -1);
    const staging = join(a.root, '.staging');
    let left: string[] = ['?'];
    for (let i = 0; i < 60 && left.length; i++) {
      left = await readdir(staging).catch(() => []);
      if (left.length) await new Promise((res) => setTimeout(res, 50));
    }
    assert.deepEqual(left, []);
    const nf = await fetch(`${child.base}/api/archives/aborted.bin`);
    assert.equal(nf.status, 404);
  });

  test('POST /files/{name}/repair rebuilds a deleted shard; the cache is refreshed', async () => {
    const info = (await (await fetch(`${child.base}/api/archives/existing.bin`)).json()) as { summary: { dir: string }; manifest: { stripes: { data: { path: string }[] }[] } };
    const victim = info.manifest.stripes[0]!.data[0]!.path;
    await rm(join(a.root, info.summary.dir, victim));
    const r = await fetch(`${child.base}/files/existing.bin/repair`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(r.status, 200);
    const report = (await r.json()) as { status: string; archives: { outcome: string; actions: { path: string }[] }[] };
    assert.equal(report.status, 'healthy');
    assert.equal(report.archives[0]!.outcome, 'repaired');
    assert.ok(report.archives[0]!.actions.some((x) => x.path === victim));
    const h = (await (await fetch(`${child.base}/api/archives/existing.bin/health`)).json()) as { status: string };
    assert.equal(h.status, 'healthy');
    const got = new Uint8Array(await (await fetch(`${child.base}/files/existing.bin`)).arrayBuffer());
    assert.deepEqual(got, a.data.get('existing.bin'));
  });
});

function runCliSync(args: string[]): void {
  const r = runCli(args);
  if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stderr}`);
}
