// The S3 endpoint through the real AWS SDK v3 (@aws-sdk/client-s3, @aws-sdk/lib-storage): buckets, objects, listing, auth.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketLocationCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
  CompleteMultipartUploadCommand,
  type S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { randomBytesSeeded } from '../helpers/fixtures.js';
import { ALICE, BOB, startS3, type TestS3 } from './helpers.js';

let t: TestS3;
let alice: S3Client;
let bob: S3Client;

before(async () => {
  t = await startS3();
  alice = t.client(ALICE);
  bob = t.client(BOB);
  await alice.send(new CreateBucketCommand({ Bucket: 'alpha' }));
});
after(async () => t.close());

async function s3err(p: Promise<unknown>): Promise<{ name: string; status?: number }> {
  try {
    await p;
  } catch (e) {
    const err = e as S3ServiceException;
    return { name: err.name, status: err.$metadata?.httpStatusCode };
  }
  assert.fail('expected an S3 error');
}

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');

test('buckets: create, list (own only), head, location, delete when empty; owners and AccessDenied', async () => {
  await alice.send(new CreateBucketCommand({ Bucket: 'alice-tmp' }));
  // The owner re-creating it: 200 in us-east-1 as AWS and RGW answer (BucketAlreadyOwnedByYou elsewhere: compat.test.ts).
  assert.equal((await alice.send(new CreateBucketCommand({ Bucket: 'alice-tmp' }))).$metadata.httpStatusCode, 200);
  assert.equal((await s3err(bob.send(new CreateBucketCommand({ Bucket: 'alice-tmp' })))).name, 'BucketAlreadyExists');
  assert.equal((await s3err(alice.send(new CreateBucketCommand({ Bucket: 'Bad_Name' })))).name, 'InvalidBucketName');
  const names = (await alice.send(new ListBucketsCommand({}))).Buckets!.map((b) => b.Name);
  assert.deepEqual(names, ['alice-tmp', 'alpha']);
  assert.deepEqual((await bob.send(new ListBucketsCommand({}))).Buckets ?? [], []);
  await alice.send(new HeadBucketCommand({ Bucket: 'alice-tmp' }));
  assert.equal((await s3err(bob.send(new HeadBucketCommand({ Bucket: 'alice-tmp' })))).status, 403);
  assert.equal((await s3err(alice.send(new HeadBucketCommand({ Bucket: 'nope-nope' })))).status, 404);
  const loc = await alice.send(new GetBucketLocationCommand({ Bucket: 'alice-tmp' }));
  assert.ok(!loc.LocationConstraint);
  await alice.send(new PutObjectCommand({ Bucket: 'alice-tmp', Key: 'k', Body: 'x' }));
  assert.equal((await s3err(bob.send(new PutObjectCommand({ Bucket: 'alice-tmp', Key: 'k2', Body: 'x' })))).name, 'AccessDenied');
  assert.equal((await s3err(bob.send(new GetObjectCommand({ Bucket: 'alice-tmp', Key: 'k' })))).name, 'AccessDenied');
  assert.equal((await s3err(alice.send(new DeleteBucketCommand({ Bucket: 'alice-tmp' })))).name, 'BucketNotEmpty');
  await alice.send(new DeleteObjectCommand({ Bucket: 'alice-tmp', Key: 'k' }));
  assert.equal((await s3err(bob.send(new DeleteBucketCommand({ Bucket: 'alice-tmp' })))).name, 'AccessDenied');
  await alice.send(new DeleteBucketCommand({ Bucket: 'alice-tmp' }));
  assert.equal((await s3err(alice.send(new GetObjectCommand({ Bucket: 'alice-tmp', Key: 'k' })))).name, 'NoSuchBucket');
});

test('auth: unknown key, wrong secret and a skewed clock are refused with their S3 codes', async () => {
  const c = (accessKeyId: string, secretAccessKey: string, systemClockOffset = 0) => {
    const client = new S3Client({ endpoint: t.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 });
    client.config.systemClockOffset = systemClockOffset;
    return client;
  };
  const unknown = c('NOSUCHKEY1', 'whatever-secret');
  const wrong = c(ALICE.accessKey, 'not-the-secret');
  const skewed = c(ALICE.accessKey, ALICE.secretKey, -3600_000);
  try {
    assert.equal((await s3err(unknown.send(new ListBucketsCommand({})))).name, 'InvalidAccessKeyId');
    assert.equal((await s3err(wrong.send(new ListBucketsCommand({})))).name, 'SignatureDoesNotMatch');
    assert.equal((await s3err(skewed.send(new ListBucketsCommand({})))).name, 'RequestTimeTooSkewed');
    // Nothing was written by refused writes.
    assert.equal((await s3err(wrong.send(new PutObjectCommand({ Bucket: 'alpha', Key: 'refused', Body: 'x' })))).name, 'SignatureDoesNotMatch');
    assert.equal((await s3err(alice.send(new HeadObjectCommand({ Bucket: 'alpha', Key: 'refused' })))).status, 404);
  } finally {
    for (const x of [unknown, wrong, skewed]) x.destroy();
  }
});

test('objects: put/get/head round-trip bytes, keys, metadata and content type; ranges and response overrides', async () => {
  const keys = ['plain.bin', 'dir/sub/file with spaces.txt', 'ünïcödé/日本語/emoji-😀.dat', 'a+b=c&d?e#f%20g', 'trailing/', "quotes'\"<>&"];
  for (const [i, key] of keys.entries()) {
    const body = randomBytesSeeded(1000 + i * 777, 100 + i);
    const put = await alice.send(new PutObjectCommand({ Bucket: 'alpha', Key: key, Body: body, ContentType: 'application/x-test', Metadata: { colour: 'blue', n: String(i) }, CacheControl: 'max-age=60' }));
    assert.equal(put.ETag, `"${md5(body)}"`);
    const got = await alice.send(new GetObjectCommand({ Bucket: 'alpha', Key: key }));
    assert.deepEqual(Buffer.from(await got.Body!.transformToByteArray()), Buffer.from(body), key);
    assert.equal(got.ContentType, 'application/x-test');
    assert.equal(got.CacheControl, 'max-age=60');
    assert.deepEqual(got.Metadata, { colour: 'blue', n: String(i) });
    const head = await alice.send(new HeadObjectCommand({ Bucket: 'alpha', Key: key }));
    assert.equal(head.ContentLength, body.length);
    assert.equal(head.ETag, put.ETag);
  }
  const listed = (await alice.send(new ListObjectsV2Command({ Bucket: 'alpha' }))).Contents!.map((o) => o.Key!);
  assert.deepEqual(listed, [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
  const body = randomBytesSeeded(100_000, 7);
  await alice.send(new PutObjectCommand({ Bucket: 'alpha', Key: 'ranged', Body: body }));
  const part = await alice.send(new GetObjectCommand({ Bucket: 'alpha', Key: 'ranged', Range: 'bytes=1000-1999' }));
  assert.equal(part.ContentRange, 'bytes 1000-1999/100000');
  assert.deepEqual(Buffer.from(await part.Body!.transformToByteArray()), Buffer.from(body.subarray(1000, 2000)));
  const tail = await alice.send(new GetObjectCommand({ Bucket: 'alpha', Key: 'ranged', Range: 'bytes=-10' }));
  assert.deepEqual(Buffer.from(await tail.Body!.transformToByteArray()), Buffer.from(body.subarray(-10)));
  assert.equal((await s3err(alice.send(new GetObjectCommand({ Bucket: 'alpha', Key: 'ranged', Range: 'bytes=200000-' })))).name, 'InvalidRange');
  const o = await alice.send(new GetObjectCommand({ Bucket: 'alpha', Key: 'ranged', ResponseContentType: 'text/x-over', ResponseContentDisposition: 'attachment; filename="x"', ResponseCacheControl: 'no-store' }));
  await o.Body!.transformToByteArray();
  assert.equal(o.ContentType, 'text/x-over');
  assert.equal(o.ContentDisposition, 'attachment; filename="x"');
  assert.equal(o.CacheControl, 'no-store');
  assert.equal((await s3err(alice.send(new GetObjectCommand({ Bucket: 'alpha', Key: 'missing' })))).name, 'NoSuchKey');
});

test('issue 18.13: keys from 175 bytes up to the 1024-byte limit put, get, overwrite and delete (never 500)', async () => {
  await alice.send(new CreateBucketCommand({ Bucket: 'longkeys' }));
  const keys = ['k'.repeat(175), `dir/${'ß'.repeat(120)}/file.bin`, 'x'.repeat(1024), `${'d/'.repeat(200)}${'é'.repeat(300)}`];
  for (const [i, Key] of keys.entries()) {
    assert.ok(Buffer.byteLength(Key) >= 175 && Buffer.byteLength(Key) <= 1024);
    const body = randomBytesSeeded(2000 + i, 1800 + i);
    await alice.send(new PutObjectCommand({ Bucket: 'longkeys', Key, Body: body }));
    const got = await alice.send(new GetObjectCommand({ Bucket: 'longkeys', Key }));
    assert.deepEqual(new Uint8Array(await got.Body!.transformToByteArray()), body, `${Buffer.byteLength(Key)}-byte key`);
    await alice.send(new PutObjectCommand({ Bucket: 'longkeys', Key, Body: body.subarray(1) }));
    assert.equal((await alice.send(new HeadObjectCommand({ Bucket: 'longkeys', Key }))).ContentLength, body.length - 1);
    await alice.send(new DeleteObjectCommand({ Bucket: 'longkeys', Key }));
  }
  assert.equal((await s3err(alice.send(new PutObjectCommand({ Bucket: 'longkeys', Key: 'y'.repeat(1025), Body: 'x' })))).name, 'KeyTooLongError');
  await alice.send(new DeleteBucketCommand({ Bucket: 'longkeys' }));
});

test('conditional GETs: If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since', async () => {
  const put = await alice.send(new PutObjectCommand({ Bucket: 'alpha', Key: 'cond', Body: 'conditional body' }));
  const etag = put.ETag!;
  const ok = await alice.send(new GetObjectCommand({ Bucket: 'alpha', Key: 'cond', IfMatch: etag }));
  assert.equal(await ok.Body!.transformToString(), 'conditional body');
  assert.equal((await s3err(alice.send(new GetObjectCommand({ Bucket: 'alpha', Key: 'cond', IfMatch: '"0000"' })))).status, 412);
  assert.equal((await s3err(alice.send(new GetObjectCommand({ Bucket: 'alpha', Key: 'cond', IfNoneMatch: etag })))).status, 304);
  const future = new Date(Date.now() + 3600_000);
  const past = new Date(Date.now() - 3600_000);
  assert.equal((await s3err(alice.send(new GetObjectCommand({ Bucket: 'alpha', Key: 'cond', IfModifiedSince: future })))).status, 304);
  assert.equal((await s3err(alice.send(new GetObjectCommand({ Bucket: 'alpha', Key: 'cond', IfUnmodifiedSince: past })))).status, 412);
  const fresh = await alice.send(new GetObjectCommand({ Bucket: 'alpha', Key: 'cond', IfModifiedSince: past, IfUnmodifiedSince: future }));
  assert.equal(await fresh.Body!.transformToString(), 'conditional body');
  // Conditional writes: If-None-Match: * only creates.
  assert.equal((await s3err(alice.send(new PutObjectCommand({ Bucket: 'alpha', Key: 'cond', Body: 'again', IfNoneMatch: '*' })))).status, 412);
});

test('overwrite, copy and delete: old archives are retired only when no key refers to them', async () => {
  // The archive path (objects from 16 MiB; FORMAT.md §13.9) with small bodies: archives from 0 bytes in this test.
  t.s3.context.archiveFrom = 0;
  await alice.send(new PutObjectCommand({ Bucket: 'alpha', Key: 'ow', Body: 'version one' }));
  const dir1 = t.s3.context.catalog.get('alpha', 'ow')!.dir;
  await alice.send(new CopyObjectCommand({ Bucket: 'alpha', Key: 'ow-copy', CopySource: 'alpha/ow' }));
  await alice.send(new PutObjectCommand({ Bucket: 'alpha', Key: 'ow', Body: 'version two!' }));
  assert.equal(await (await alice.send(new GetObjectCommand({ Bucket: 'alpha', Key: 'ow' }))).Body!.transformToString(), 'version two!');
  // The copy still reads the first version: its archive is kept while a key refers to it.
  assert.equal(await (await alice.send(new GetObjectCommand({ Bucket: 'alpha', Key: 'ow-copy' }))).Body!.transformToString(), 'version one');
  assert.ok(await t.s3.context.repo.set.stat(`${dir1}/manifest.json`));
  await alice.send(new DeleteObjectCommand({ Bucket: 'alpha', Key: 'ow-copy' }));
  assert.equal(await t.s3.context.repo.set.stat(`${dir1}/manifest.json`), null);
  const copied = await alice.send(new CopyObjectCommand({ Bucket: 'alpha', Key: 'ow-meta', CopySource: 'alpha/ow', MetadataDirective: 'REPLACE', ContentType: 'text/plain', Metadata: { a: 'b' } }));
  assert.ok(copied.CopyObjectResult?.ETag);
  const head = await alice.send(new HeadObjectCommand({ Bucket: 'alpha', Key: 'ow-meta' }));
  assert.equal(head.ContentType, 'text/plain');
  assert.deepEqual(head.Metadata, { a: 'b' });
  assert.equal((await s3err(alice.send(new CopyObjectCommand({ Bucket: 'alpha', Key: 'ow', CopySource: 'alpha/ow' })))).name, 'InvalidRequest');
  const del = await alice.send(new DeleteObjectsCommand({ Bucket: 'alpha', Delete: { Objects: [{ Key: 'ow' }, { Key: 'ow-meta' }, { Key: 'never-was' }] } }));
  assert.deepEqual(del.Deleted!.map((d) => d.Key).sort(), ['never-was', 'ow', 'ow-meta']);
  assert.equal((await s3err(alice.send(new HeadObjectCommand({ Bucket: 'alpha', Key: 'ow' })))).status, 404);
  t.s3.context.archiveFrom = 16 * 1024 * 1024;
});

test('listing: v1 and v2 with prefix, delimiter, max-keys, continuation, start-after and encoding-type=url', async () => {
  await alice.send(new CreateBucketCommand({ Bucket: 'lister' }));
  const keys = ['a/1', 'a/2', 'a/b/3', 'b/4', 'c', 'd e/5', 'd e/6'];
  for (const k of keys) await alice.send(new PutObjectCommand({ Bucket: 'lister', Key: k, Body: k }));
  const top = await alice.send(new ListObjectsV2Command({ Bucket: 'lister', Delimiter: '/' }));
  assert.deepEqual(top.CommonPrefixes!.map((p) => p.Prefix), ['a/', 'b/', 'd e/']);
  assert.deepEqual(top.Contents!.map((c) => c.Key), ['c']);
  const pages: string[] = [];
  let token: string | undefined;
  do {
    const p = await alice.send(new ListObjectsV2Command({ Bucket: 'lister', MaxKeys: 2, ContinuationToken: token }));
    pages.push(...(p.Contents ?? []).map((c) => c.Key!));
    token = p.NextContinuationToken;
    assert.equal(p.IsTruncated, token !== undefined);
  } while (token);
  assert.deepEqual(pages, keys);
  const after = await alice.send(new ListObjectsV2Command({ Bucket: 'lister', StartAfter: 'b/4', Prefix: '' }));
  assert.deepEqual(after.Contents!.map((c) => c.Key), ['c', 'd e/5', 'd e/6']);
  const sub = await alice.send(new ListObjectsV2Command({ Bucket: 'lister', Prefix: 'a/', Delimiter: '/' }));
  assert.deepEqual(sub.Contents!.map((c) => c.Key), ['a/1', 'a/2']);
  assert.deepEqual(sub.CommonPrefixes!.map((c) => c.Prefix), ['a/b/']);
  const v1: string[] = [];
  let marker: string | undefined;
  for (;;) {
    const p = await alice.send(new ListObjectsCommand({ Bucket: 'lister', MaxKeys: 3, Marker: marker, Delimiter: '/' }));
    v1.push(...(p.Contents ?? []).map((c) => c.Key!), ...(p.CommonPrefixes ?? []).map((c) => c.Prefix!));
    if (!p.IsTruncated) break;
    marker = p.NextMarker;
  }
  assert.deepEqual(v1.sort(), ['a/', 'b/', 'c', 'd e/']);
  const enc = await alice.send(new ListObjectsV2Command({ Bucket: 'lister', Prefix: 'd e/', EncodingType: 'url' }));
  // The JavaScript SDK hands url-encoded keys over as they came.
  assert.deepEqual(enc.Contents!.map((c) => c.Key), ['d%20e/5', 'd%20e/6']);
  assert.equal(enc.Prefix, 'd%20e/');
});

test('multipart with lib-storage: parallel parts, ETag "-N", ListParts/ListMultipartUploads, abort leaves nothing', async () => {
  const body = randomBytesSeeded(17 * 1024 * 1024 + 123, 42);
  const up = new Upload({ client: alice, params: { Bucket: 'alpha', Key: 'big/multi.bin', Body: body, ContentType: 'application/x-big' }, partSize: 5 * 1024 * 1024, queueSize: 4 });
  const done = await up.done();
  assert.match(done.ETag!, /^"[0-9a-f]{32}-4"$/);
  const got = await alice.send(new GetObjectCommand({ Bucket: 'alpha', Key: 'big/multi.bin' }));
  assert.equal(got.ContentType, 'application/x-big');
  const bytes = Buffer.from(await got.Body!.transformToByteArray());
  assert.equal(md5(bytes), md5(body));
  const mid = await alice.send(new GetObjectCommand({ Bucket: 'alpha', Key: 'big/multi.bin', Range: `bytes=${5 * 1024 * 1024 - 10}-${5 * 1024 * 1024 + 9}` }));
  assert.deepEqual(Buffer.from(await mid.Body!.transformToByteArray()), Buffer.from(body.subarray(5 * 1024 * 1024 - 10, 5 * 1024 * 1024 + 10)));
  // A manual upload, listed, then aborted: the staging directory holds nothing afterwards.
  const { UploadId } = await alice.send(new CreateMultipartUploadCommand({ Bucket: 'alpha', Key: 'aborted.bin' }));
  await alice.send(new UploadPartCommand({ Bucket: 'alpha', Key: 'aborted.bin', UploadId, PartNumber: 1, Body: randomBytesSeeded(1024, 1) }));
  await alice.send(new UploadPartCommand({ Bucket: 'alpha', Key: 'aborted.bin', UploadId, PartNumber: 3, Body: randomBytesSeeded(2048, 3) }));
  const parts = await alice.send(new ListPartsCommand({ Bucket: 'alpha', Key: 'aborted.bin', UploadId }));
  assert.deepEqual(parts.Parts!.map((p) => [p.PartNumber, p.Size]), [[1, 1024], [3, 2048]]);
  const uploads = await alice.send(new ListMultipartUploadsCommand({ Bucket: 'alpha' }));
  assert.deepEqual(uploads.Uploads!.map((u) => u.UploadId), [UploadId]);
  await alice.send(new AbortMultipartUploadCommand({ Bucket: 'alpha', Key: 'aborted.bin', UploadId }));
  assert.equal((await s3err(alice.send(new ListPartsCommand({ Bucket: 'alpha', Key: 'aborted.bin', UploadId })))).name, 'NoSuchUpload');
  const { readdir } = await import('node:fs/promises');
  assert.deepEqual(await readdir(t.s3.context.uploads.dir), []);
  assert.equal((await s3err(alice.send(new HeadObjectCommand({ Bucket: 'alpha', Key: 'aborted.bin' })))).status, 404);
  // lib-storage aborts on failure: a body stream that fails mid-way leaves no object and no upload behind.
  const { Readable } = await import('node:stream');
  const failing = Readable.from((async function* () {
    yield Buffer.alloc(6 * 1024 * 1024, 1);
    throw new Error('source failed');
  })());
  await assert.rejects(new Upload({ client: alice, params: { Bucket: 'alpha', Key: 'failed.bin', Body: failing }, partSize: 5 * 1024 * 1024 }).done());
  assert.equal((await s3err(alice.send(new HeadObjectCommand({ Bucket: 'alpha', Key: 'failed.bin' })))).status, 404);
  assert.deepEqual((await alice.send(new ListMultipartUploadsCommand({ Bucket: 'alpha' }))).Uploads ?? [], []);
});

test('UploadPartCopy and GetObject partNumber: parts copied from other objects through the verified reader', async () => {
  const a = randomBytesSeeded(6 * 1024 * 1024, 61);
  const b = randomBytesSeeded(300_000, 62);
  await alice.send(new PutObjectCommand({ Bucket: 'alpha', Key: 'src-a', Body: a }));
  await alice.send(new PutObjectCommand({ Bucket: 'alpha', Key: 'src-b', Body: b }));
  const { UploadId } = await alice.send(new CreateMultipartUploadCommand({ Bucket: 'alpha', Key: 'assembled' }));
  const p1 = await alice.send(new UploadPartCopyCommand({ Bucket: 'alpha', Key: 'assembled', UploadId, PartNumber: 1, CopySource: 'alpha/src-a' }));
  const p2 = await alice.send(new UploadPartCopyCommand({ Bucket: 'alpha', Key: 'assembled', UploadId, PartNumber: 2, CopySource: 'alpha/src-b', CopySourceRange: 'bytes=1000-1999' }));
  assert.equal(p1.CopyPartResult!.ETag, `"${md5(a)}"`);
  await alice.send(new CompleteMultipartUploadCommand({ Bucket: 'alpha', Key: 'assembled', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.CopyPartResult!.ETag }, { PartNumber: 2, ETag: p2.CopyPartResult!.ETag }] } }));
  const whole = Buffer.from(await (await alice.send(new GetObjectCommand({ Bucket: 'alpha', Key: 'assembled' }))).Body!.transformToByteArray());
  assert.equal(md5(whole), md5(Buffer.concat([a, b.subarray(1000, 2000)])));
  const second = await alice.send(new GetObjectCommand({ Bucket: 'alpha', Key: 'assembled', PartNumber: 2 }));
  assert.equal(second.PartsCount, 2);
  assert.deepEqual(Buffer.from(await second.Body!.transformToByteArray()), Buffer.from(b.subarray(1000, 2000)));
  assert.equal((await s3err(alice.send(new GetObjectCommand({ Bucket: 'alpha', Key: 'assembled', PartNumber: 3 })))).status, 416);
});

test('damage beyond repair: GET answers 500 InternalError, never wrong bytes', async () => {
  // The archive path (objects from 16 MiB; FORMAT.md §13.9) with small bodies: archives from 0 bytes in this test.
  t.s3.context.archiveFrom = 0;
  const body = randomBytesSeeded(50_000, 77);
  await alice.send(new PutObjectCommand({ Bucket: 'alpha', Key: 'doomed', Body: body }));
  const dir = t.s3.context.catalog.get('alpha', 'doomed')!.dir!;
  const { readdir, unlink } = await import('node:fs/promises');
  const { join } = await import('node:path');
  for (const f of await readdir(join(t.root, dir))) if (f.endsWith('.dat')) await unlink(join(t.root, dir, f));
  const err = await s3err(alice.send(new GetObjectCommand({ Bucket: 'alpha', Key: 'doomed' })));
  assert.deepEqual(err, { name: 'InternalError', status: 500 });
  t.s3.context.archiveFrom = 16 * 1024 * 1024;
});
