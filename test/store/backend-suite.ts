// The one backend test suite: every Backend (local, in-memory, S3, the store set's mirror, the wrapped stacks)
// must pass it unchanged. Seeded data, a fast-check model test, and the error codes the engine relies on.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { bytesSource, type Backend, type ObjectInfo } from '../../src/store/backend.js';
import { isBlockFrameError } from '../../src/errors.js';
import { createReadStream } from 'node:fs';
import { randomBytesSeeded } from '../helpers/fixtures.js';

export interface SuiteOptions {
  /** fast-check runs of the model test (fewer for slow remote stores). */
  modelRuns?: number;
  /** Also put one object large enough for a multipart upload (9 MiB). */
  large?: boolean;
}

/** Seeded bytes (the fixtures' xorshift32 stream). */
export function seededBytes(seed: number, n: number): Uint8Array {
  return randomBytesSeeded(n, seed);
}

async function getAll(b: Backend, key: string): Promise<Uint8Array> {
  const st = await b.stat(key);
  assert.ok(st, `${key} exists`);
  const buf = new Uint8Array(st.size);
  assert.equal(await b.get(key, buf, 0), st.size);
  return buf;
}

async function listAll(b: Backend, prefix: string, delimiter?: '/'): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const o of b.list(prefix, { delimiter })) out.push(o);
  return out.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return isBlockFrameError(err) ? err.code : `not coded: ${String(err)}`;
  }
}

/** Run the shared suite against a fresh, empty backend from `make` (one per test). */
export function backendSuite(name: string, make: () => Promise<{ backend: Backend; cleanup: () => Promise<void> }>, o: SuiteOptions = {}): void {
  describe(`backend suite: ${name}`, () => {
    let b: Backend;
    let cleanup: () => Promise<void>;
    let scratch: string;
    before(async () => {
      ({ backend: b, cleanup } = await make());
      scratch = await mkdtemp(join(tmpdir(), 'bf-suite-'));
    });
    after(async () => {
      await cleanup();
      await rm(scratch, { recursive: true, force: true });
    });

    test('put then get returns the bytes, whole and in ranges (seeded sizes, 0 included)', async () => {
      for (const [i, size] of [0, 1, 7, 4096, 65537, 300_001].entries()) {
        const data = seededBytes(100 + i, size);
        const key = `rt/obj_${i}.bin`;
        await b.put(key, bytesSource(data));
        assert.deepEqual((await b.stat(key))?.size, size);
        assert.deepEqual(await getAll(b, key), data, `${key} whole`);
        for (const [off, len] of [
          [0, 1],
          [Math.floor(size / 3), 1000],
          [Math.max(0, size - 5), 5],
        ]) {
          if (size === 0) continue;
          const buf = new Uint8Array(len!);
          const n = await b.get(key, buf, off!);
          const want = data.subarray(off!, Math.min(size, off! + len!));
          assert.equal(n, want.length, `${key} range ${off}+${len}`);
          assert.deepEqual(buf.subarray(0, n), want);
        }
      }
    });

    test('a read that runs past the end is short; one at or past the end reads nothing', async () => {
      const data = seededBytes(7, 1000);
      await b.put('short/x', bytesSource(data));
      const buf = new Uint8Array(100);
      assert.equal(await b.get('short/x', buf, 950), 50);
      assert.deepEqual(buf.subarray(0, 50), data.subarray(950));
      assert.equal(await b.get('short/x', buf, 1000), 0);
      assert.equal(await b.get('short/x', buf, 5000), 0);
    });

    test('missing keys: get is BF_STORE_KEY_MISSING, stat is null, delete is fine', async () => {
      assert.equal(await code(b.get('nope/x', new Uint8Array(4), 0)), 'BF_STORE_KEY_MISSING');
      assert.equal(await b.stat('nope/x'), null);
      assert.equal(await code(b.delete('nope/x')), 'ok');
    });

    test('put replaces an object whole; delete removes it', async () => {
      await b.put('rep/a', bytesSource(seededBytes(1, 5000)));
      const next = seededBytes(2, 1234);
      await b.put('rep/a', bytesSource(next));
      assert.deepEqual(await getAll(b, 'rep/a'), next);
      await b.delete('rep/a');
      assert.equal(await b.stat('rep/a'), null);
    });

    test('put from a local file source stores its bytes (a same-filesystem backend may move it)', async () => {
      const data = seededBytes(3, 200_000);
      const file = join(scratch, 'src.bin');
      await writeFile(file, data);
      await b.put('file/src', { size: data.length, open: () => createReadStream(file), file });
      assert.deepEqual(await getAll(b, 'file/src'), data);
      // Either moved (atomic rename) or left in place, never half-consumed.
      const left = await stat(file).catch(() => null);
      if (left) assert.equal(left.size, data.length);
    });

    test('keys with spaces, unicode and many levels round-trip', async () => {
      const keys = ['uni/ünï cødé fïle.bin', 'uni/deep/a/b/c/d/e.dat', 'uni/sp ace/x y', 'uni/日本語/ファイル'];
      for (const [i, k] of keys.entries()) await b.put(k, bytesSource(seededBytes(50 + i, 10 + i)));
      const listed = (await listAll(b, 'uni/')).map((o) => o.key);
      assert.deepEqual(listed, [...keys].sort());
      for (const [i, k] of keys.entries()) assert.deepEqual(await getAll(b, k), seededBytes(50 + i, 10 + i));
    });

    test('keys that could escape are refused', async () => {
      for (const k of ['../x', 'a/../../x', '/abs', 'a//b', 'a/./b', 'back\\slash']) {
        assert.notEqual(await code(b.put(k, bytesSource(new Uint8Array(1)))), 'ok', k);
      }
    });

    test('list: recursive under a prefix, and one level with a delimiter', async () => {
      for (const k of ['ls/a/1', 'ls/a/2', 'ls/b/c/3', 'ls/top']) await b.put(k, bytesSource(seededBytes(k.length, 3)));
      assert.deepEqual(
        (await listAll(b, 'ls/')).map((o) => [o.key, o.size]),
        [
          ['ls/a/1', 3],
          ['ls/a/2', 3],
          ['ls/b/c/3', 3],
          ['ls/top', 3],
        ],
      );
      const level = await listAll(b, 'ls/', '/');
      assert.deepEqual(
        level.map((o) => [o.key, o.prefix === true]),
        [
          ['ls/a/', true],
          ['ls/b/', true],
          ['ls/top', false],
        ],
      );
      assert.deepEqual(await listAll(b, 'nothing-here/'), []);
    });

    test('concurrent puts of different keys all land', async () => {
      await Promise.all(Array.from({ length: 24 }, (_, i) => b.put(`conc/k${String(i).padStart(2, '0')}`, bytesSource(seededBytes(900 + i, 5000 + i)))));
      const listed = await listAll(b, 'conc/');
      assert.equal(listed.length, 24);
      for (const [i, o] of listed.entries()) assert.equal(o.size, 5000 + i);
    });

    test('cancellation: an aborted get, stat, put, delete and list end in BF_ABORTED and change nothing', async () => {
      const data = seededBytes(11, 70_000);
      await b.put('abort/x', bytesSource(data));
      const ac = new AbortController();
      ac.abort();
      assert.equal(await code(b.get('abort/x', new Uint8Array(100), 0, ac.signal)), 'BF_ABORTED');
      assert.equal(await code(b.stat('abort/x', ac.signal)), 'BF_ABORTED');
      assert.equal(await code(b.put('abort/y', bytesSource(data), ac.signal)), 'BF_ABORTED');
      assert.equal(await code(b.delete('abort/x', ac.signal)), 'BF_ABORTED');
      const listing = (async () => {
        for await (const _ of b.list('abort/', { signal: ac.signal })) void _;
      })();
      assert.equal(await code(listing), 'BF_ABORTED');
      assert.equal(await b.stat('abort/y'), null, 'an aborted put leaves no object');
      assert.deepEqual(await getAll(b, 'abort/x'), data, 'an aborted delete leaves the object');
    });

    test('a listing aborted while it runs stops with BF_ABORTED', async () => {
      await Promise.all(Array.from({ length: 30 }, (_, i) => b.put(`abort-list/k${String(i).padStart(2, '0')}`, bytesSource(new Uint8Array(1)))));
      const ac = new AbortController();
      let seen = 0;
      const listing = (async () => {
        for await (const _ of b.list('abort-list/', { signal: ac.signal })) {
          void _;
          if (++seen === 1) ac.abort();
        }
      })();
      assert.equal(await code(listing), 'BF_ABORTED');
      assert.ok(seen < 30, `stopped early (saw ${seen} of 30)`);
    });

    test('a PutSource whose size lies is refused and stores nothing (too short and too long)', async () => {
      const data = seededBytes(12, 5000);
      for (const [key, claimed] of [
        ['lie/short', 6000],
        ['lie/long', 4000],
      ] as const) {
        const src = { size: claimed, open: () => bytesSource(data).open() };
        assert.notEqual(await code(b.put(key, src)), 'ok', `${key}: ${data.length} bytes claimed as ${claimed}`);
        assert.equal(await b.stat(key), null, `${key} is not visible`);
      }
      await b.put('lie/kept', bytesSource(data));
      assert.notEqual(await code(b.put('lie/kept', { size: 10, open: () => bytesSource(data).open() })), 'ok');
      assert.deepEqual(await getAll(b, 'lie/kept'), data, 'a refused put leaves the old object whole');
    });

    test('optional getHeld/dropHeld: held reads give the bytes, and after dropHeld a replaced object reads new', async (t) => {
      if (!b.getHeld || !b.dropHeld) return t.skip(`${name} has no held reads`);
      const first = seededBytes(13, 3000);
      await b.put('held/x', bytesSource(first));
      const buf = new Uint8Array(3000);
      assert.equal(await b.getHeld('held/x', buf, 0), 3000);
      assert.deepEqual(buf, first);
      const next = seededBytes(14, 3000);
      await b.put('held/x', bytesSource(next));
      b.dropHeld('held/');
      assert.equal(await b.getHeld('held/x', buf, 0), 3000);
      assert.deepEqual(buf, next);
      assert.equal(await code(b.getHeld('held/missing', buf, 0)), 'BF_STORE_KEY_MISSING');
    });

    test('optional stagingDir/adopt: a staged directory appears whole under its prefix, once', async (t) => {
      if (!b.stagingDir || !b.adopt) return t.skip(`${name} has no staging`);
      const { mkdir: mk } = await import('node:fs/promises');
      const stage = async (seed: number): Promise<string> => {
        const d = join(await b.stagingDir!(), `suite-${seed}`);
        await mk(join(d, 'sub'), { recursive: true });
        await writeFile(join(d, 'a.bin'), seededBytes(seed, 100));
        await writeFile(join(d, 'sub', 'b.bin'), seededBytes(seed + 1, 200));
        return d;
      };
      assert.equal(await b.adopt(await stage(20), 'adopted-one'), 'published');
      assert.deepEqual(await getAll(b, 'adopted-one/a.bin'), seededBytes(20, 100));
      assert.deepEqual(await getAll(b, 'adopted-one/sub/b.bin'), seededBytes(21, 200));
      const again = await stage(30);
      assert.equal(await b.adopt(again, 'adopted-one'), 'exists');
      assert.deepEqual(await getAll(b, 'adopted-one/a.bin'), seededBytes(20, 100), 'the first one stays');
      assert.equal(await stat(again).catch(() => null), null, 'the losing staged directory is removed');
    });

    test('optional adopt under a nested prefix (a format-v3 pack, packs/ab/pack_…): parents are made, and it appears whole, once', async (t) => {
      if (!b.stagingDir || !b.adopt) return t.skip(`${name} has no staging`);
      const { mkdir: mk } = await import('node:fs/promises');
      const stage = async (seed: number): Promise<string> => {
        const d = join(await b.stagingDir!(), `suite-nested-${seed}`);
        await mk(d, { recursive: true });
        await writeFile(join(d, 'a.bin'), seededBytes(seed, 100));
        return d;
      };
      assert.equal(await b.adopt(await stage(40), 'nested/ab/pack_one'), 'published');
      assert.deepEqual(await getAll(b, 'nested/ab/pack_one/a.bin'), seededBytes(40, 100));
      assert.equal(await b.adopt(await stage(41), 'nested/ab/pack_two'), 'published', 'a sibling under existing parents');
      assert.equal(await b.adopt(await stage(42), 'nested/ab/pack_one'), 'exists');
      assert.deepEqual(await getAll(b, 'nested/ab/pack_one/a.bin'), seededBytes(40, 100), 'the first one stays');
    });

    if (o.large) {
      test('a 9 MiB object (a multipart upload where the backend has them) round-trips', async () => {
        const data = seededBytes(77, 9 * 1024 * 1024 + 17);
        await b.put('large/obj', bytesSource(data));
        const buf = new Uint8Array(1024);
        assert.equal(await b.get('large/obj', buf, 8 * 1024 * 1024 - 500), 1024);
        assert.deepEqual(buf, data.subarray(8 * 1024 * 1024 - 500, 8 * 1024 * 1024 + 524));
        assert.deepEqual(await getAll(b, 'large/obj'), data);
      });
    }

    test('model: random puts and deletes leave exactly what a Map would hold (fast-check)', async () => {
      let round = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ del: fc.boolean(), key: fc.constantFrom('m/a', 'm/b', 'm/c/d', 'm/c/e', 'm/f g'), size: fc.integer({ min: 0, max: 3000 }), seed: fc.integer({ min: 1, max: 1e6 }) }), {
            maxLength: 12,
          }),
          async (ops) => {
            const prefix = `model${round++}/`;
            const model = new Map<string, Uint8Array>();
            for (const op of ops) {
              const key = prefix + op.key;
              if (op.del) {
                await b.delete(key);
                model.delete(key);
              } else {
                const data = seededBytes(op.seed, op.size);
                await b.put(key, bytesSource(data));
                model.set(key, data);
              }
            }
            const listed = await listAll(b, prefix);
            assert.deepEqual(
              listed.map((x) => x.key),
              [...model.keys()].sort(),
            );
            for (const [k, v] of model) assert.deepEqual(await getAll(b, k), v);
          },
        ),
        { numRuns: o.modelRuns ?? 25, seed: 4242 },
      );
    });
  });
}
