// S3 behaviours clients and S3 test suites rely on, as AWS and Ceph RGW answer them: versions listing, re-create, retried Complete, listing edges.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { DeleteObjectsCommand, ListObjectVersionsCommand, ListObjectsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { join } from 'node:path';
import { createBlockFrameServer } from '../../src/index.js';
import { createS3Server } from '../../src/s3/server.js';
import type { AddressInfo } from 'node:net';
import { tempDir } from '../helpers/fixtures.js';
import { ALICE, raw, startS3, type TestS3 } from './helpers.js';

let t: TestS3;

before(async () => {
  t = await startS3();
  assert.equal((await raw(t.endpoint, { method: 'PUT', path: '/compat' })).status, 200);
  for (const k of ['a b+c', 'dir/x', 'dir/y', 'z']) assert.equal((await raw(t.endpoint, { method: 'PUT', path: `/compat/${encodeURIComponent(k).replace(/%2F/g, '/')}`, body: `body of ${k}` })).status, 200);
});
after(() => t.close());

test('ListObjectVersions on an unversioned bucket: every key once with VersionId null, no delete markers; a client empties the bucket with it', async () => {
  const s3 = t.client();
  const v = await s3.send(new ListObjectVersionsCommand({ Bucket: 'compat' }));
  assert.deepEqual(v.Versions?.map((x) => [x.Key, x.VersionId, x.IsLatest, x.Size]), [['a b+c', 'null', true, 13], ['dir/x', 'null', true, 13], ['dir/y', 'null', true, 13], ['z', 'null', true, 9]]);
  assert.equal(v.DeleteMarkers, undefined);
  assert.equal(v.IsTruncated, false);
  const paged = await s3.send(new ListObjectVersionsCommand({ Bucket: 'compat', Delimiter: '/', MaxKeys: 2 }));
  assert.deepEqual([paged.Versions?.map((x) => x.Key), paged.CommonPrefixes?.map((p) => p.Prefix), paged.IsTruncated, paged.NextKeyMarker], [['a b+c'], ['dir/'], true, 'dir/']);
  const rest = await s3.send(new ListObjectVersionsCommand({ Bucket: 'compat', Delimiter: '/', KeyMarker: paged.NextKeyMarker }));
  assert.deepEqual(rest.Versions?.map((x) => x.Key), ['z']);

  // The way clients empty a bucket: list versions, delete them by VersionId.
  assert.equal((await raw(t.endpoint, { method: 'PUT', path: '/compat-empty' })).status, 200);
  for (const k of ['p', 'q']) await raw(t.endpoint, { method: 'PUT', path: `/compat-empty/${k}`, body: k });
  const all = await s3.send(new ListObjectVersionsCommand({ Bucket: 'compat-empty' }));
  const del = await s3.send(new DeleteObjectsCommand({ Bucket: 'compat-empty', Delete: { Objects: all.Versions!.map((x) => ({ Key: x.Key!, VersionId: x.VersionId! })) } }));
  assert.equal(del.Deleted?.length, 2);
  assert.equal((await raw(t.endpoint, { method: 'DELETE', path: '/compat-empty' })).status, 204);
});

test('CreateBucket of a bucket you own: 200 in us-east-1 (bucket unchanged), 409 BucketAlreadyOwnedByYou in other regions', async () => {
  assert.equal((await raw(t.endpoint, { method: 'PUT', path: '/compat' })).status, 200);
  assert.equal((await raw(t.endpoint, { method: 'GET', path: '/compat/z' })).body, 'body of z');
  assert.equal((await raw(t.endpoint, { method: 'PUT', path: '/compat', user: { accessKey: 'BOBKEY01', secretKey: 'bob-secret-5678' } })).code, 'BucketAlreadyExists');
  const work = await tempDir('bf-s3-region-');
  const bf = createBlockFrameServer({ archive: join(work.dir, 'archive') });
  const s3 = await createS3Server({ users: [ALICE], shared: bf.shared, region: 'eu-west-1', log: () => undefined });
  await new Promise<void>((resolve) => s3.server.listen(0, '127.0.0.1', resolve));
  try {
    const endpoint = `http://127.0.0.1:${(s3.server.address() as AddressInfo).port}`;
    assert.equal((await raw(endpoint, { method: 'PUT', path: '/eubkt' })).status, 200);
    const again = await raw(endpoint, { method: 'PUT', path: '/eubkt' });
    assert.deepEqual([again.status, again.code], [409, 'BucketAlreadyOwnedByYou']);
  } finally {
    await s3.close();
    await bf.close();
    await work.cleanup();
  }
});

async function upload(key: string, bodies: string[]): Promise<{ uploadId: string; etags: string[] }> {
  const c = await raw(t.endpoint, { method: 'POST', path: `/compat/${key}`, query: { uploads: '' } });
  const uploadId = /<UploadId>(\w+)<\/UploadId>/.exec(c.body)![1]!;
  const etags: string[] = [];
  for (const [i, b] of bodies.entries()) etags.push(String((await raw(t.endpoint, { method: 'PUT', path: `/compat/${key}`, query: { uploadId, partNumber: String(i + 1) }, body: b })).headers.etag));
  return { uploadId, etags };
}
const completeXml = (parts: [number, string][]) => `<CompleteMultipartUpload>${parts.map(([n, e]) => `<Part><PartNumber>${n}</PartNumber><ETag>${e}</ETag></Part>`).join('')}</CompleteMultipartUpload>`;

test('completing a completed multipart upload again answers 200 with the same ETag; not once the key holds another object', async () => {
  const { uploadId, etags } = await upload('mp-retry', ['only part']);
  const xml = completeXml([[1, etags[0]!]]);
  const first = await raw(t.endpoint, { method: 'POST', path: '/compat/mp-retry', query: { uploadId }, body: xml });
  assert.equal(first.status, 200);
  const etag = /<ETag>([^<]+)<\/ETag>/.exec(first.body)![1];
  const again = await raw(t.endpoint, { method: 'POST', path: '/compat/mp-retry', query: { uploadId }, body: xml });
  assert.equal(again.status, 200, again.body);
  assert.equal(/<ETag>([^<]+)<\/ETag>/.exec(again.body)![1], etag);
  // Completed uploads are not listed, and take no more parts.
  assert.doesNotMatch((await raw(t.endpoint, { method: 'GET', path: '/compat', query: { uploads: '' } })).body, /mp-retry/);
  assert.equal((await raw(t.endpoint, { method: 'PUT', path: '/compat/mp-retry', query: { uploadId, partNumber: '2' }, body: 'x' })).code, 'NoSuchUpload');
  await raw(t.endpoint, { method: 'PUT', path: '/compat/mp-retry', body: 'overwritten' });
  assert.equal((await raw(t.endpoint, { method: 'POST', path: '/compat/mp-retry', query: { uploadId }, body: xml })).code, 'NoSuchUpload');
});

test('a Complete that lists a part twice is InvalidPartOrder', async () => {
  const { uploadId, etags } = await upload('mp-dup', ['one', 'two']);
  for (const parts of [[[1, etags[0]!], [1, etags[0]!]], [[1, etags[0]!], [2, etags[1]!], [2, etags[1]!]]] as [number, string][][]) {
    const res = await raw(t.endpoint, { method: 'POST', path: '/compat/mp-dup', query: { uploadId }, body: completeXml(parts) });
    assert.deepEqual([res.status, res.code], [400, 'InvalidPartOrder']);
  }
});

test('UploadPartCopy with a range past the source end is 416 InvalidRange; a malformed range stays InvalidArgument', async () => {
  const { uploadId } = await upload('mp-copy', []);
  const copy = (range: string) => raw(t.endpoint, { method: 'PUT', path: '/compat/mp-copy', query: { uploadId, partNumber: '1' }, headers: { 'x-amz-copy-source': '/compat/z', 'x-amz-copy-source-range': range } });
  const past = await copy('bytes=0-9');
  assert.deepEqual([past.status, past.code, past.headers['content-range']], [416, 'InvalidRange', 'bytes */9']);
  assert.deepEqual([(await copy('bytes=5-2')).code, (await copy('bytes=0-')).code], ['InvalidArgument', 'InvalidArgument']);
  assert.equal((await copy('bytes=0-8')).status, 200);
});

test('listing edges: max-keys=0 is not truncated, an empty continuation-token is none, v1 Prefix is encoded only with encoding-type=url', async () => {
  const s3 = t.client();
  for (const v2 of [false, true]) {
    const res = v2 ? await s3.send(new ListObjectsV2Command({ Bucket: 'compat', MaxKeys: 0 })) : await s3.send(new ListObjectsCommand({ Bucket: 'compat', MaxKeys: 0 }));
    assert.deepEqual([res.IsTruncated, res.Contents, res.MaxKeys], [false, undefined, 0]);
  }
  const empty = await raw(t.endpoint, { method: 'GET', path: '/compat', query: { 'list-type': '2', 'continuation-token': '', prefix: 'dir/' } });
  assert.equal(empty.status, 200, empty.body);
  assert.match(empty.body, /<ContinuationToken><\/ContinuationToken>/);
  assert.deepEqual([...empty.body.matchAll(/<Key>([^<]+)<\/Key>/g)].map((m) => m[1]), ['dir/x', 'dir/y']);
  const plain = await raw(t.endpoint, { method: 'GET', path: '/compat', query: { prefix: 'a b+' } });
  assert.match(plain.body, /<Prefix>a b\+<\/Prefix>/);
  const encoded = await raw(t.endpoint, { method: 'GET', path: '/compat', query: { prefix: 'a b+', 'encoding-type': 'url' } });
  assert.match(encoded.body, /<Prefix>a%20b%2B<\/Prefix>/);
});
