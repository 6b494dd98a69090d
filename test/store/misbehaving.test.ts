// Stores that answer badly or not at all, beside three healthy ones: a listing that never ends or one huge page
// (issue 18 item 6), and an endpoint that accepts TCP and never answers (item 11). Real peers on 127.0.0.1, the
// real CLI and a real server; each command must finish from the healthy stores, in bounded time and memory.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { commit } from '../../src/index.js';
import { tempDir, writeRandomFile } from '../helpers/fixtures.js';
import { startServer } from '../server/serve-helpers.js';
import { listingPeer, PEER_ENV, runCliAsync, silentPeer, type Peer } from './peers.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const KiB = 1024;

/** Run `fn` with these environment variables set (an in-process server reads them when it opens its stores). */
async function withEnv<T>(env: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const old = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(env)) v === undefined ? delete process.env[k] : (process.env[k] = v);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(old)) v === undefined ? delete process.env[k] : (process.env[k] = v);
  }
}

describe('a misbehaving or silent fourth store', () => {
  let work: string;
  let cleanup: () => Promise<void>;
  let data: Uint8Array;
  const disks = () => [1, 2, 3].map((i) => join(work, `d${i}`));
  /** The archive's four stores, the fourth replaced by the peer (an S3 endpoint that lists badly or never answers). */
  const storesWith = (peer: Peer) => [...disks(), `s3://bucket/bf?endpoint=${peer.endpoint}`];
  const storeArgs = (peer: Peer) => storesWith(peer).flatMap((s) => ['--store', s]);

  before(async () => {
    ({ dir: work, cleanup } = await tempDir('bf-misbehaving-'));
    data = await writeRandomFile(join(work, 'f.bin'), 700 * KiB + 5, 61);
    await commit(join(work, 'f.bin'), { stores: [...disks(), join(work, 'd4')], tier: 3, segmentSize: 16 * KiB });
  });
  after(() => cleanup());

  // A heap limit on the children, so a listing that is followed forever fails the test instead of the machine.
  const childEnv = (extra: NodeJS.ProcessEnv = {}) => ({ ...PEER_ENV, NODE_OPTIONS: '--max-old-space-size=512', ...extra });

  test('an S3 listing that never ends (endless continuation tokens) is cut off: list and serve answer from the other stores in bounded time and memory', async () => {
    const peer = await listingPeer('endless');
    try {
      const r = await runCliAsync(['list', '--json', ...storeArgs(peer)], { cwd: work, env: childEnv({ BLOCKFRAME_STORE_TIMEOUT_MS: '1000' }), killAfterMs: 45_000 });
      assert.equal(r.killed, false, `list was still running after ${r.ms} ms (peak ${r.peakMiB.toFixed(0)} MiB)`);
      assert.equal(r.status, 0, r.stderr);
      const l = JSON.parse(r.stdout.toString()) as Json;
      assert.deepEqual(l.archives.map((a: Json) => a.name), ['f.bin']);
      assert.deepEqual(l.unlisted.map((u: Json) => [u.store, u.code]), [[4, 'BF_STORE_UNAVAILABLE']]);
      assert.match(l.unlisted[0].message, /did not end within/);
      // 6 timeouts of 1 s for the whole listing, then the other stores.
      assert.ok(r.ms < 15_000, `list took ${r.ms} ms`);
      assert.ok(r.peakMiB < 400, `list peaked at ${r.peakMiB.toFixed(0)} MiB`);

      await withEnv({ ...PEER_ENV, BLOCKFRAME_STORE_TIMEOUT_MS: '1000' }, async () => {
        const srv = await startServer({ stores: storesWith(peer) });
        try {
          for (const round of [1, 2]) {
            const start = Date.now();
            const res = await fetch(`${srv.base}/api/archives`, { signal: AbortSignal.timeout(30_000) });
            assert.equal(res.status, 200);
            const body = (await res.json()) as Json;
            assert.deepEqual(body.archives.map((a: Json) => a.name), ['f.bin']);
            const ms = Date.now() - start;
            // The first request pays the listing deadline once; the breaker spares the next.
            assert.ok(ms < (round === 1 ? 15_000 : 3_000), `request ${round} took ${ms} ms`);
          }
          const file = await fetch(`${srv.base}/files/f.bin`, { signal: AbortSignal.timeout(30_000) });
          assert.deepEqual(new Uint8Array(await file.arrayBuffer()), data);
        } finally {
          await srv.close();
        }
      });
    } finally {
      await peer.close();
    }
  });

  test('an S3 listing page far larger than asked for is refused as it streams, not buffered whole', async () => {
    const peer = await listingPeer('huge', 400_000);
    try {
      const r = await runCliAsync(['list', '--json', ...storeArgs(peer)], { cwd: work, env: childEnv(), killAfterMs: 45_000 });
      assert.equal(r.killed, false, `list was still running after ${r.ms} ms`);
      assert.equal(r.status, 0, r.stderr);
      const l = JSON.parse(r.stdout.toString()) as Json;
      assert.deepEqual(l.archives.map((a: Json) => a.name), ['f.bin']);
      assert.deepEqual(l.unlisted.map((u: Json) => [u.store, u.code]), [[4, 'BF_STORE_UNAVAILABLE']]);
      assert.match(l.unlisted[0].message, /larger than \d+ bytes/);
      assert.ok(r.peakMiB < 250, `list peaked at ${r.peakMiB.toFixed(0)} MiB`);
      assert.equal(peer.pages, 1, 'a refused page is not asked for again (no retries of a misbehaving store)');
    } finally {
      await peer.close();
    }
  });

  test('a hung store (accepts TCP, never answers) costs a command one timeout: cat, verify and list finish from the other stores in seconds', async () => {
    const peer = await silentPeer();
    const env = childEnv({ BLOCKFRAME_STORE_TIMEOUT_MS: undefined });
    try {
      const cat = await runCliAsync(['cat', 'f.bin', ...storeArgs(peer)], { cwd: work, env, killAfterMs: 60_000 });
      assert.equal(cat.killed, false, `cat was still running after ${cat.ms} ms`);
      assert.equal(cat.status, 0, cat.stderr);
      assert.deepEqual(new Uint8Array(cat.stdout), data);
      assert.match(cat.stderr, /store 4: did not answer/);
      // One 5 s timeout (the default), not 4 tries of 30 s.
      assert.ok(cat.ms < 15_000, `cat took ${cat.ms} ms`);

      const v = await runCliAsync(['verify', ...storeArgs(peer)], { cwd: work, env, killAfterMs: 60_000 });
      assert.equal(v.status, 3, v.stderr);
      assert.match(v.stdout.toString(), /store 4 \(s3:\/\/bucket\/bf\/.*\): NOT ANSWERING/);
      assert.ok(v.ms < 15_000, `verify took ${v.ms} ms`);

      const l = await runCliAsync(['list', ...storeArgs(peer)], { cwd: work, env, killAfterMs: 60_000 });
      assert.equal(l.status, 0, l.stderr);
      assert.match(l.stdout.toString(), /^f\.bin\t/);
      assert.match(l.stderr, /store 4 .*not answering/);
      assert.ok(l.ms < 15_000, `list took ${l.ms} ms`);
    } finally {
      await peer.close();
    }
  });

  test('serve with a hung store answers the first GET within seconds and later ones at once (a breaker per server)', async () => {
    const peer = await silentPeer();
    try {
      await withEnv({ ...PEER_ENV, BLOCKFRAME_STORE_TIMEOUT_MS: undefined }, async () => {
        const srv = await startServer({ stores: storesWith(peer) });
        try {
          for (const round of [1, 2]) {
            const start = Date.now();
            const res = await fetch(`${srv.base}/files/f.bin`, { signal: AbortSignal.timeout(60_000) });
            assert.equal(res.status, 200);
            assert.deepEqual(new Uint8Array(await res.arrayBuffer()), data, `GET ${round} byte-exact`);
            const ms = Date.now() - start;
            assert.ok(ms < (round === 1 ? 15_000 : 3_000), `GET ${round} took ${ms} ms`);
          }
          const h = (await (await fetch(`${srv.base}/api/archives/f.bin/health`)).json()) as Json;
          assert.equal(h.stores[3].state, 'unavailable');
        } finally {
          await srv.close();
        }
      });
    } finally {
      await peer.close();
    }
  });

  test('the restored file stays byte-exact with a hung store', async () => {
    const peer = await silentPeer();
    try {
      const out = join(work, 'restored.bin');
      const r = await runCliAsync(['restore', 'f.bin', '-o', out, '--force', ...storeArgs(peer)], { cwd: work, env: childEnv({ BLOCKFRAME_STORE_TIMEOUT_MS: undefined }), killAfterMs: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(new Uint8Array(await readFile(out)), data);
      assert.ok(r.ms < 15_000, `restore took ${r.ms} ms`);
    } finally {
      await peer.close();
    }
  });
});
