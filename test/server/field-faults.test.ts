// Regression tests for the server faults of issue 13: replaced shards, silent healing, slow readers, idle clients,
// oversize names, server paths in error bodies.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request, type IncomingMessage } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { createBlockFrameServer } from '../../src/index.js';
import { eqBytes, makeArchive, rssMiB, startChild, startServer, type TestArchive } from './serve-helpers.js';
import { runCli } from '../helpers/fixtures.js';
import { runCliAsync } from '../store/peers.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const MiB = 1024 * 1024;

async function flip(path: string, at: number): Promise<void> {
  await chmod(path, 0o644);
  const b = await readFile(path);
  b[at] ^= 0xff;
  await writeFile(path, b);
}

describe('issue 13: server faults', () => {
  let a: TestArchive;
  before(async () => {
    a = await makeArchive([
      { name: 'r.bin', size: 2 * MiB + 3, seed: 61, tier: 2, segmentSize: 256 * 1024 },
      { name: 'big.bin', size: 64 * MiB, seed: 62, tier: 2, segmentSize: 8 * MiB },
    ]);
  });
  after(() => a.cleanup());

  test('a CLI repair while serving: four rounds of corrupt-then-repair, every GET byte-exact, health healthy, no 500', async () => {
    const srv = await startServer({ archive: a.root });
    try {
      const seg = join(a.root, a.dirs.get('r.bin')!, 'segments', 'segment_1.dat');
      for (let round = 0; round < 4; round++) {
        await flip(seg, 100 + round);
        const g = await fetch(`${srv.base}/files/r.bin`);
        assert.equal(g.status, 200, `round ${round}`);
        assert.ok(eqBytes(new Uint8Array(await g.arrayBuffer()), a.data.get('r.bin')!));
        // Not spawnSync: a blocked event loop froze this in-process server and its client together, and the first fetch
        // afterwards could reuse a keep-alive socket the server was just closing ("fetch failed" under load).
        assert.equal((await runCliAsync(['repair', '--archive', a.root])).status, 0);
        const h = (await (await fetch(`${srv.base}/api/archives/r.bin/health`)).json()) as Json;
        assert.equal(h.status, 'healthy', `round ${round}`);
        const again = await fetch(`${srv.base}/files/r.bin`, { headers: { Range: 'bytes=262144-524287' } });
        assert.equal(again.status, 206);
        assert.ok(eqBytes(new Uint8Array(await again.arrayBuffer()), a.data.get('r.bin')!.subarray(262144, 524288)));
      }
    } finally {
      await srv.close();
    }
  });

  test('healing on read is reported: one log line per damaged shard, a response header, and the API (for the UI)', async () => {
    const child = await startChild(a.root);
    try {
      const seg = join(a.root, a.dirs.get('r.bin')!, 'segments', 'segment_3.dat');
      await flip(seg, 7);
      for (let i = 0; i < 3; i++) {
        const g = await fetch(`${child.base}/files/r.bin`);
        assert.ok(eqBytes(new Uint8Array(await g.arrayBuffer()), a.data.get('r.bin')!));
        if (i > 0) assert.match(g.headers.get('x-blockframe-healed') ?? '', /1 damaged file rebuilt from parity/);
      }
      const lines = child.stderr().split('\n').filter((l) => l.includes('segment_3.dat'));
      assert.equal(lines.length, 1, child.stderr());
      assert.match(lines[0]!, /corrupt segments\/segment_3\.dat in archive r\.bin_.*rebuilt from parity on read/);
      const info = (await (await fetch(`${child.base}/api/archives/r.bin`)).json()) as Json;
      assert.deepEqual(info.healedOnRead.map((d: Json) => [d.kind, d.path]), [['corrupt', 'segments/segment_3.dat']]);
      assert.equal(runCli(['repair', '--archive', a.root]).status, 0);
    } finally {
      await child.stop();
    }
  });

  test('200 paused slow readers of a 64 MiB file: server memory stays bounded and other clients are served promptly', async (t) => {
    const child = await startChild(a.root);
    try {
      const baseline = rssMiB(child.pid);
      let peak = baseline;
      const timer = setInterval(() => (peak = Math.max(peak, rssMiB(child.pid))), 20);
      const slow: IncomingMessage[] = [];
      await Promise.all(
        Array.from(
          { length: 200 },
          () =>
            new Promise<void>((resolve, reject) => {
              const req = request(`${child.base}/files/big.bin`, (res) => {
                res.pause();
                slow.push(res);
                resolve();
              });
              req.on('error', reject);
              req.end();
            }),
        ),
      );
      await new Promise((r) => setTimeout(r, 1000));
      const start = Date.now();
      const g = await fetch(`${child.base}/files/big.bin`, { headers: { Range: 'bytes=10000000-11048575' } });
      const body = new Uint8Array(await g.arrayBuffer());
      const waited = Date.now() - start;
      assert.equal(g.status, 206);
      assert.ok(eqBytes(body, a.data.get('big.bin')!.subarray(10000000, 11048576)));
      clearInterval(timer);
      for (const s of slow) s.destroy();
      t.diagnostic(`server RSS ${Math.round(baseline)} -> peak ${Math.round(peak)} MiB with 200 paused readers; a 1 MiB range took ${waited} ms`);
      // Before the fix this grew about 2.4 MiB per paused client (~500 MiB here); now windows are budgeted.
      assert.ok(peak - baseline < 260, `server RSS grew ${Math.round(peak - baseline)} MiB`);
      assert.ok(waited < 3000, `a fresh client waited ${waited} ms`);
    } finally {
      await child.stop();
    }
  });

  test('a client that reads nothing is closed after the idle time, not twice that', async () => {
    const s = createBlockFrameServer({ archive: a.root, idleMs: 800 });
    await new Promise<void>((r) => s.server.listen(0, '127.0.0.1', r));
    try {
      // Timed on the server's side: a paused client may not notice the close until it reads again.
      const closed = new Promise<number>((resolve) => s.server.once('connection', (c) => {
        const t0 = Date.now();
        c.once('close', () => resolve(Date.now() - t0));
      }));
      const sock = connect((s.server.address() as AddressInfo).port, '127.0.0.1');
      sock.write('GET /files/big.bin HTTP/1.1\r\nHost: x\r\n\r\n');
      sock.pause();
      const after = await closed;
      sock.destroy();
      assert.ok(after >= 700 && after < 800 * 1.6 + 500, `closed after ${after} ms`);
    } finally {
      await s.close();
    }
  });

  test('an upload name over 4096 characters is refused up front (400), and error bodies never hold the server root', async () => {
    const srv = await startServer({ archive: a.root, allowUpload: true, token: 't' });
    try {
      const long = 'n'.repeat(5000);
      const up = await fetch(`${srv.base}/files/${long}`, { method: 'PUT', headers: { Authorization: 'Bearer t' }, body: 'abc' });
      assert.equal(up.status, 400);
      const body = await up.text();
      assert.match(body, /BF_USAGE/);
      for (const path of ['/files/nosuch.bin', '/api/archives/nosuch', `/files/${long}`, '/api/archives/r.bin/shards/0/data/9']) {
        const r = await fetch(`${srv.base}${path}`);
        const text = await r.text();
        assert.ok(r.status >= 400, path);
        assert.ok(!text.includes(a.root), `${path}: ${text}`);
      }
    } finally {
      await srv.close();
    }
  });
});
