// A wrong S3 secret is access denied, not an outage (issue 18 item 12): every command says "access denied (check
// credentials)" for that store and none advises `repair --replace` (which would copy a healthy bucket over a typo).
// The store is a real S3 server (our own S3 endpoint, in this process) reached with a wrong secret key.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { commit } from '../../src/index.js';
import { tempDir, writeRandomFile } from '../helpers/fixtures.js';
import { startServer } from '../server/serve-helpers.js';
import { ALICE, startS3, type TestS3 } from '../s3/helpers.js';
import { runCliAsync } from './peers.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const KiB = 1024;

async function withEnv<T>(env: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const old = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(old)) v === undefined ? delete process.env[k] : (process.env[k] = v);
  }
}

describe('an S3 store reached with a wrong secret key', () => {
  let work: string;
  let cleanup: () => Promise<void>;
  let s3: TestS3;
  let data: Uint8Array;
  let stores: string[];
  const right = { AWS_ACCESS_KEY_ID: ALICE.accessKey, AWS_SECRET_ACCESS_KEY: ALICE.secretKey, AWS_REGION: 'us-east-1' };
  const wrong = { ...right, AWS_SECRET_ACCESS_KEY: `${ALICE.secretKey}-typo` };
  const args = () => stores.flatMap((s) => ['--store', s]);
  const cli = (a: string[]) => runCliAsync([...a, ...args()], { cwd: work, env: wrong, killAfterMs: 60_000 });

  before(async () => {
    ({ dir: work, cleanup } = await tempDir('bf-denied-'));
    s3 = await startS3();
    await s3.client().send(new CreateBucketCommand({ Bucket: 'bfstore' }));
    stores = [...[1, 2, 3].map((i) => join(work, `d${i}`)), `s3://bfstore/bf?endpoint=${s3.endpoint}`];
    data = await writeRandomFile(join(work, 'f.bin'), 300 * KiB + 9, 71);
    await withEnv(right, () => commit(join(work, 'f.bin'), { stores, tier: 3, segmentSize: 16 * KiB }));
  });
  after(async () => {
    await s3.close();
    await cleanup();
  });

  test('verify says ACCESS DENIED (check credentials) for the store, never NOT ANSWERING', async () => {
    const v = await cli(['verify']);
    assert.equal(v.status, 3, v.stderr);
    assert.match(v.stdout.toString(), /store 4 \(s3:\/\/bfstore\/bf\/.*\): ACCESS DENIED \(check credentials\)/);
    assert.doesNotMatch(v.stdout.toString(), /NOT ANSWERING/);
    const j = await cli(['verify', '--json']);
    const a = (JSON.parse(j.stdout.toString()) as Json).archives[0];
    assert.deepEqual(a.stores.map((s: Json) => s.state), ['ok', 'ok', 'ok', 'denied']);
  });

  test('repair refuses with BF_STORE_DENIED and does not advise --replace', async () => {
    const r = await cli(['repair']);
    assert.equal(r.status, 1, r.stdout.toString());
    assert.match(r.stderr, /access denied \(check credentials\).*\[BF_STORE_DENIED\]/);
    assert.doesNotMatch(r.stderr + r.stdout.toString(), /--replace/);
    const j = await cli(['repair', '--json']);
    assert.equal((JSON.parse(j.stdout.toString()) as Json).error.code, 'BF_STORE_DENIED');
  });

  test('list, cat and restore name the denied store and still give the file from the others', async () => {
    const l = await cli(['list']);
    assert.equal(l.status, 0, l.stderr);
    assert.match(l.stdout.toString(), /^f\.bin\t/);
    assert.match(l.stderr, /store 4 \(.*\): access denied \(check credentials\).*\[BF_STORE_DENIED\]/);
    const c = await cli(['cat', 'f.bin']);
    assert.equal(c.status, 0, c.stderr);
    assert.deepEqual(new Uint8Array(c.stdout), data);
    assert.match(c.stderr, /store 4: access denied \(check credentials\)/);
    assert.doesNotMatch(c.stderr, /blockframe repair/);
    const out = join(work, 'out.bin');
    const r = await cli(['restore', 'f.bin', '-o', out, '--force']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(new Uint8Array(await readFile(out)), data);
    assert.match(r.stderr, /store 4: access denied \(check credentials\)/);
    // The only store: the command fails with the reason, not "no store answered".
    const only = await runCliAsync(['list', '--store', stores[3]!], { cwd: work, env: wrong, killAfterMs: 60_000 });
    assert.equal(only.status, 1);
    assert.match(only.stderr, /access denied \(check credentials\).*\[BF_STORE_DENIED\]/);
  });

  test('serve: health marks the store denied, the archive list names it, files stay byte-exact', async () => {
    await withEnv(wrong, async () => {
      const srv = await startServer({ stores });
      try {
        const h = (await (await fetch(`${srv.base}/api/archives/f.bin/health`)).json()) as Json;
        assert.deepEqual(h.stores.map((s: Json) => s.state), ['ok', 'ok', 'ok', 'denied']);
        const l = (await (await fetch(`${srv.base}/api/archives`)).json()) as Json;
        assert.deepEqual(l.unlisted.map((u: Json) => [u.store, u.code]), [[4, 'BF_STORE_DENIED']]);
        const f = await fetch(`${srv.base}/files/f.bin`);
        assert.equal(f.status, 200);
        assert.deepEqual(new Uint8Array(await f.arrayBuffer()), data);
      } finally {
        await srv.close();
      }
    });
  });
});
