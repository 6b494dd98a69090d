// S3 compatibility as AWS and Ceph RGW answer: anonymous NoSuchBucket, owner identities, object ACLs, CORS preflights.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  GetBucketAclCommand,
  GetObjectAclCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutBucketAclCommand,
  PutObjectAclCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { isBlockFrameError } from '../../src/errors.js';
import { resolveS3Config } from '../../src/s3/users.js';
import { uriEncode } from '../../src/s3/sigv4.js';
import { tempDir } from '../helpers/fixtures.js';
import { ALICE, BOB, awsEnv, findAws, run, signerFor, startS3, type TestS3, s3err } from './helpers.js';

/** Alice has a configured identity; Bob has none (the default). */
const ALICE_ID = { ...ALICE, id: 'a1ce0000canonical', displayName: 'Alice Liddell' };
const BOB_ID = createHash('sha256').update(BOB.accessKey).digest('hex');

let t: TestS3;
let alice: S3Client;
let bob: S3Client;

before(async () => {
  t = await startS3({ users: [ALICE_ID, BOB] });
  alice = t.client(ALICE);
  bob = t.client(BOB);
});
after(async () => t.close());

test('anonymous requests to a deleted (or never created) bucket get 404 NoSuchBucket, not 403', async () => {
  await alice.send(new CreateBucketCommand({ Bucket: 'gone' }));
  await alice.send(new DeleteBucketCommand({ Bucket: 'gone' }));
  for (const [method, path] of [['GET', '/gone/key'], ['GET', '/gone'], ['GET', '/gone?list-type=2'], ['HEAD', '/gone'], ['HEAD', '/gone/key'], ['GET', '/never-was/key']]) {
    const r = await fetch(`${t.endpoint}${path}`, { method });
    assert.equal(r.status, 404, `${method} ${path}`);
    if (method === 'GET') assert.match(await r.text(), /<Code>NoSuchBucket<\/Code>/);
  }
  // An existing private bucket still refuses anonymous callers.
  await alice.send(new CreateBucketCommand({ Bucket: 'closed' }));
  assert.equal((await fetch(`${t.endpoint}/closed/key`)).status, 403);
});

test('owner ID and display name come from the user (not the access key), everywhere an owner is shown; the owner grant comes first', async () => {
  await alice.send(new CreateBucketCommand({ Bucket: 'owned' }));
  await alice.send(new PutObjectCommand({ Bucket: 'owned', Key: 'k', Body: 'v' }));
  await alice.send(new CreateMultipartUploadCommand({ Bucket: 'owned', Key: 'mp' }));
  const want = { ID: ALICE_ID.id, DisplayName: ALICE_ID.displayName };
  const buckets = await alice.send(new ListBucketsCommand({}));
  assert.deepEqual(buckets.Owner, want);
  const list = await alice.send(new ListObjectsV2Command({ Bucket: 'owned', FetchOwner: true }));
  assert.deepEqual(list.Contents?.[0]?.Owner, want);
  const uploads = await alice.send(new ListMultipartUploadsCommand({ Bucket: 'owned' }));
  assert.deepEqual(uploads.Uploads?.[0]?.Initiator, want);
  assert.deepEqual(uploads.Uploads?.[0]?.Owner, want);
  await alice.send(new PutBucketAclCommand({ Bucket: 'owned', ACL: 'public-read' }));
  for (const acl of [await alice.send(new GetBucketAclCommand({ Bucket: 'owned' })), await alice.send(new GetObjectAclCommand({ Bucket: 'owned', Key: 'k' }))]) {
    assert.deepEqual(acl.Owner, want);
    assert.equal(acl.Grants?.length, 2);
    assert.deepEqual(acl.Grants?.[0], { Grantee: { Type: 'CanonicalUser', ...want }, Permission: 'FULL_CONTROL' });
    assert.equal(acl.Grants?.[1]?.Grantee?.URI, 'http://acs.amazonaws.com/groups/global/AllUsers');
  }
  // The access key never appears in what anyone (here: an anonymous lister of the public bucket) is shown.
  const anon = await (await fetch(`${t.endpoint}/owned?list-type=2&fetch-owner=true`)).text();
  assert.match(anon, new RegExp(`<ID>${ALICE_ID.id}</ID>`));
  assert.ok(!anon.includes(ALICE.accessKey), anon);
  // A user without a configured identity is shown by the SHA-256 of the access key (64 hex, AWS's shape).
  await bob.send(new CreateBucketCommand({ Bucket: 'bobs-own' }));
  const bobs = await bob.send(new GetBucketAclCommand({ Bucket: 'bobs-own' }));
  assert.deepEqual(bobs.Owner, { ID: BOB_ID, DisplayName: BOB_ID });
  assert.equal(bobs.Grants?.[0]?.Grantee?.ID, BOB_ID);
  assert.equal(bobs.Grants?.length, 1);
});

test('owner identities are configured in the config file; two users with one id are a usage error', async () => {
  const d = await tempDir('bf-s3-ids-');
  try {
    const path = join(d.dir, 'blockframe.json');
    await writeFile(path, JSON.stringify({ s3: { users: [{ accessKey: 'CFGKEY01', secretKey: 'cfg-secret-1', id: 'cfg-user', displayName: 'Config User' }] } }));
    // The flag gives the key; the file gives the identity.
    const cfg = resolveS3Config({ users: ['CFGKEY01:cfg-secret-1', 'OTHERKEY:other-secret'], configPath: path });
    assert.deepEqual(cfg.users.find((u) => u.accessKey === 'CFGKEY01'), { accessKey: 'CFGKEY01', secretKey: 'cfg-secret-1', id: 'cfg-user', displayName: 'Config User' });
    await writeFile(path, JSON.stringify({ s3: { users: [{ accessKey: 'KEYONE01', secretKey: 'secret-one', id: 'same' }, { accessKey: 'KEYTWO02', secretKey: 'secret-two', id: 'same' }] } }));
    assert.throws(() => resolveS3Config({ configPath: path }), (e: unknown) => isBlockFrameError(e) && e.code === 'BF_USAGE');
    await writeFile(path, JSON.stringify({ s3: { users: [{ accessKey: 'KEYONE01', secretKey: 'secret-one', id: '<bad id>' }] } }));
    assert.throws(() => resolveS3Config({ configPath: path }), (e: unknown) => isBlockFrameError(e) && e.code === 'BF_STORE_CONFIG' && /s3\.users\.0\.id/.test(e.message));
  } finally {
    await d.cleanup();
  }
});

test('PutObjectAcl with canned private is accepted on an object of a private bucket (SDK and awscli); ACLs that would differ from the bucket are refused', async () => {
  await alice.send(new CreateBucketCommand({ Bucket: 'acls' }));
  await alice.send(new PutObjectCommand({ Bucket: 'acls', Key: 'obj', Body: 'x' }));
  const put = await alice.send(new PutObjectAclCommand({ Bucket: 'acls', Key: 'obj', ACL: 'private' }));
  assert.equal(put.$metadata.httpStatusCode, 200);
  const acl = await alice.send(new GetObjectAclCommand({ Bucket: 'acls', Key: 'obj' }));
  assert.deepEqual(acl.Grants, [{ Grantee: { Type: 'CanonicalUser', ID: ALICE_ID.id, DisplayName: ALICE_ID.displayName }, Permission: 'FULL_CONTROL' }]);
  assert.equal(await s3err(alice.send(new PutObjectAclCommand({ Bucket: 'acls', Key: 'obj', ACL: 'public-read' }))), 'NotImplemented');
  assert.equal(await s3err(alice.send(new PutObjectAclCommand({ Bucket: 'acls', Key: 'missing', ACL: 'private' }))), 'NoSuchKey');
  assert.equal(await s3err(bob.send(new PutObjectAclCommand({ Bucket: 'acls', Key: 'obj', ACL: 'private' }))), 'AccessDenied');
  assert.equal((await fetch(`${t.endpoint}/acls/obj?acl`)).status, 403);
  const aws = findAws();
  if (aws) {
    const r = await run(aws, ['--endpoint-url', t.endpoint, 's3api', 'put-object-acl', '--bucket', 'acls', '--key', 'obj', '--acl', 'private'], awsEnv(t.work));
    assert.equal(r.code, 0, r.stderr);
  }
});

test('an OPTIONS preflight on a presigned URL answers 400 or the CORS refusal, never SignatureDoesNotMatch', async () => {
  await alice.send(new CreateBucketCommand({ Bucket: 'cors' }));
  const url = new URL(t.endpoint);
  const p = await signerFor().presign({ method: 'PUT', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/cors/up', query: {}, headers: { host: url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } }, { expiresIn: 600 });
  const target = `${t.endpoint}${p.path}?${Object.entries(p.query ?? {}).map(([k, v]) => `${uriEncode(k)}=${uriEncode(String(v))}`).join('&')}`;
  const curl = async (headers: string[]) => {
    const r = await run('curl', ['-sS', '--noproxy', '*', '-X', 'OPTIONS', ...headers.flatMap((h) => ['-H', h]), '-w', '\n%{http_code}', target]);
    const lines = r.stdout.trimEnd().split('\n');
    return { status: Number(lines.pop()), body: lines.join('\n') };
  };
  const preflight = await curl(['Origin: http://app.example', 'Access-Control-Request-Method: PUT']);
  assert.equal(preflight.status, 403, preflight.body);
  assert.match(preflight.body, /<Code>AccessForbidden<\/Code>/);
  const bare = await curl([]);
  assert.equal(bare.status, 400, bare.body);
  assert.match(bare.body, /<Code>InvalidRequest<\/Code>/);
  for (const r of [preflight, bare]) assert.doesNotMatch(r.body, /SignatureDoesNotMatch/);
  // The URL itself still works for the PUT it was signed for.
  assert.equal((await fetch(target, { method: 'PUT', body: 'up' })).status, 200);
});
