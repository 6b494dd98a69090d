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
