// Grants, public-read, virtual-hosted style, restart persistence, index rebuild and expiry of abandoned uploads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, ListObjectsV2Command, PutBucketAclCommand, PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { tempDir } from '../helpers/fixtures.js';
import { ALICE, BOB, raw, startS3, s3err } from './helpers.js';

test('grants give another user read or write; public-read opens GET to anonymous callers and nothing else', async () => {
  const t = await startS3({ grants: [{ bucket: 'shared', accessKey: BOB.accessKey, access: 'read' }] });
  try {
    const alice = t.client(ALICE);
    const bob = t.client(BOB);
    await alice.send(new CreateBucketCommand({ Bucket: 'shared' }));
    await alice.send(new PutObjectCommand({ Bucket: 'shared', Key: 'doc.txt', Body: 'shared text' }));
    assert.equal(await (await bob.send(new GetObjectCommand({ Bucket: 'shared', Key: 'doc.txt' }))).Body!.transformToString(), 'shared text');
    assert.equal((await bob.send(new ListObjectsV2Command({ Bucket: 'shared' }))).KeyCount, 1);
    assert.equal(await s3err(bob.send(new PutObjectCommand({ Bucket: 'shared', Key: 'bob.txt', Body: 'x' }))), 'AccessDenied');
    assert.equal(await s3err(bob.send(new PutBucketAclCommand({ Bucket: 'shared', ACL: 'public-read' }))), 'AccessDenied');
    assert.equal((await fetch(`${t.endpoint}/shared/doc.txt`)).status, 403);
    await alice.send(new PutBucketAclCommand({ Bucket: 'shared', ACL: 'public-read' }));
    const anon = await fetch(`${t.endpoint}/shared/doc.txt`);
    assert.equal(await anon.text(), 'shared text');
    assert.equal((await fetch(`${t.endpoint}/shared/doc.txt`, { method: 'PUT', body: 'x' })).status, 403);
    assert.equal((await fetch(`${t.endpoint}/shared/doc.txt`, { method: 'DELETE' })).status, 403);
    assert.equal((await fetch(`${t.endpoint}/`)).status, 403);
  } finally {
    await t.close();
  }
});

test('virtual-hosted style: Host {bucket}.{domain} addresses the bucket; path style keeps working', async () => {
  const t = await startS3({ domain: 's3.test' });
  try {
    await t.client(ALICE).send(new CreateBucketCommand({ Bucket: 'vhost' }));
    const port = new URL(t.endpoint).port;
    const put = await raw(t.endpoint, { method: 'PUT', path: '/a/b.txt', headers: { host: `vhost.s3.test:${port}` }, body: 'virtual' });
    assert.equal(put.status, 200, put.body);
    const got = await raw(t.endpoint, { method: 'GET', path: '/a/b.txt', headers: { host: `vhost.s3.test:${port}` } });
    assert.equal(got.body, 'virtual');
    const list = await raw(t.endpoint, { method: 'GET', path: '/', query: { 'list-type': '2' }, headers: { host: `vhost.s3.test:${port}` } });
    assert.match(list.body, /<Key>a\/b\.txt<\/Key>/);
    assert.equal((await raw(t.endpoint, { method: 'GET', path: '/vhost/a/b.txt' })).body, 'virtual');
  } finally {
    await t.close();
  }
});

test('the catalogue survives a restart, and a lost .s3/ is rebuilt from the manifests', async () => {
  const { dir, cleanup } = await tempDir('bf-s3-persist-');
  const root = join(dir, 'archive');
  try {
    // Rebuilt from the manifests: archives, so from 0 bytes (a blob's key is kept only in its .s3/objects/ record).
    let t = await startS3({ root, archiveFrom: 0 });
    const alice = t.client(ALICE);
    await alice.send(new CreateBucketCommand({ Bucket: 'keep' }));
    for (const k of ['x/1', 'x/2', 'ü y']) await alice.send(new PutObjectCommand({ Bucket: 'keep', Key: k, Body: `body of ${k}`, ContentType: 'text/plain' }));
    await t.close();
    t = await startS3({ root, archiveFrom: 0 });
    const keys = (await t.client(ALICE).send(new ListObjectsV2Command({ Bucket: 'keep' }))).Contents!.map((c) => [c.Key, c.ETag]);
    assert.equal(keys.length, 3);
    const got = await t.client(ALICE).send(new GetObjectCommand({ Bucket: 'keep', Key: 'ü y' }));
    assert.equal(got.ContentType, 'text/plain');
    assert.equal(await got.Body!.transformToString(), 'body of ü y');
    await t.close();
    await rm(join(root, '.s3'), { recursive: true });
    const { createBlockFrameServer } = await import('../../src/index.js');
    const { createS3Server } = await import('../../src/s3/server.js');
    const bf = createBlockFrameServer({ archive: root });
    const s3 = await createS3Server({ users: [ALICE], shared: bf.shared, rebuild: true, log: () => undefined });
    try {
      const c = s3.context.catalog;
      assert.equal(c.bucket('keep')?.owner, ALICE.accessKey);
      assert.deepEqual([...c.sortedKeys('keep')], ['x/1', 'x/2', 'ü y']);
      // Single-PUT ETags come back exactly (the MD5 of the bytes).
      assert.deepEqual([...c.sortedKeys('keep')].map((k) => c.get('keep', k)!.etag), keys.map((k) => k[1]));
    } finally {
      await s3.close();
      await bf.close();
    }
  } finally {
    await cleanup();
  }
});

test('abandoned multipart uploads expire after the configured age and leave nothing behind', async () => {
  const t = await startS3({ uploadExpiryMs: 60_000 });
  try {
    const alice = t.client(ALICE);
    await alice.send(new CreateBucketCommand({ Bucket: 'exp' }));
    const { UploadId } = await alice.send(new CreateMultipartUploadCommand({ Bucket: 'exp', Key: 'old' }));
    await alice.send(new UploadPartCommand({ Bucket: 'exp', Key: 'old', UploadId, PartNumber: 1, Body: 'part' }));
    const uploads = t.s3.context.uploads;
    assert.equal(await uploads.expire(Date.now() + 30_000), 0);
    assert.equal((await readdir(uploads.dir)).length, 1);
    assert.equal(await uploads.expire(Date.now() + 61_000), 1);
    assert.deepEqual(await readdir(uploads.dir), []);
    assert.equal(await s3err(alice.send(new UploadPartCommand({ Bucket: 'exp', Key: 'old', UploadId, PartNumber: 2, Body: 'late' }))), 'NoSuchUpload');
  } finally {
    await t.close();
  }
});

test('users come from flags, BLOCKFRAME_S3_USERS and the config file; none at all is a usage error', async () => {
  const { resolveS3Config } = await import('../../src/s3/users.js');
  const { runCli } = await import('../helpers/fixtures.js');
  const { writeFile } = await import('node:fs/promises');
  const { dir, cleanup } = await tempDir('bf-s3-users-');
  try {
    const cfg = join(dir, 'blockframe.json');
    await writeFile(cfg, JSON.stringify({ version: 1, stores: [join(dir, 'a')], failures: 0, s3: { users: [{ accessKey: 'FILEKEY', secretKey: 'file-secret-1' }], grants: [{ bucket: 'bkt', accessKey: 'ENVKEY', access: 'write' }] } }));
    const c = resolveS3Config({ users: ['FLAGKEY:flag-secret-1'], env: 'ENVKEY:env-secret-1,ENV2:env-secret-2', configPath: cfg });
    assert.deepEqual(c.users.map((u) => u.accessKey), ['FLAGKEY', 'ENVKEY', 'ENV2', 'FILEKEY']);
    assert.deepEqual(c.grants, [{ bucket: 'bkt', accessKey: 'ENVKEY', access: 'write' }]);
    assert.throws(() => resolveS3Config({ users: ['KEY1:secret-one', 'KEY1:secret-two'] }), /given twice/);
    assert.throws(() => resolveS3Config({ users: ['nocolon'] }), /ACCESS_KEY:SECRET_KEY/);
    await writeFile(cfg, JSON.stringify({ version: 1, stores: [join(dir, 'a')], failures: 0, s3: { users: [{ accessKey: 'x' }] } }));
    assert.throws(() => resolveS3Config({ configPath: cfg }), /s3\.users/);
    const r = runCli(['serve', '--archive', join(dir, 'arch'), '--port', '0', '--s3-port', '0'], { env: { BLOCKFRAME_S3_USERS: '' } });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /at least one user/);
  } finally {
    await cleanup();
  }
});
