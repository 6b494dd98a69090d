// `serve --s3-port` (the real CLI): the HTTP file server shows S3 buckets' archives only as the buckets' ACLs allow.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateBucketCommand, PutBucketAclCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CLI, runCli, tempDir } from '../helpers/fixtures.js';
import { ALICE } from './helpers.js';

const TOKEN = 'visibility-token-1234';
const SECRET = 'the private plan: do not leak';
const OPEN = 'public notice';

interface Serve {
  http: string;
  s3?: string;
  stop(): Promise<void>;
}

/** `blockframe serve` in a child process; resolves once it printed its URL(s). */
async function serve(root: string, withS3: boolean): Promise<Serve> {
  const args = [CLI, 'serve', '--archive', root, '--port', '0', ...(withS3 ? ['--s3-port', '0', '--s3-no-packs', '--s3-user', `${ALICE.accessKey}:${ALICE.secretKey}`] : [])];
  const proc: ChildProcess = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BLOCKFRAME_TOKEN: TOKEN, BLOCKFRAME_S3_USERS: '' } });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const urls = await new Promise<{ http: string; s3?: string }>((resolve, reject) => {
    proc.stdout!.on('data', (d) => {
      out += d;
      const h = /serving .* at (http:\/\/[^/]+)\//.exec(out);
      const s = /S3 API at (http:\/\/[^/]+)\//.exec(out);
      if (h && (s || !withS3)) resolve({ http: h[1]!, s3: s?.[1] });
    });
    proc.once('exit', (code) => reject(new Error(`serve exited ${code}: ${out}${err}`)));
  });
  return {
    ...urls,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}

const auth = { Authorization: `Bearer ${TOKEN}` };

async function names(http: string, headers: Record<string, string> = {}): Promise<{ names: string[]; text: string }> {
  const r = await fetch(`${http}/api/archives`, { headers });
  assert.equal(r.status, 200);
  const text = await r.text();
  return { names: (JSON.parse(text) as { archives: { name: string }[] }).archives.map((a) => a.name).sort(), text };
}

/** Every route that names an archive, anonymously: each must be 404 BF_ARCHIVE_NOT_FOUND for a hidden one. */
async function assertHidden(http: string, dir: string): Promise<void> {
  const q = [dir, dir.slice(-64, -56)].map(encodeURIComponent);
  for (const name of q) {
    for (const path of [`/files/${name}`, `/api/archives/${name}`, `/api/archives/${name}/health`, `/api/archives/${name}/shards/0/data/0`]) {
      const r = await fetch(`${http}${path}`);
      const body = await r.text();
      assert.equal(r.status, 404, `${path}: ${body}`);
      assert.equal(JSON.parse(body).error.code, 'BF_ARCHIVE_NOT_FOUND', path);
      assert.ok(!body.includes(SECRET), path);
    }
  }
}

describe('serve --s3-port: S3 bucket privacy on the HTTP file server', () => {
  let t: { dir: string; cleanup(): Promise<void> };
  let root: string;
  let srv: Serve;
  let client: S3Client;
  let secretDir: string;
  let openDir: string;

  before(async () => {
    t = await tempDir('bf-s3vis-');
    root = join(t.dir, 'archive');
    const input = join(t.dir, 'plain.txt');
    await writeFile(input, 'a file committed with the CLI');
    assert.equal(runCli(['commit', '--archive', root, input]).status, 0);
    srv = await serve(root, true);
    client = new S3Client({ endpoint: srv.s3, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: ALICE.accessKey, secretAccessKey: ALICE.secretKey }, maxAttempts: 1 });
    await client.send(new CreateBucketCommand({ Bucket: 'secret' }));
    await client.send(new PutObjectCommand({ Bucket: 'secret', Key: 'docs/plan.txt', Body: SECRET }));
    await client.send(new CreateBucketCommand({ Bucket: 'open', ACL: 'public-read' }));
    await client.send(new PutObjectCommand({ Bucket: 'open', Key: 'notice.txt', Body: OPEN }));
    const all = (await (await fetch(`${srv.http}/api/archives`, { headers: auth })).json()) as { archives: { name: string; dir: string }[] };
    secretDir = all.archives.find((a) => a.name === 'secret/docs/plan.txt')!.dir;
    openDir = all.archives.find((a) => a.name === 'open/notice.txt')!.dir;
  });
  after(async () => {
    client?.destroy();
    await srv?.stop();
    await t?.cleanup();
  });

  test("a private bucket's objects are neither listed nor served at /api/archives and /files without the token (the S3 port says 403)", async () => {
    assert.equal((await fetch(`${srv.s3}/secret/docs/plan.txt`)).status, 403);
    const anon = await names(srv.http);
    assert.deepEqual(anon.names, ['open/notice.txt', 'plain.txt']);
    assert.ok(!anon.text.includes('secret'), anon.text);
    await assertHidden(srv.http, secretDir);
    // A public-read bucket's objects and CLI archives stay visible.
    const r = await fetch(`${srv.http}/files/${encodeURIComponent(openDir)}`);
    assert.equal(r.status, 200);
    assert.equal(await r.text(), OPEN);
    assert.equal((await fetch(`${srv.http}/files/plain.txt`)).status, 200);
  });

  test('the bearer token sees every archive; a wrong token sees what anonymous clients see', async () => {
    assert.deepEqual((await names(srv.http, auth)).names, ['open/notice.txt', 'plain.txt', 'secret/docs/plan.txt']);
    const r = await fetch(`${srv.http}/files/${encodeURIComponent(secretDir)}`, { headers: auth });
    assert.equal(r.status, 200);
    assert.equal(await r.text(), SECRET);
    assert.deepEqual((await names(srv.http, { Authorization: 'Bearer wrong' })).names, ['open/notice.txt', 'plain.txt']);
  });

  test('an ACL change applies to the HTTP side at once', async () => {
    await client.send(new PutBucketAclCommand({ Bucket: 'secret', ACL: 'public-read' }));
    assert.equal(await (await fetch(`${srv.http}/files/${encodeURIComponent(secretDir)}`)).text(), SECRET);
    await client.send(new PutBucketAclCommand({ Bucket: 'open', ACL: 'private' }));
    await client.send(new PutBucketAclCommand({ Bucket: 'secret', ACL: 'private' }));
    await assertHidden(srv.http, secretDir);
    await assertHidden(srv.http, openDir);
    assert.deepEqual((await names(srv.http)).names, ['plain.txt']);
  });

  test('serve without --s3-port over the same archives hides every bucket archive (it does not follow ACLs)', async () => {
    await client.send(new PutBucketAclCommand({ Bucket: 'open', ACL: 'public-read' }));
    await srv.stop();
    const plain = await serve(root, false);
    try {
      assert.deepEqual((await names(plain.http)).names, ['plain.txt']);
      await assertHidden(plain.http, secretDir);
      await assertHidden(plain.http, openDir);
      assert.equal((await names(plain.http, auth)).names.length, 3);
    } finally {
      await plain.stop();
    }
  });
});
