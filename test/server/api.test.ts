// The JSON API over real HTTP: listing, info, health with a deleted shard, raw shard bytes hashing to
// X-BlockFrame-Hash, openapi.json, JSON errors for unknown routes/files, 405 with Allow, ambiguous names → 409;
// and a Tier 4 archive: overhead with level 2, level-2 shards in /health, the level-2 raw shard route.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { blake3Hex, initBlake3 } from '../../src/integrity/blake3.js';
import { commit } from '../../src/index.js';
import { tempDir, writeRandomFile } from '../helpers/fixtures.js';
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
    for (const p of ['/', '/ui/{file}', '/openapi.json', '/files/{name}', '/files/{name}/repair', '/api/archives', '/api/archives/{name}', '/api/archives/{name}/health', '/api/archives/{name}/shards/{stripe}/{role}/{index}', '/api/archives/{name}/level2/{stripe}/{role}/{index}', '/api/stores', '/metrics', '/healthz', '/readyz']) {
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

describe('blockframe serve: a Tier 4 archive', () => {
  let root: string;
  let dir: string;
  let cleanup: () => Promise<void>;
  let srv: { base: string; close(): Promise<void> };
  const get = async (path: string, init?: RequestInit) => {
    const r = await fetch(`${srv.base}${path}`, init);
    return { r, body: r.headers.get('content-type')?.startsWith('application/json') ? ((await r.json()) as Json) : Buffer.from(await r.arrayBuffer()) };
  };
  const paritySum = (stripes: Json[]) => stripes.reduce((n, st) => n + st.parity.reduce((x: number, p: Json) => x + p.size, 0), 0);

  before(async () => {
    await initBlake3();
    let work: string;
    ({ dir: work, cleanup } = await tempDir('bf-serve-t4-'));
    root = join(work, 'archive');
    // 300 KB in 4 KiB segments: 74 segments, so 3 blocks (30, 30, 14) and one level-2 group of 3 blocks.
    const src = join(work, 'big.bin');
    await writeRandomFile(src, 300_000, 41);
    dir = (await commit(src, { archive: root, tier: 4, segmentSize: 4096 })).dir;
    const small = join(work, 'small.txt');
    await writeRandomFile(small, 1000, 42);
    await commit(small, { archive: root });
    srv = await startServer({ archive: root });
  });
  after(async () => {
    await srv?.close();
    await cleanup?.();
  });

  test('the summary counts level-2 parity in the overhead and describes level 2', async () => {
    const { r, body } = await get('/api/archives/big.bin');
    assert.equal(r.status, 200);
    const { summary, manifest } = body as Json;
    assert.equal(summary.tier, 4);
    assert.equal(manifest.stripes.length, 3);
    const l1 = paritySum(manifest.stripes);
    const l2 = paritySum(manifest.level2.stripes);
    assert.ok(l2 > 0);
    assert.ok(Math.abs(summary.overhead - (l1 + l2) / manifest.size) < 1e-12, `overhead ${summary.overhead}`);
    assert.deepEqual(summary.level2, {
      groups: 1,
      stripes: 30,
      groupBlocks: manifest.level2.group_blocks,
      dataShards: { min: 3, max: 3 },
      parityShards: 1,
      overhead: l2 / manifest.size,
    });
    const listing = (await get('/api/archives')).body as Json;
    const listed = listing.archives.find((a: Json) => a.name === 'big.bin');
    assert.equal(listed.overhead, summary.overhead);
    assert.deepEqual(listed.level2, summary.level2);
    assert.equal(listing.archives.find((a: Json) => a.name === 'small.txt').level2, null);
  });

  test('level-2 raw shards: exact bytes and hash, ranges; bad stripes, roles and indexes refused', async () => {
    const m = ((await get('/api/archives/big.bin')).body as Json).manifest;
    for (const [si, st] of m.level2.stripes.entries() as [number, Json][]) {
      const p = st.parity[0];
      const x = await get(`/api/archives/big.bin/level2/${si}/parity/${p.index}`);
      assert.equal(x.r.status, 200);
      assert.equal(x.r.headers.get('content-type'), 'application/octet-stream');
      assert.equal(x.r.headers.get('x-blockframe-hash'), p.hash);
      assert.equal(x.r.headers.get('x-blockframe-shard'), p.path);
      assert.equal(x.r.headers.get('etag'), `"${p.hash}"`);
      assert.deepEqual(x.body, await readFile(join(root, dir, p.path)));
      assert.equal(blake3Hex(x.body as Buffer), p.hash);
    }
    const last = m.level2.stripes.length - 1;
    const part = await get(`/api/archives/big.bin/level2/${last}/parity/0`, { headers: { Range: 'bytes=5-9' } });
    assert.equal(part.r.status, 206);
    assert.deepEqual(part.body, (await readFile(join(root, dir, m.level2.stripes[last].parity[0].path))).subarray(5, 10));
    const head = await fetch(`${srv.base}/api/archives/big.bin/level2/0/parity/0`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('x-blockframe-hash'), m.level2.stripes[0].parity[0].hash);
    for (const [p, status] of [
      [`/api/archives/big.bin/level2/${last + 1}/parity/0`, 404],
      ['/api/archives/big.bin/level2/0/parity/1', 404],
      ['/api/archives/big.bin/level2/0/data/0', 404],
      ['/api/archives/big.bin/level2/0/meta/0', 404],
      ['/api/archives/small.txt/level2/0/parity/0', 404],
      ['/api/archives/big.bin/level2/-1/parity/0', 400],
      ['/api/archives/big.bin/level2/0/parity/..%2f..%2fmanifest.json', 400],
      ['/api/archives/big.bin/level2/x/parity/0', 400],
    ] as const) {
      const x = await get(p);
      assert.equal(x.r.status, status, p);
      assert.equal(typeof (x.body as Json).error.code, 'string', p);
    }
    const post = await get('/api/archives/big.bin/level2/0/parity/0', { method: 'POST' });
    assert.equal(post.r.status, 405);
  });

  test('health lists the level-2 parity shards; a deleted one shows as missing at level 2', async () => {
    const m = ((await get('/api/archives/big.bin')).body as Json).manifest;
    let b = (await get('/api/archives/big.bin/health')).body as Json;
    assert.equal(b.status, 'healthy');
    const level2 = (b.shards as Json[]).filter((s) => s.level === 2);
    assert.equal(level2.length, m.level2.stripes.length);
    level2.forEach((s, i) => {
      const p = m.level2.stripes[i].parity[0];
      assert.deepEqual(s, { path: p.path, role: 'parity', level: 2, stripe: i, index: p.index, size: p.size, state: 'ok', store: 1 });
    });
    const level1 = (b.shards as Json[]).filter((s) => s.level === 1);
    assert.equal(level1.length, m.stripes.reduce((n: number, st: Json) => n + st.data.length + st.parity.length, 0));
    assert.equal(level1.length + level2.length, b.shards.length);

    const victim = m.level2.stripes[5].parity[0];
    await rm(join(root, dir, victim.path));
    b = (await get('/api/archives/big.bin/health')).body as Json;
    assert.equal(b.status, 'repairable');
    const bad = (b.shards as Json[]).filter((s) => s.state !== 'ok');
    assert.deepEqual(bad, [{ path: victim.path, role: 'parity', level: 2, stripe: 5, index: 0, size: victim.size, state: 'missing', store: 1 }]);
    assert.ok(b.problems.some((p: Json) => p.kind === 'missing' && p.path === victim.path && p.level === 2 && p.stripe === 5));
    const sh = await get('/api/archives/big.bin/level2/5/parity/0');
    assert.equal(sh.r.status, 500);
    assert.equal((sh.body as Json).error.code, 'BF_SHARD_MISSING');
  });
});
