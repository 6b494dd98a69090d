// Every local backend through the shared suite, and the wrappers (retry, timeout, limit, faults) on their own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, symlink, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalBackend } from '../../src/store/local.js';
import { MemBackend } from '../../src/store/mem.js';
import { StoreSet } from '../../src/store/store-set.js';
import { FaultBackend, LimitBackend, RetryBackend, TimeoutBackend } from '../../src/store/wrap.js';
import { bytesSource } from '../../src/store/backend.js';
import { isBlockFrameError } from '../../src/errors.js';
import { backendSuite, seededBytes } from './backend-suite.js';

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'bf-backend-'));
}

backendSuite('local directory', async () => {
  const dir = await tempDir();
  return { backend: new LocalBackend(join(dir, 'store')), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

backendSuite('in-memory', async () => ({ backend: new MemBackend(), cleanup: async () => undefined }));

backendSuite('store set mirror over 3 local directories', async () => {
  const dir = await tempDir();
  const set = new StoreSet([1, 2, 3].map((i) => new LocalBackend(join(dir, `d${i}`))), 1);
  return { backend: set, cleanup: () => rm(dir, { recursive: true, force: true }) };
});

backendSuite('limit(retry(timeout(fault(in-memory)))) with nothing injected', async () => ({
  backend: new LimitBackend(new RetryBackend(new TimeoutBackend(new FaultBackend(new MemBackend()), 5000)), 4),
  cleanup: async () => undefined,
}));

const code = async (p: Promise<unknown>) => p.then(() => 'ok', (e) => (isBlockFrameError(e) ? e.code : String(e)));

test('retry: transient failures are retried with backoff until one try succeeds; others are not retried', async () => {
  const f = new FaultBackend(new MemBackend());
  const r = new RetryBackend(f, { attempts: 4, baseDelayMs: 1, maxDelayMs: 5 });
  f.rules.push({ ops: ['put'], error: 'BF_STORE_UNAVAILABLE', times: 3 });
  await r.put('k', bytesSource(seededBytes(1, 100)));
  assert.equal(f.calls.put, 4, 'three failures, then success');
  f.rules.push({ ops: ['get'], error: 'BF_STORE_UNAVAILABLE', times: 10 });
  assert.equal(await code(r.get('k', new Uint8Array(10), 0)), 'BF_STORE_UNAVAILABLE');
  assert.equal(f.calls.get, 4, 'gives up after the attempts');
  f.heal();
  f.rules.push({ ops: ['get'], error: 'BF_STORE_DENIED', times: 10 });
  const before = f.calls.get;
  assert.equal(await code(r.get('k', new Uint8Array(10), 0)), 'BF_STORE_DENIED');
  assert.equal(f.calls.get - before, 1, 'a permanent error is not retried');
});

test('timeout: a hung store fails as BF_STORE_UNAVAILABLE in bounded time', async () => {
  const f = new FaultBackend(new MemBackend());
  await f.put('k', bytesSource(seededBytes(2, 10)));
  f.hang();
  const t = new TimeoutBackend(f, 150);
  const start = Date.now();
  assert.equal(await code(t.get('k', new Uint8Array(10), 0)), 'BF_STORE_UNAVAILABLE');
  assert.ok(Date.now() - start < 2000, 'bounded');
});

test('retry: a call cut off by its timeout is not tried again (a silent store costs one timeout, not four)', async () => {
  const f = new FaultBackend(new MemBackend());
  await f.put('k', bytesSource(new Uint8Array(10)));
  f.hang();
  // Retries outside the timeout, as the stores were wrapped before: each try used to wait its own timeout.
  const r = new RetryBackend(new TimeoutBackend(f, 200), { attempts: 4, baseDelayMs: 1, maxDelayMs: 1 });
  const start = Date.now();
  assert.equal(await code(r.get('k', new Uint8Array(10), 0)), 'BF_STORE_UNAVAILABLE');
  assert.equal(f.calls.get, 1, 'tried once');
  assert.ok(Date.now() - start < 1000, `one timeout: ${Date.now() - start} ms`);
  // A fast transient failure is still retried, inside the one deadline of a timeout around the retries.
  f.heal();
  f.rules.push({ ops: ['get'], error: 'BF_STORE_UNAVAILABLE', times: 2 });
  const t = new TimeoutBackend(new RetryBackend(f, { attempts: 4, baseDelayMs: 1, maxDelayMs: 1 }), 2000);
  assert.equal(await t.get('k', new Uint8Array(10), 0), 10);
  assert.equal(f.calls.get, 4, 'two failures, then the answer');
});

test('limit: never more calls in flight than the limit', async () => {
  const f = new FaultBackend(new MemBackend());
  let inflight = 0;
  let peak = 0;
  const slow = {
    ...f,
    label: 'slow',
    caps: f.caps,
    async put(key: string, src: Parameters<MemBackend['put']>[1]) {
      inflight++;
      peak = Math.max(peak, inflight);
      await new Promise((r) => setTimeout(r, 5));
      await f.put(key, src);
      inflight--;
    },
  } as unknown as MemBackend;
  const l = new LimitBackend(slow, 3);
  await Promise.all(Array.from({ length: 20 }, (_, i) => l.put(`k${i}`, bytesSource(new Uint8Array(1)))));
  assert.equal(peak, 3);
});

test('store set: a dead member is skipped by mirror reads and marked down; writes to the set fail', async () => {
  const dir = await tempDir();
  try {
    const faults = [1, 2, 3].map((i) => new FaultBackend(new LocalBackend(join(dir, `d${i}`))));
    const set = new StoreSet(faults, 1);
    await set.put('m/x', bytesSource(seededBytes(3, 50)));
    faults[0]!.down();
    const buf = new Uint8Array(50);
    assert.equal(await set.get('m/x', buf, 0), 50);
    assert.ok(set.isDown(0), 'marked down after a transient failure');
    const calls = faults[0]!.calls.get;
    await set.get('m/x', buf, 0);
    assert.equal(faults[0]!.calls.get, calls, 'not asked again while marked down');
    assert.equal(await code(set.put('m/y', bytesSource(new Uint8Array(1)))), 'BF_STORE_UNAVAILABLE');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('local: symlinks inside the root are never followed; they are listed as entries of their own', async () => {
  const dir = await tempDir();
  try {
    const outside = join(dir, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'secret'), 'outside bytes');
    const b = new LocalBackend(join(dir, 'root'));
    await b.put('a/real', bytesSource(seededBytes(1, 10)));
    await symlink(outside, join(dir, 'root', 'a', 'link'));
    await symlink(join(outside, 'secret'), join(dir, 'root', 'a', 'filelink'));
    assert.equal(await code(b.get('a/link/secret', new Uint8Array(20), 0)), 'BF_STORE_KEY_MISSING');
    assert.equal(await code(b.get('a/filelink', new Uint8Array(20), 0)), 'BF_STORE_NOT_A_FILE');
    const keys: string[] = [];
    for await (const o of b.list('a/')) keys.push(o.key);
    assert.deepEqual(keys.sort(), ['a/filelink', 'a/link', 'a/real']);
    const inside: string[] = [];
    for await (const o of b.list('a/link/')) inside.push(o.key);
    assert.deepEqual(inside, [], 'a listing never enters a symlinked directory');
    await b.delete('a/link/secret');
    await b.delete('a/link');
    assert.equal(await code(b.get('a/real', new Uint8Array(1), 0)), 'ok');
    const { readFile } = await import('node:fs/promises');
    assert.equal(await readFile(join(outside, 'secret'), 'utf8'), 'outside bytes', 'the link target is untouched');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
