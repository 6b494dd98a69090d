// The S3 endpoint when things go wrong on the server's side: links planted in its staging, archives gone, full and read-only disks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, rm, statfs, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isBlockFrameError } from '../../src/errors.js';
import { tempDir } from '../helpers/fixtures.js';
import { archiveDirs, raw, startS3, type RawResponse } from './helpers.js';

const HEX40 = 'ab'.repeat(20);

/** A fresh tmpfs of `size` mounted under `dir` (root only); undefined when this machine cannot mount one. */
function mountTmpfs(dir: string, size: string): { mnt: string; umount(): void } | undefined {
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (m.status !== 0) return undefined;
  return { mnt: dir, umount: () => void spawnSync('umount', ['-l', dir]) };
}

/** Every path of this machine an error reply could leak: the temp roots of the test. */
function assertNoServerPath(res: RawResponse, ...paths: string[]): void {
  const text = `${JSON.stringify(res.headers)}\n${res.body}`;
  for (const p of paths) assert.ok(!text.includes(p), `the reply shows the server path ${p}:\n${res.body}`);
  assert.doesNotMatch(res.body, /\/(tmp|home|root|var|work)\//, `the reply shows an absolute path:\n${res.body}`);
}

test('a symlinked .s3-uploads is never followed: the server refuses to start and what it points at is untouched', async () => {
  const t = await tempDir('bf-s3-link-');
  try {
    const root = join(t.dir, 'archive');
    const outside = join(t.dir, 'precious');
    // Looks like a torn upload (unreadable upload.json) and an expired one: exactly what start-up cleans.
    await mkdir(join(outside, HEX40), { recursive: true });
    await writeFile(join(outside, HEX40, 'upload.json'), 'not json');
    await mkdir(join(outside, 'cd'.repeat(20)));
    await writeFile(join(outside, 'cd'.repeat(20), 'upload.json'), JSON.stringify({ id: 'cd'.repeat(20), bucket: 'b', key: 'k', owner: 'x', initiated: '2000-01-01T00:00:00.000Z' }));
    await mkdir(root, { recursive: true });
    await symlink(outside, join(root, '.s3-uploads'));
    const refused = await startS3({ root }).then(
      async (s) => (await s.close(), 'the server started'),
      (e: unknown) => e,
    );
    assert.ok(isBlockFrameError(refused, 'BF_STORE_NOT_A_FILE'), String(refused));
    assert.deepEqual((await readdir(outside)).sort(), [HEX40, 'cd'.repeat(20)]);
    assert.deepEqual(await readdir(join(outside, HEX40)), ['upload.json']);

    // A real .s3-uploads holding a link named like an upload: left alone, neither read nor cleaned through.
    await rm(join(root, '.s3-uploads'));
    await mkdir(join(root, '.s3-uploads'));
    await symlink(join(outside, HEX40), join(root, '.s3-uploads', HEX40));
    const s = await startS3({ root, uploadExpiryMs: 1000 });
    try {
      assert.deepEqual(await readdir(join(outside, HEX40)), ['upload.json']);
      assert.equal((await raw(s.endpoint, { method: 'PUT', path: '/linkbkt' })).status, 200);
      assert.equal((await raw(s.endpoint, { method: 'GET', path: '/linkbkt', query: { uploads: '' } })).body.includes('<Upload>'), false);
    } finally {
      await s.close();
    }
    assert.deepEqual(await readdir(join(outside, HEX40)), ['upload.json']);
  } finally {
    await t.cleanup();
  }
});

test('error bodies never show the store root: NoSuchKey for an archive gone missing, to anonymous and signed callers', async () => {
  const t = await startS3({ archiveFrom: 0 }); // an archive gone missing: an archive, so from 0 bytes
  try {
    assert.equal((await raw(t.endpoint, { method: 'PUT', path: '/pubbkt', headers: { 'x-amz-acl': 'public-read' } })).status, 200);
    assert.equal((await raw(t.endpoint, { method: 'PUT', path: '/pubbkt/doc.txt', body: 'hello' })).status, 200);
    for (const d of await archiveDirs(t.root, 'pubbkt_')) await rm(join(t.root, d), { recursive: true });
    for (const unsigned of [true, false]) {
      const res = await raw(t.endpoint, { method: 'GET', path: '/pubbkt/doc.txt', unsigned });
      assert.equal(res.status, 404);
      assert.equal(res.code, 'NoSuchKey');
      assertNoServerPath(res, t.root, t.work);
    }
  } finally {
    await t.close();
  }
});

test('DeleteObjects per-key errors on a read-only store carry their S3 code and no server path', async (tc) => {
  const d = await tempDir('bf-s3-ro-');
  const fs = mountTmpfs(d.dir, '64m');
  if (!fs) return tc.skip('cannot mount a tmpfs here (needs root)');
  const t = await startS3({ root: join(d.dir, 'archive') });
  try {
    assert.equal((await raw(t.endpoint, { method: 'PUT', path: '/robkt' })).status, 200);
    assert.equal((await raw(t.endpoint, { method: 'PUT', path: '/robkt/k1', body: 'one' })).status, 200);
    assert.equal(spawnSync('mount', ['-o', 'remount,ro', d.dir]).status, 0);
    try {
      const res = await raw(t.endpoint, { method: 'POST', path: '/robkt', query: { delete: '' }, body: '<Delete><Object><Key>k1</Key></Object></Delete>' });
      assert.equal(res.status, 200);
      // BF_STORE_DENIED is answered as InternalError (docs/errors.md), with the fixed message.
      assert.match(res.body, /<Error><Key>k1<\/Key><Code>InternalError<\/Code><Message>We encountered an internal error/);
      assertNoServerPath(res, t.root, d.dir);
    } finally {
      spawnSync('mount', ['-o', 'remount,rw', d.dir]);
    }
  } finally {
    await t.close();
    fs.umount();
    await d.cleanup();
  }
});

test('a full disk while recording a multipart part is 507 InsufficientStorage; the part is not half-recorded and can be sent again', async (tc) => {
  const d = await tempDir('bf-s3-full-');
  const fs = mountTmpfs(d.dir, '6m');
  if (!fs) return tc.skip('cannot mount a tmpfs here (needs root)');
  const t = await startS3({ root: join(d.dir, 'archive') });
  try {
    assert.equal((await raw(t.endpoint, { method: 'PUT', path: '/fullbkt' })).status, 200);
    const c = await raw(t.endpoint, { method: 'POST', path: '/fullbkt/big', query: { uploads: '' } });
    const uploadId = /<UploadId>(\w+)<\/UploadId>/.exec(c.body)![1]!;
    const part = (n: number, body: Buffer) => raw(t.endpoint, { method: 'PUT', path: '/fullbkt/big', query: { uploadId, partNumber: String(n) }, body });
    assert.equal((await part(1, Buffer.alloc(1024 * 1024, 1))).status, 200);
    // A body that fills every free block: its bytes fit, the part's record does not.
    const s = await statfs(d.dir);
    const res = await part(2, Buffer.alloc(Number(s.bavail) * Number(s.bsize), 2));
    assert.equal(res.status, 507, res.body);
    assert.equal(res.code, 'InsufficientStorage');
    assertNoServerPath(res, t.root, d.dir);
    const listed = await raw(t.endpoint, { method: 'GET', path: '/fullbkt/big', query: { uploadId } });
    assert.deepEqual([...listed.body.matchAll(/<PartNumber>(\d+)<\/PartNumber>/g)].map((m) => m[1]), ['1']);
    // The space went back: the part can be sent again (smaller) and the upload completes with it.
    const again = await part(2, Buffer.alloc(1000, 2));
    assert.equal(again.status, 200);
    const xml = `<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>${again.headers.etag}</ETag></Part></CompleteMultipartUpload>`;
    assert.equal((await raw(t.endpoint, { method: 'POST', path: '/fullbkt/big', query: { uploadId }, body: xml })).status, 200);
    const got = await raw(t.endpoint, { method: 'HEAD', path: '/fullbkt/big' });
    assert.equal(got.headers['content-length'], '1000');
  } finally {
    await t.close();
    fs.umount();
    await d.cleanup();
  }
});
