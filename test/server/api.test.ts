// The JSON API over real HTTP: listing, info, health with a deleted shard, raw shard bytes hashing to
// X-BlockFrame-Hash, openapi.json, JSON errors for unknown routes/files, 405 with Allow, ambiguous names → 409.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { blake3Hex, initBlake3 } from '../../src/integrity/blake3.js';
import { makeArchive, startServer, type TestArchive } from './serve-helpers.js';

interface Json {
  [k: string]: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

describe('blockframe serve: JSON API', () => {
  let a: TestArchive;
  let srv: { base: string; close(): Promise<void> };
  const get = async (path: string, init?: RequestInit) => {
    const r = await fetch(`${srv.base}${path}`, init);
    return { r, body: r.headers.get('content-type')?.startsWith('application/json') ? ((await r.json()) as Json) : Buffer.from(await r.arrayBuffer()) };
  };

  before(async () => {
    await initBlake3();
    a = await makeArchive([
      { name: 'movie.webm', size: 900_000, seed: 21, tier: 3, segmentSize: 60_000 },
      { name: 'small.txt', size: 5000, seed: 22 },
      // Same name, different content: two archives, so the name alone is ambiguous.
      { name: 'twin.bin', size: 100, seed: 23 },
      { name: 'twin.bin', size: 101, seed: 24 },
    ]);
    srv = await startServer({ archive: a.root });
  });
  after(async () => {
    await srv?.close();
    await a?.cleanup();
  });

  test('GET /api/archives lists summaries with health: null', async () => {
    const { r, body } = await get('/api/archives');
    assert.equal(r.status, 200);
    const b = body as Json;
    assert.equal(b.archives.length, 4);
    assert.deepEqual(b.damaged, []);
    const movie = b.archives.find((x: Json) => x.name === 'movie.webm');
    assert.equal(movie.size, 900_000);
    assert.equal(movie.health, null);
    assert.equal(movie.tier, 3);
  });

  test('GET /api/archives/{name}: summary and manifest', async () => {
    const { r, body } = await get(`/api/archives/${encodeURIComponent('movie.webm')}`);
    assert.equal(r.status, 200);
    const b = body as Json;
    assert.equal(b.summary.name, 'movie.webm');
    assert.equal(b.manifest.size, 900_000);
    assert.ok(Array.isArray(b.manifest.stripes));
  });

  test('ambiguous name → 409 with candidates; unknown → 404 JSON', async () => {
    const amb = await get('/api/archives/twin.bin');
    assert.equal(amb.r.status, 409);
    assert.equal((amb.body as Json).error.code, 'BF_AMBIGUOUS_NAME');
    assert.equal((amb.body as Json).error.candidates.length, 2);
    const f = await get('/files/twin.bin');
    assert.equal(f.r.status, 409);
    const nf = await get('/api/archives/nope');
    assert.equal(nf.r.status, 404);
    assert.equal((nf.body as Json).error.code, 'BF_ARCHIVE_NOT_FOUND');
    for (const p of ['/nope', '/api', '/api/archives/small.txt/bogus', '/files', '/files/a/b/c']) {
      const x = await get(p);
      assert.equal(x.r.status, 404, p);
      assert.equal(typeof (x.body as Json).error.code, 'string', p);
    }
  });

  test('unsupported methods → 405 JSON with Allow', async () => {
    for (const [method, path, allow] of [
      ['DELETE', '/files/small.txt', 'GET, HEAD, PUT'],
      ['POST', '/api/archives', 'GET, HEAD'],
      ['PATCH', '/openapi.json', 'GET, HEAD'],
      ['GET', '/files/small.txt/repair', 'POST'],
    ] as const) {
      const { r, body } = await get(path, { method });
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.equal(r.headers.get('allow'), allow);
      assert.equal((body as Json).error.code, 'BF_METHOD_NOT_ALLOWED');
    }
  });

  test('shard endpoint: bytes hash to X-BlockFrame-Hash; ranges; bad indexes refused', async () => {
    const { body } = await get('/api/archives/movie.webm');
    const m = (body as Json).manifest;
    let checked = 0;
    for (const [si, st] of m.stripes.entries() as [number, Json][]) {
      for (const [role, list] of [['data', st.data], ['parity', st.parity]] as [string, Json[]][]) {
        for (const [i, sh] of list.entries()) {
          const idx = role === 'data' ? i : sh.index;
          const x = await get(`/api/archives/movie.webm/shards/${si}/${role}/${idx}`);
          assert.equal(x.r.status, 200);
          assert.equal(x.r.headers.get('content-type'), 'application/octet-stream');
          const hash = x.r.headers.get('x-blockframe-hash')!;
          assert.equal(hash, sh.hash);
          assert.equal(x.r.headers.get('etag'), `"${sh.hash}"`);
          assert.equal(blake3Hex(x.body as Buffer), hash);
          checked++;
        }
      }
    }
    assert.ok(checked > 15);
    const full = (await get('/api/archives/movie.webm/shards/0/parity/0')).body as Buffer;
    const part = await get('/api/archives/movie.webm/shards/0/parity/0', { headers: { Range: 'bytes=10-19' } });
    assert.equal(part.r.status, 206);
    assert.equal(part.r.headers.get('content-range'), `bytes 10-19/${full.length}`);
    assert.deepEqual(part.body, full.subarray(10, 20));
    for (const [p, status] of [
      ['/api/archives/movie.webm/shards/99/data/0', 404],
      ['/api/archives/movie.webm/shards/0/data/999', 404],
      ['/api/archives/movie.webm/shards/0/meta/0', 404],
      ['/api/archives/movie.webm/shards/-1/data/0', 400],
      ['/api/archives/movie.webm/shards/0/data/..%2f..%2fmanifest.json', 400],
      ['/api/archives/movie.webm/shards/0/data/1e3', 400],
      ['/api/archives/movie.webm/shards/0/data/0x1', 400],
    ] as const) {
      const x = await get(p);
      assert.equal(x.r.status, status, p);
    }
  });

  test('health: healthy, then a deleted shard shows as missing', async () => {
    let { r, body } = await get('/api/archives/small.txt/health');
    assert.equal(r.status, 200);
    assert.equal((body as Json).status, 'healthy');
    assert.ok((body as Json).shards.every((s: Json) => s.state === 'ok'));
    ({ r, body } = await get('/api/archives/movie.webm/health'));
    const shards = (body as Json).shards as Json[];
    const victim = shards.find((s) => s.role === 'data' && s.stripe === 0 && s.index === 1)!;
    await rm(join(a.root, a.dirs.get('movie.webm')!, victim.path));
    ({ r, body } = await get('/api/archives/movie.webm/health'));
    const b = body as Json;
    assert.equal(b.status, 'repairable');
    const after = b.shards.find((s: Json) => s.path === victim.path);
    assert.equal(after.state, 'missing');
    assert.equal(b.shards.filter((s: Json) => s.state !== 'ok').length, 1);
    assert.ok(b.problems.some((p: Json) => p.kind === 'missing' && p.path === victim.path));
    for (const s of b.shards) assert.ok(['data', 'parity'].includes(s.role) && Number.isInteger(s.stripe) && Number.isInteger(s.index) && Number.isInteger(s.size));
    // The shard endpoint reports the loss; the file itself is still served, rebuilt from parity.
    const sh = await get(`/api/archives/movie.webm/shards/0/data/${victim.index}`);
    assert.equal(sh.r.status, 500);
    assert.equal((sh.body as Json).error.code, 'BF_SHARD_MISSING');
    const f = await get('/files/movie.webm');
    assert.equal(f.r.status, 200);
    assert.deepEqual(new Uint8Array(f.body as Buffer), a.data.get('movie.webm'));
  });

  test('GET /openapi.json is OpenAPI 3.1 and lists every route', async () => {
    const { r, body } = await get('/openapi.json');
    assert.equal(r.status, 200);
    const doc = body as Json;
    assert.equal(doc.openapi, '3.1.0');
    for (const p of ['/', '/ui/{file}', '/openapi.json', '/files/{name}', '/files/{name}/repair', '/api/archives', '/api/archives/{name}', '/api/archives/{name}/health', '/api/archives/{name}/shards/{stripe}/{role}/{index}']) {
      assert.ok(doc.paths[p], p);
    }
    assert.ok(doc.paths['/files/{name}'].put.security);
  });

  test('UI routes: index and assets only from the UI directory, with a CSP; traversal refused', async () => {
    const idx = await get('/');
    assert.ok([200, 404].includes(idx.r.status));
    if (idx.r.status === 200) {
      assert.match(idx.r.headers.get('content-type')!, /^text\/html/);
      assert.match(idx.r.headers.get('content-security-policy')!, /default-src 'self'/);
    }
    for (const p of ['/ui/..%2f..%2fpackage.json', '/ui/../package.json', '/ui/nonexistent.js', '/ui/']) {
      const x = await get(p);
      assert.ok([400, 404].includes(x.r.status), `${p} ${x.r.status}`);
    }
  });
});
