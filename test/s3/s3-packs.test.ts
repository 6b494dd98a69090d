// S3 objects in packs (docs/FORMAT.md §13.9): staged blobs, flushes into packs, reads, crash safety, disk cost, healing and prune.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { prune } from '../../src/engine/prune.js';
import { tempDir } from '../helpers/fixtures.js';
import { ALICE, startCliS3, startS3 } from './helpers.js';

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');

async function filesUnder(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await filesUnder(join(dir, e.name), rel)));
    else out.push(rel);
  }
  return out;
}

async function bytesUnder(dir: string): Promise<number> {
  let n = 0;
  for (const f of await filesUnder(dir)) n += (await stat(join(dir, f))).size;
  return n;
}

async function body(c: S3Client, bucket: string, key: string, range?: string): Promise<Buffer> {
  return Buffer.from(await (await c.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: range }))).Body!.transformToByteArray());
}

test('small objects are staged blobs: PUT, GET (range), HEAD, Copy, List and DELETE byte-exact, before and after the flush into a pack', async () => {
  const t = await startS3({ staging: { flushAgeMs: 0 } });
  try {
    const c = t.client();
    await c.send(new CreateBucketCommand({ Bucket: 'pk1' }));
    const bodies = new Map<string, Buffer>();
    for (let i = 0; i < 20; i++) bodies.set(`dir/obj-${i}`, randomBytes(1000 + i * 997));
    bodies.set('empty', Buffer.alloc(0));
    await Promise.all([...bodies].map(([k, b]) => c.send(new PutObjectCommand({ Bucket: 'pk1', Key: k, Body: b, ContentType: 'application/x-test' }))));
    const rec = t.s3.context.catalog.get('pk1', 'dir/obj-3')!;
    assert.equal(rec.dir, undefined);
    assert.match(rec.blob!, /^[0-9a-f]{64}$/);
    const files = await filesUnder(t.root);
    assert.ok(files.some((f) => f.startsWith('.s3/staging/') && f.endsWith('.seg')), 'a staging segment before the flush');
    assert.ok(files.some((f) => f.startsWith('.s3/objects/pk1/')), 'version-3 records');
    assert.ok(!files.some((f) => f.startsWith('p_')), 'no archive per object');
    const check = async () => {
      for (const [k, b] of bodies) assert.equal(md5(await body(c, 'pk1', k)), md5(b), k);
      assert.deepEqual(await body(c, 'pk1', 'dir/obj-5', 'bytes=100-299'), bodies.get('dir/obj-5')!.subarray(100, 300));
      assert.deepEqual(await body(c, 'pk1', 'dir/obj-5', 'bytes=-10'), bodies.get('dir/obj-5')!.subarray(-10));
      const head = await c.send(new HeadObjectCommand({ Bucket: 'pk1', Key: 'dir/obj-7' }));
      assert.equal(head.ContentLength, bodies.get('dir/obj-7')!.length);
      assert.equal(head.ETag, `"${md5(bodies.get('dir/obj-7')!)}"`);
      assert.equal(head.ContentType, 'application/x-test');
      const listed = (await c.send(new ListObjectsV2Command({ Bucket: 'pk1', Prefix: 'dir/' }))).Contents!;
      assert.equal(listed.length, 20);
      assert.equal(listed.find((o) => o.Key === 'dir/obj-9')!.Size, bodies.get('dir/obj-9')!.length);
    };
    await check();
    await c.send(new CopyObjectCommand({ Bucket: 'pk1', Key: 'copy-staged', CopySource: 'pk1/dir/obj-1' }));
    bodies.set('copy-staged', bodies.get('dir/obj-1')!);
    const r = await t.s3.context.staging.flush();
    assert.ok(r && r.packs.length >= 1 && r.flushed.length >= 1);
    const after = await filesUnder(t.root);
    assert.ok(!after.some((f) => f.startsWith('.s3/staging/') && f.endsWith('.seg')), 'segments deleted after the flush');
    assert.ok(after.some((f) => f.startsWith('packs/')) && after.some((f) => f.startsWith('index/')));
    await check();
    await c.send(new CopyObjectCommand({ Bucket: 'pk1', Key: 'copy-packed', CopySource: 'pk1/dir/obj-2' }));
    bodies.set('copy-packed', bodies.get('dir/obj-2')!);
    assert.equal(md5(await body(c, 'pk1', 'copy-packed')), md5(bodies.get('dir/obj-2')!));
    await c.send(new DeleteObjectCommand({ Bucket: 'pk1', Key: 'dir/obj-0' }));
    await assert.rejects(c.send(new HeadObjectCommand({ Bucket: 'pk1', Key: 'dir/obj-0' })), (e: { name?: string }) => e.name === 'NotFound');
    assert.ok(!(await filesUnder(t.root)).some((f) => f.startsWith('.s3/objects/pk1/') && f.includes(createHash('sha256').update('dir/obj-0').digest('hex'))));
  } finally {
    await t.close();
  }
});

test('kill -9 right after PUTs got their 200 (segments written, never flushed) loses nothing: the next start flushes them', async () => {
  const d = await tempDir('bf-s3-kill-');
  const root = join(d.dir, 'archive');
  const after: (() => Promise<void>)[] = [];
  try {
    let srv = await startCliS3(root);
    const first = srv;
    after.push(async () => {
      if (first.proc.exitCode === null && first.proc.signalCode === null) await first.stop();
    });
    const mk = (endpoint: string) => new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: ALICE.accessKey, secretAccessKey: ALICE.secretKey }, maxAttempts: 1 });
    let c = mk(srv.endpoint);
    await c.send(new CreateBucketCommand({ Bucket: 'kil' }));
    const bodies = Array.from({ length: 40 }, (_, i) => randomBytes(500 + i * 301));
    await Promise.all(bodies.map((b, i) => c.send(new PutObjectCommand({ Bucket: 'kil', Key: `o${i}`, Body: b }))));
    srv.proc.kill('SIGKILL');
    await new Promise((r) => srv.proc.once('exit', r));
    c.destroy();
    assert.ok((await filesUnder(join(root, '.s3/staging'))).length >= 1, 'the kill left staging segments');
    srv = await startCliS3(root);
    const second = srv;
    after.push(async () => {
      if (second.proc.exitCode === null && second.proc.signalCode === null) await second.stop();
    });
    c = mk(srv.endpoint);
    try {
      assert.equal((await filesUnder(join(root, '.s3/staging'))).length, 0, 'the start flushed every segment');
      for (let i = 0; i < bodies.length; i++) assert.equal(md5(await body(c, 'kil', `o${i}`)), md5(bodies[i]!), `o${i}`);
    } finally {
      c.destroy();
      await srv.stop();
    }
  } finally {
    for (const stop of after) await stop();
    await d.cleanup();
  }
});

test('a few hundred small objects cost at most 1.2x their bytes on one store after the flush', async (ctx) => {
  const t = await startS3({ staging: { flushAgeMs: 0 } });
  try {
    const c = t.client();
    await c.send(new CreateBucketCommand({ Bucket: 'cost' }));
    let total = 0;
    const n = 300;
    for (let i = 0; i < n; i += 20) {
      await Promise.all(
        Array.from({ length: 20 }, (_, j) => {
          const b = randomBytes(20_000 + ((i + j) * 7919) % 40_000);
          total += b.length;
          return c.send(new PutObjectCommand({ Bucket: 'cost', Key: `f/${i + j}`, Body: b }));
        }),
      );
    }
    await t.s3.context.staging.flush();
    const onDisk = await bytesUnder(t.root);
    const ratio = onDisk / total;
    ctx.diagnostic(`${n} objects, ${total} bytes: ${onDisk} bytes on disk (${ratio.toFixed(3)}x)`);
    assert.ok(ratio <= 1.2, `bytes on disk ${onDisk} for ${total} bytes of objects: ${ratio.toFixed(3)}`);
  } finally {
    await t.close();
  }
});

test('a pack with one shard file deleted is healed on read: every object reads byte-exact', async () => {
  const t = await startS3({ staging: { flushAgeMs: 0 } });
  try {
    const c = t.client();
    await c.send(new CreateBucketCommand({ Bucket: 'hea' }));
    const bodies = Array.from({ length: 30 }, (_, i) => randomBytes(3000 + i * 1111));
    await Promise.all(bodies.map((b, i) => c.send(new PutObjectCommand({ Bucket: 'hea', Key: `o${i}`, Body: b }))));
    await t.s3.context.staging.flush();
    const shards = (await filesUnder(join(t.root, 'packs'))).filter((f) => /segments\/segment_\d+\.dat$/.test(f));
    assert.ok(shards.length > 0);
    await rm(join(t.root, 'packs', shards[0]!));
    for (let i = 0; i < bodies.length; i++) assert.equal(md5(await body(c, 'hea', `o${i}`)), md5(bodies[i]!), `o${i}`);
  } finally {
    await t.close();
  }
});

test('prune after DeleteObject reclaims the bytes; a prune running while a PUT stages the same bytes never loses them', async () => {
  const t = await startS3({ staging: { flushAgeMs: 0 } });
  try {
    const c = t.client();
    await c.send(new CreateBucketCommand({ Bucket: 'gcx' }));
    const bodies = Array.from({ length: 10 }, (_, i) => randomBytes(50_000 + i));
    await Promise.all(bodies.map((b, i) => c.send(new PutObjectCommand({ Bucket: 'gcx', Key: `o${i}`, Body: b }))));
    await t.s3.context.staging.flush();
    const before = await bytesUnder(join(t.root, 'packs'));
    // Every object deleted but o9; o0's bytes come back under a new key while prune runs (after its live set).
    for (let i = 0; i < 9; i++) await c.send(new DeleteObjectCommand({ Bucket: 'gcx', Key: `o${i}` }));
    const report = await prune({
      archive: t.root,
      onStep: async (s) => {
        if (s !== 'live') return;
        await c.send(new PutObjectCommand({ Bucket: 'gcx', Key: 'again', Body: bodies[0]! }));
        // The flush waits for the prune (its shared lock is refused): the body stays in its segment.
        assert.equal(await t.s3.context.staging.flush(), null);
      },
    });
    assert.ok(report.bytesReclaimed > 0 || report.packs.deleted + report.packs.repacked > 0, JSON.stringify(report));
    assert.ok((await bytesUnder(join(t.root, 'packs'))) < before / 2, 'the deleted objects\' bytes are reclaimed');
    assert.equal(md5(await body(c, 'gcx', 'o9')), md5(bodies[9]!));
    assert.equal(md5(await body(c, 'gcx', 'again')), md5(bodies[0]!));
    await t.s3.context.staging.flush();
    assert.equal(md5(await body(c, 'gcx', 'again')), md5(bodies[0]!));
    assert.equal(md5(await body(c, 'gcx', 'o9')), md5(bodies[9]!));
    // A second prune (nothing staged now) keeps both.
    await prune({ archive: t.root });
    assert.equal(md5(await body(c, 'gcx', 'again')), md5(bodies[0]!));
    assert.equal(md5(await body(c, 'gcx', 'o9')), md5(bodies[9]!));
  } finally {
    await t.close();
  }
});

test('a crash in a flush after its packs and index file, before the segments are deleted, leaves duplicates the next start drops', async () => {
  const d = await tempDir('bf-s3-flushcrash-');
  const root = join(d.dir, 'archive');
  try {
    let t = await startS3({ root, staging: { flushAgeMs: 0 } });
    const bodies = Array.from({ length: 12 }, (_, i) => randomBytes(2000 + i * 77));
    try {
      const c = t.client();
      await c.send(new CreateBucketCommand({ Bucket: 'fcr' }));
      await Promise.all(bodies.map((b, i) => c.send(new PutObjectCommand({ Bucket: 'fcr', Key: `o${i}`, Body: b }))));
      // The segments as they were before the flush: put back after it, they are what a kill before step "delete" leaves.
      const segs = (await filesUnder(join(root, '.s3/staging'))).filter((f) => f.endsWith('.seg'));
      const saved = await Promise.all(segs.map((f) => readFile(join(root, '.s3/staging', f))));
      const r = await t.s3.context.staging.flush();
      assert.ok(r && r.blobsWritten === bodies.length);
      await mkdir(join(root, '.s3/staging'), { recursive: true });
      await Promise.all(segs.map((f, i) => writeFile(join(root, '.s3/staging', f), saved[i]!)));
    } finally {
      await t.close();
    }
    const packsBefore = (await filesUnder(join(root, 'packs'))).length;
    t = await startS3({ root, staging: { flushAgeMs: 0 } });
    try {
      assert.equal((await filesUnder(join(root, '.s3/staging'))).filter((f) => f.endsWith('.seg')).length, 0, 'the start flushed the leftover segments');
      assert.equal((await filesUnder(join(root, 'packs'))).length, packsBefore, 'no blob packed twice');
      const c = t.client();
      for (let i = 0; i < bodies.length; i++) assert.equal(md5(await body(c, 'fcr', `o${i}`)), md5(bodies[i]!), `o${i}`);
    } finally {
      await t.close();
    }
  } finally {
    await d.cleanup();
  }
});

test('--s3-rebuild-index keeps the version-3 records of packed objects (it drops only keys whose archive is gone)', async () => {
  const d = await tempDir('bf-s3-rebuild3-');
  const root = join(d.dir, 'archive');
  try {
    let t = await startS3({ root, staging: { flushAgeMs: 0 } });
    const small = randomBytes(4321);
    try {
      const c = t.client();
      await c.send(new CreateBucketCommand({ Bucket: 'reb' }));
      await c.send(new PutObjectCommand({ Bucket: 'reb', Key: 'packed', Body: small }));
      await t.s3.context.staging.flush();
      await c.send(new PutObjectCommand({ Bucket: 'reb', Key: 'staged', Body: small.subarray(1) }));
    } finally {
      await t.close();
    }
    const { rebuildCatalog } = await import('../../src/s3/rebuild.js');
    t = await startS3({ root, staging: { flushAgeMs: 0 } });
    try {
      const report = await rebuildCatalog(t.s3.context, ALICE.accessKey);
      assert.equal(report.keysDropped, 0);
      const c = t.client();
      assert.equal(md5(await body(c, 'reb', 'packed')), md5(small));
      assert.equal(md5(await body(c, 'reb', 'staged')), md5(small.subarray(1)));
    } finally {
      await t.close();
    }
  } finally {
    await d.cleanup();
  }
});

test('flushes merge the index files into one beyond the limit (one file per flush would grow without bound)', async () => {
  const t = await startS3({ staging: { flushAgeMs: 0, indexMergeAt: 3 } });
  try {
    const c = t.client();
    await c.send(new CreateBucketCommand({ Bucket: 'mrg' }));
    const bodies: Buffer[] = [];
    const counts: number[] = [];
    for (let f = 0; f < 6; f++) {
      const b = randomBytes(1500 + f);
      bodies.push(b);
      await c.send(new PutObjectCommand({ Bucket: 'mrg', Key: `o${f}`, Body: b }));
      await t.s3.context.staging.flush();
      counts.push((await filesUnder(join(t.root, 'index'))).length);
    }
    assert.ok(Math.max(...counts) <= 4, `index files after each flush: ${counts.join(', ')}`);
    assert.ok(counts.includes(1), `a merge leaves one file: ${counts.join(', ')}`);
    for (let f = 0; f < bodies.length; f++) assert.equal(md5(await body(c, 'mrg', `o${f}`)), md5(bodies[f]!));
    // A fresh server (a fresh index load) reads them all too.
    const { loadBlobIndex } = await import('../../src/archive/blob-index.js');
    const { index, damaged } = await loadBlobIndex(t.s3.context.repo);
    assert.equal(damaged.length, 0);
    assert.equal(index.blobEntries, 6);
    assert.equal(index.packCount, 6);
  } finally {
    await t.close();
  }
});

test('a flush leaves alone a segment whose record is not written yet (so no prune can drop a blob a PUT is about to name)', async () => {
  const t = await startS3({ staging: { flushAgeMs: 0 } });
  const d = await tempDir('bf-s3-pending-');
  try {
    const staging = t.s3.context.staging;
    const file = join(d.dir, 'body');
    await writeFile(file, randomBytes(7777));
    const { fileSource } = await import('../../src/io/input.js');
    const held = await staging.stage(fileSource(file), 7777);
    assert.equal(staging.segmentCount, 1);
    assert.equal(await staging.flush(), null, 'nothing is ready while the record is pending');
    assert.equal(staging.segmentCount, 1);
    held.release();
    const r = await staging.flush();
    assert.equal(r?.flushed.length, 1);
    assert.equal(staging.segmentCount, 0);
  } finally {
    await d.cleanup();
    await t.close();
  }
});
