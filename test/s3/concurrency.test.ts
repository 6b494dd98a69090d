// Concurrent writers on the same keys (seeded), and streamed uploads with checksum trailers, through the SDK.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { CopyObjectCommand, CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { prng } from '../helpers/fixtures.js';
import { ALICE, startS3, type TestS3 } from './helpers.js';

let t: TestS3;
let c: S3Client;
before(async () => {
  // Races of archive retirement: objects from 0 bytes are archives here (small ones are blobs by default: s3-packs.test.ts).
  t = await startS3({ archiveFrom: 0 });
  c = t.client(ALICE);
  await c.send(new CreateBucketCommand({ Bucket: 'race' }));
});
after(async () => t.close());

test('a streamed PutObject (aws-chunked, unsigned payload, CRC32 trailer) is verified, stored and served with its checksum', async () => {
  const parts = [Buffer.alloc(100_000, 1), Buffer.alloc(5000, 2)];
  await c.send(new PutObjectCommand({ Bucket: 'race', Key: 'streamed', Body: Readable.from(parts), ContentLength: 105_000 }));
  const got = await c.send(new GetObjectCommand({ Bucket: 'race', Key: 'streamed', ChecksumMode: 'ENABLED' }));
  assert.deepEqual(Buffer.from(await got.Body!.transformToByteArray()), Buffer.concat(parts));
  assert.ok(got.ChecksumCRC32, 'the stored CRC32 comes back (and the SDK checked it)');
  assert.equal(got.ContentEncoding, undefined, 'aws-chunked is a transfer detail, not stored');
});

test('seeded concurrent puts, copies and deletes of a few keys with shared bodies: every key reads its ETag, no archive is left unreferenced', async () => {
  const next = prng(0xbeef);
  const bodies = ['alpha body', 'beta body', 'alpha body'].map((s) => Buffer.from(s));
  const keys = ['k1', 'k2', 'k3'];
  const ops: (() => Promise<unknown>)[] = [];
  for (let i = 0; i < 60; i++) {
    const key = keys[next() % keys.length]!;
    const kind = next() % 4;
    if (kind <= 1) ops.push(() => c.send(new PutObjectCommand({ Bucket: 'race', Key: key, Body: bodies[next() % bodies.length]! })));
    else if (kind === 2) ops.push(() => c.send(new DeleteObjectCommand({ Bucket: 'race', Key: key })));
    else ops.push(() => c.send(new CopyObjectCommand({ Bucket: 'race', Key: keys[next() % keys.length]!, CopySource: `race/${key}` })).catch((e) => assert.equal(e.name === 'NoSuchKey' || e.name === 'InvalidRequest', true, e.name)));
  }
  // Eight at a time, in seeded order.
  for (let i = 0; i < ops.length; i += 8) await Promise.all(ops.slice(i, i + 8).map((op) => op()));
  const catalog = t.s3.context.catalog;
  const referenced = new Set<string>();
  for (const key of catalog.sortedKeys('race')) {
    const rec = catalog.get('race', key)!;
    referenced.add(rec.dir!);
    const bytes = Buffer.from(await (await c.send(new GetObjectCommand({ Bucket: 'race', Key: key }))).Body!.transformToByteArray());
    assert.equal(`"${createHash('md5').update(bytes).digest('hex')}"`, rec.etag, key);
  }
  const dirs = (await readdir(t.root)).filter((d) => d.startsWith('race_k'));
  assert.deepEqual(dirs.sort(), [...referenced].filter((d) => d.startsWith('race_k')).sort(), 'archives on disk are exactly those keys refer to');
});
