// Small PutObjects: their own commit lane (not queued behind a large commit), many at once byte-exact, small slabs.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { dataSlab, SLAB } from '../../src/archive/write/shard-writer.js';
import { SMALL_OBJECT_BYTES } from '../../src/s3/archives.js';
import { randomBytesSeeded } from '../helpers/fixtures.js';
import { ALICE, startS3, type TestS3 } from './helpers.js';

let t: TestS3;
let c: S3Client;
before(async () => {
  // The small-object lane of archive commits (objects as archives: --s3-no-packs, or from 16 MiB).
  t = await startS3({ archiveFrom: 0 });
  c = t.client(ALICE);
  await c.send(new CreateBucketCommand({ Bucket: 'small' }));
});
after(async () => t.close());

/** Whether `p` settles within `ms`. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([p.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

test('a small PUT does not queue behind a large commit: objects up to 256 KiB commit in a lane of their own', async () => {
  // Hold the server's one large-commit slot, as a long upload being committed would.
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const holder = t.s3.context.commits.run(() => held);
  try {
    const small = c.send(new PutObjectCommand({ Bucket: 'small', Key: 'tiny', Body: randomBytesSeeded(4096, 1) }));
    assert.ok(await settlesWithin(small, 20_000), 'the 4 KiB PUT finished while a large commit held its slot');
    const large = c.send(new PutObjectCommand({ Bucket: 'small', Key: 'larger', Body: randomBytesSeeded(SMALL_OBJECT_BYTES + 1, 2) }));
    assert.equal(await settlesWithin(large, 500), false, 'a body over the limit still waits for the large-commit slot');
    release();
    await large;
  } finally {
    release();
    await holder;
  }
  const got = await c.send(new GetObjectCommand({ Bucket: 'small', Key: 'larger' }));
  assert.deepEqual(new Uint8Array(await got.Body!.transformToByteArray()), randomBytesSeeded(SMALL_OBJECT_BYTES + 1, 2));
});

test('64 concurrent 4 KiB PUTs (16 at a time per lane): every object reads back byte-exact', async () => {
  const n = 64;
  await Promise.all(Array.from({ length: n }, (_, i) => c.send(new PutObjectCommand({ Bucket: 'small', Key: `many/${i}`, Body: randomBytesSeeded(4096, 100 + i) }))));
  for (let i = 0; i < n; i++) {
    const got = await c.send(new GetObjectCommand({ Bucket: 'small', Key: `many/${i}` }));
    assert.deepEqual(new Uint8Array(await got.Body!.transformToByteArray()), randomBytesSeeded(4096, 100 + i), `many/${i}`);
  }
});

test('commit slabs are sized to the input: whole chunks up to 4 MiB', () => {
  const C = 64 * 1024;
  assert.equal(dataSlab(0, C), C);
  assert.equal(dataSlab(4096, C), C);
  assert.equal(dataSlab(100_000, C), 2 * C);
  assert.equal(dataSlab(SLAB - 1, C), SLAB);
  assert.equal(dataSlab(10 * SLAB, C), SLAB);
});

test("commit looks up same-name archives by directory prefix: listDirs(prefix) gives exactly the root's matches", async () => {
  const repo = t.s3.context.repo;
  const all = await repo.listDirs();
  assert.ok(all.length >= 66, `${all.length} archives`);
  for (const prefix of ['small_many_1', 'small_many_1_', 'small_tiny_', 'nothing_', '']) {
    assert.deepEqual(await repo.listDirs(prefix), all.filter((d) => d.startsWith(prefix)), prefix);
  }
  await assert.rejects(repo.listDirs('a/b'), { code: 'BF_INTERNAL' });
});
