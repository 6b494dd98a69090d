// `serve` over a set of stores: files and raw shards read through the backends, health names each shard's
// store and marks a lost one, and a file stays byte-exact while a store is gone.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { commit } from '../../src/index.js';
import { tempDir, writeRandomFile } from '../helpers/fixtures.js';
import { startServer } from './serve-helpers.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('blockframe serve over 4 stores', () => {
  let work: string;
  let cleanup: () => Promise<void>;
  let stores: string[];
  let data: Uint8Array;
  let srv: { base: string; close(): Promise<void> };
  before(async () => {
    ({ dir: work, cleanup } = await tempDir('bf-serve-stores-'));
    stores = [1, 2, 3, 4].map((i) => join(work, `d${i}`));
    data = await writeRandomFile(join(work, 'f.bin'), 900 * 1024 + 3, 21);
    await commit(join(work, 'f.bin'), { stores, tier: 3, segmentSize: 16 * 1024 });
    srv = await startServer({ stores });
  });
  after(async () => {
    await srv.close();
    await cleanup();
  });

  test('health gives each shard its store; raw shards and ranges come through the backends', async () => {
    const h = (await (await fetch(`${srv.base}/api/archives/f.bin/health`)).json()) as Json;
    assert.equal(h.status, 'healthy');
    assert.deepEqual(h.stores.map((x: Json) => [x.store, x.state]), [[1, 'ok'], [2, 'ok'], [3, 'ok'], [4, 'ok']]);
    // rotate-v1: slot j of block i is on store (i + j) mod 4 + 1.
    const block1 = h.shards.filter((s: Json) => s.level === 1 && s.stripe === 1);
    block1.forEach((s: Json, j: number) => assert.equal(s.store, ((1 + j) % 4) + 1, s.path));
    const raw = await fetch(`${srv.base}/api/archives/f.bin/shards/1/parity/0`, { headers: { Range: 'bytes=10-19' } });
    assert.equal(raw.status, 206);
    assert.equal((await raw.arrayBuffer()).byteLength, 10);
    const r = await fetch(`${srv.base}/files/f.bin`, { headers: { Range: 'bytes=100000-299999' } });
    assert.equal(r.status, 206);
    assert.deepEqual(new Uint8Array(await r.arrayBuffer()), data.subarray(100000, 300000));
  });

  test('a lost store: files stay byte-exact, health marks the store lost and its shards missing', async () => {
    await rm(stores[1]!, { recursive: true, force: true });
    const r = await fetch(`${srv.base}/files/f.bin`);
    assert.equal(r.status, 200);
    assert.deepEqual(new Uint8Array(await r.arrayBuffer()), data);
    const h = (await (await fetch(`${srv.base}/api/archives/f.bin/health`)).json()) as Json;
    assert.equal(h.status, 'repairable');
    assert.equal(h.stores[1].state, 'lost');
    for (const s of h.shards) assert.equal(s.state, s.store === 2 ? 'missing' : 'ok', s.path);
    assert.ok(h.problems.every((p: Json) => p.store === 2));
    const raw = await fetch(`${srv.base}/api/archives/f.bin/shards/0/data/1`);
    assert.equal(raw.status, 500);
    assert.equal(((await raw.json()) as Json).error.code, 'BF_SHARD_MISSING');
  });
});
