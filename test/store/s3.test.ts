// The S3 backend against a real S3 server (Ceph's radosgw on a one-node cluster, started here on 127.0.0.1):
// the shared backend suite, then an archive with one of its four stores on S3, whose gateway the tests kill in
// the middle of a commit, a read and a repair.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateBucketCommand, ListObjectsV2Command, DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { cephMissing, startCeph, type CephS3 } from '../helpers/ceph.js';
import { CLI, runCli, tempDir, writeRandomFile } from '../helpers/fixtures.js';
import { backendSuite } from './backend-suite.js';
import { openBackend, parseStoreSpec } from '../../src/store/config.js';
import { S3Backend } from '../../src/store/s3.js';

const missing = cephMissing();
// CI installs Ceph (.ci/run): there a missing server is a failure, not a skip.
const skip = missing && process.env.CI !== 'true' ? missing : false;

let ceph: CephS3 | undefined;
let starting: Promise<CephS3> | undefined;
async function server(): Promise<CephS3> {
  starting ??= startCeph().then((c) => {
    ceph = c;
    process.env.AWS_ACCESS_KEY_ID = c.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = c.secretAccessKey;
    process.env.AWS_REGION = 'us-east-1';
    return c;
  });
  return starting;
}
after(async () => {
  await ceph?.stop();
});

function client(c: CephS3): S3Client {
  return new S3Client({ endpoint: c.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey } });
}

let buckets = 0;
async function newBucket(c: CephS3): Promise<string> {
  const name = `bf-${process.pid}-${buckets++}`;
  await client(c).send(new CreateBucketCommand({ Bucket: name }));
  return name;
}

async function keys(c: CephS3, bucket: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  let token: string | undefined;
  do {
    const r = await client(c).send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of r.Contents ?? []) out.push(o.Key!);
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return out.sort();
}

describe('S3 backend on Ceph RGW', { skip }, () => {
  backendSuite(
    'S3 (Ceph RGW, path-style, with the standard wrappers)',
    async () => {
      const c = await server();
      const bucket = await newBucket(c);
      return { backend: openBackend(parseStoreSpec(`s3://${bucket}/suite?endpoint=${c.endpoint}`)), cleanup: async () => undefined };
    },
    { large: true, modelRuns: 6 },
  );

  test('addressing and errors: path-style by default with an endpoint, virtual-hosted on request; a missing bucket and bad keys are coded', async () => {
    const c = await server();
    assert.equal(parseStoreSpec(`s3://bkt/p?endpoint=${c.endpoint}`).kind === 's3' && (parseStoreSpec(`s3://bkt/p?endpoint=${c.endpoint}`) as { pathStyle?: boolean }).pathStyle, true);
    assert.equal((parseStoreSpec('s3://bucket/p?style=virtual') as { pathStyle?: boolean }).pathStyle, false);
    const nob = new S3Backend({ bucket: 'no-such-bucket-here', prefix: '', endpoint: c.endpoint, pathStyle: true });
    await assert.rejects(nob.get('x', new Uint8Array(1), 0), (e: { code?: string }) => e.code === 'BF_STORE_CONFIG' || e.code === 'BF_STORE_KEY_MISSING');
    const bad = new S3Backend({ bucket: await newBucket(c), prefix: '', endpoint: c.endpoint, pathStyle: true, credentials: { accessKeyId: c.accessKeyId, secretAccessKey: 'wrong' } });
    await assert.rejects(bad.stat('x'), (e: { code?: string }) => e.code === 'BF_STORE_DENIED');
    await nob.close();
    await bad.close();
  });
});

describe('an archive with one of its four stores on S3', { skip }, () => {
  let work: string;
  let cleanup: () => Promise<void>;
  let c: CephS3;
  let bucket: string;
  let s3: string;
  let stores: string[];
  let env: NodeJS.ProcessEnv;
  const storeArgs = () => stores.flatMap((s) => ['--store', s]);

  before(async () => {
    c = await server();
    ({ dir: work, cleanup } = await tempDir('bf-s3-archive-'));
    bucket = await newBucket(c);
    s3 = `s3://${bucket}/archive?endpoint=${c.endpoint}`;
    stores = [join(work, 'd1'), join(work, 'd2'), join(work, 'd3'), s3];
    env = { AWS_ACCESS_KEY_ID: c.accessKeyId, AWS_SECRET_ACCESS_KEY: c.secretAccessKey, AWS_REGION: 'us-east-1', BLOCKFRAME_STORE_TIMEOUT_MS: '3000' };
  });
  after(async () => {
    await c.startGateway().catch(() => undefined);
    await cleanup();
  });

  const cli = (args: string[]) => runCli([...args, ...storeArgs()], { cwd: work, env });

  test('commit, list and restore through S3; the bucket holds its share of the shards and the manifest set', async () => {
    const bytes = await writeRandomFile(join(work, 'a.bin'), 3 * 1024 * 1024 + 5, 11);
    const r = cli(['commit', '--tier', '3', '--segment-size', '32KiB', 'a.bin']);
    assert.equal(r.status, 0, r.stderr);
    const ks = await keys(c, bucket, 'archive/');
    assert.ok(ks.some((k) => k.endsWith('/manifest.json')) && ks.some((k) => k.endsWith('/chunks.idx')));
    assert.ok(ks.filter((k) => k.endsWith('.dat')).length > 20, 'a quarter of the shards is on S3');
    assert.equal(cli(['restore', 'a.bin', '-o', 'a.out']).status, 0);
    assert.deepEqual(new Uint8Array(await readFile(join(work, 'a.out'))), bytes);
    assert.equal(cli(['verify']).status, 0);
  });

  test('S3 down: reads stay byte-exact and bounded, verify names the store, repair refuses until it is back', async () => {
    const bytes = new Uint8Array(await readFile(join(work, 'a.bin')));
    await c.stopGateway();
    try {
      const start = Date.now();
      await rm(join(work, 'a.out2'), { force: true });
      const r = cli(['restore', 'a.bin', '-o', 'a.out2']);
      assert.equal(r.status, 0, r.stderr);
      assert.ok(Date.now() - start < 60_000, 'bounded');
      assert.deepEqual(new Uint8Array(await readFile(join(work, 'a.out2'))), bytes);
      const v = cli(['verify']);
      assert.equal(v.status, 3, v.stdout + v.stderr);
      assert.match(v.stdout, /store 4 \(s3:\/\/.*\): NOT ANSWERING/);
      const rep = cli(['repair']);
      assert.equal(rep.status, 1);
      assert.match(rep.stderr, /did not answer.*\[BF_STORE_UNAVAILABLE\]/);
    } finally {
      await c.startGateway();
    }
    assert.equal(cli(['verify']).status, 0);
  });

  test('gateway killed in the middle of a read: the restore finishes byte-exact from the other stores', async () => {
    const bytes = await writeRandomFile(join(work, 'b.bin'), 8 * 1024 * 1024, 12);
    assert.equal(cli(['commit', '--tier', '3', '--segment-size', '64KiB', 'b.bin']).status, 0);
    await rm(join(work, 'b.out'), { force: true });
    const child = spawn(process.execPath, [CLI, 'restore', 'b.bin', '-o', 'b.out', ...storeArgs()], { cwd: work, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const done = new Promise<number>((r) => child.once('exit', (code) => r(code ?? -1)));
    // Kill at an observed point: once the restore's partial output exists, bytes are flowing.
    for (let i = 0; i < 5000; i++) {
      if ((await readdir(work)).some((n) => n.startsWith('.b.out'))) break;
      await sleep(2);
    }
    await c.stopGateway();
    try {
      assert.equal(await done, 0, err);
      assert.deepEqual(new Uint8Array(await readFile(join(work, 'b.out'))), bytes);
    } finally {
      await c.startGateway();
    }
  });

  test('gateway killed in the middle of a commit: the commit fails clearly, nothing is visible, the next commit cleans up', async (t) => {
    const bytes = await writeRandomFile(join(work, 'c.bin'), 6 * 1024 * 1024, 13);
    const child = spawn(process.execPath, [CLI, 'commit', '--tier', '3', '--segment-size', '64KiB', 'c.bin', ...storeArgs()], { cwd: work, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const done = new Promise<number>((r) => child.once('exit', (code) => r(code ?? -1)));
    // Kill at an observed point: the publish step's pending marker has reached the bucket.
    let seen = false;
    for (let i = 0; i < 3000 && child.exitCode === null; i++) {
      if ((await keys(c, bucket, 'archive/c.bin_')).some((k) => k.endsWith('/.bf-pending'))) {
        seen = true;
        break;
      }
      await sleep(5);
    }
    assert.ok(seen, 'the commit reached its publish step');
    await c.stopGateway();
    let code: number;
    try {
      code = await done;
    } finally {
      await c.startGateway();
    }
    t.diagnostic(`commit exit ${code} after the kill`);
    if (code === 0) {
      // The last put beat the kill: then the archive is whole.
      assert.equal(cli(['verify', 'c.bin']).status, 0);
    } else {
      assert.equal(code, 1, err);
      assert.match(err, /\[BF_STORE_UNAVAILABLE\]/);
      const l = JSON.parse(cli(['list', '--json']).stdout);
      assert.ok(!l.archives.some((a: { name: string }) => a.name === 'c.bin'), 'no half-archive is listed');
      assert.deepEqual(l.damaged, []);
      for (const d of stores.slice(0, 3)) assert.ok(!(await readdir(d)).some((n) => n.startsWith('c.bin_')), `nothing left on ${d}`);
      const again = cli(['commit', '--tier', '3', '--segment-size', '64KiB', 'c.bin']);
      assert.equal(again.status, 0, again.stderr);
    }
    assert.equal(cli(['verify']).status, 0);
    assert.equal(cli(['cat', 'c.bin']).stdout.length > 0, true);
    await rm(join(work, 'c.out'), { force: true });
    assert.equal(cli(['restore', 'c.bin', '-o', 'c.out']).status, 0);
    assert.deepEqual(new Uint8Array(await readFile(join(work, 'c.out'))), bytes);
  });

  test('gateway killed in the middle of a repair: it fails clearly, the archive stays readable, a second repair finishes', async (t) => {
    const bytes = new Uint8Array(await readFile(join(work, 'b.bin')));
    const dir = (await keys(c, bucket, 'archive/b.bin_'))[0]!.split('/')[1]!;
    // The S3 store loses every shard of b.bin (a wiped bucket prefix).
    const lost = (await keys(c, bucket, `archive/${dir}/`)).filter((k) => k.endsWith('.dat'));
    for (const k of lost) await client(c).send(new DeleteObjectCommand({ Bucket: bucket, Key: k }));
    const child = spawn(process.execPath, [CLI, 'repair', 'b.bin', ...storeArgs()], { cwd: work, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const done = new Promise<number>((r) => child.once('exit', (code) => r(code ?? -1)));
    // Kill at an observed point: the first rebuilt shard is back in the bucket.
    for (let i = 0; i < 3000 && child.exitCode === null; i++) {
      if ((await keys(c, bucket, `archive/${dir}/`)).some((k) => k.endsWith('.dat'))) break;
      await sleep(5);
    }
    await c.stopGateway();
    let code: number;
    try {
      code = await done;
      t.diagnostic(`repair exit ${code} after the kill`);
      if (code !== 0) {
        assert.equal(code, 1, err);
        assert.match(err, /\[BF_STORE_UNAVAILABLE\]/);
      }
      await rm(join(work, 'b.out3'), { force: true });
      assert.equal(cli(['restore', 'b.bin', '-o', 'b.out3']).status, 0, 'readable while the gateway is down');
      assert.deepEqual(new Uint8Array(await readFile(join(work, 'b.out3'))), bytes);
    } finally {
      await c.startGateway();
    }
    const r = cli(['repair', 'b.bin']);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.equal(cli(['verify']).status, 0);
  });

  test('a lost bucket prefix is rebuilt onto a new one with repair --replace', async () => {
    for (const k of await keys(c, bucket, 'archive/')) await client(c).send(new DeleteObjectCommand({ Bucket: bucket, Key: k }));
    const v = cli(['verify']);
    assert.equal(v.status, 3);
    assert.match(v.stdout, /store 4 .*LOST/);
    const fresh = `s3://${bucket}/moved?endpoint=${c.endpoint}`;
    const r = runCli(['repair', '--replace', `${s3}=${fresh}`, ...storeArgs()], { cwd: work, env });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    stores[3] = fresh;
    assert.equal(cli(['verify']).status, 0);
    assert.ok((await keys(c, bucket, 'moved/')).length > 0);
  });
});
