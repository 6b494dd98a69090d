// The parts input (io/input-parts.ts), commitInput and staged part records: multipart parts commit straight from staging, byte-exact.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { commit, commitInput, partsSource, restore } from '../../src/index.js';
import { isBlockFrameError } from '../../src/errors.js';
import { randomBytesSeeded, tempDir } from '../helpers/fixtures.js';
import { CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, ListPartsCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { ALICE, startS3 } from './helpers.js';

/** Parts of uneven sizes (one empty) and their concatenation. */
async function parts(dir: string): Promise<{ files: string[]; whole: Buffer }> {
  const sizes = [300_001, 0, 77, 1_048_576 + 13, 5];
  const files: string[] = [];
  const bufs: Buffer[] = [];
  for (const [i, n] of sizes.entries()) {
    const b = Buffer.from(randomBytesSeeded(n, 100 + i));
    const f = join(dir, `part-${i + 1}`);
    await writeFile(f, b);
    files.push(f);
    bufs.push(b);
  }
  return { files, whole: Buffer.concat(bufs) };
}

test('partsSource reads across file boundaries, short at the end, and stats as the sum', async () => {
  const t = await tempDir();
  try {
    const { files, whole } = await parts(t.dir);
    const src = partsSource(files);
    assert.equal((await src.stat()).size, whole.length);
    const input = await src.open();
    try {
      for (const [pos, len] of [[0, 10], [299_990, 100], [300_000, 90], [300_070, 2_000_000], [whole.length - 3, 10], [whole.length, 1]] as const) {
        const buf = new Uint8Array(len);
        const n = await input.readAt(buf, len, pos);
        const want = whole.subarray(pos, pos + len);
        assert.equal(n, want.length, `read at ${pos}`);
        assert.deepEqual(Buffer.from(buf.subarray(0, n)), want);
      }
      // Many files open and read at once: handles are shared and capped, reads stay right.
      const reads = Array.from({ length: 32 }, (_, i) => (i * 40_503) % whole.length).map(async (pos) => {
        const buf = new Uint8Array(70_000);
        const n = await input.readAt(buf, 70_000, pos);
        assert.deepEqual(Buffer.from(buf.subarray(0, n)), whole.subarray(pos, pos + 70_000));
      });
      await Promise.all(reads);
    } finally {
      await input.close();
    }
  } finally {
    await t.cleanup();
  }
});

test('commitInput from parts gives the same archive as commit of the concatenated file', async () => {
  const t = await tempDir();
  try {
    const { files, whole } = await parts(t.dir);
    const archive = join(t.dir, 'archive');
    const a = await commitInput(partsSource(files), { archive, name: 'obj', tier: 2, segmentSize: 64 * 1024 });
    assert.equal(a.status, 'archived');
    assert.equal(a.size, whole.length);
    await writeFile(join(t.dir, 'whole'), whole);
    const b = await commit(join(t.dir, 'whole'), { archive, name: 'obj', tier: 2, segmentSize: 64 * 1024 });
    assert.equal(b.status, 'already-archived', 'same name and content: the same archive');
    assert.equal(b.dir, a.dir);
    await restore('obj', join(t.dir, 'out'), { archive });
    assert.deepEqual(await readFile(join(t.dir, 'out')), whole);
  } finally {
    await t.cleanup();
  }
});

test('a part that changes during the commit fails it with BF_FILE_CHANGED and publishes nothing', async () => {
  const t = await tempDir();
  try {
    const { files } = await parts(t.dir);
    const archive = join(t.dir, 'archive');
    await assert.rejects(
      commitInput(partsSource(files), {
        archive,
        name: 'obj',
        onProgress: () => void appendFile(files[2]!, 'x').then(() => utimes(files[2]!, new Date(), new Date(Date.now() + 5000))),
      }),
      (err) => isBlockFrameError(err) && err.code === 'BF_FILE_CHANGED',
    );
    assert.deepEqual((await readdir(archive)).filter((d) => d.startsWith('obj_')), []);
  } finally {
    await t.cleanup();
  }
});

test('a part record torn by a crash counts as not uploaded: ListParts skips it, Complete says InvalidPart, a re-upload heals it', async () => {
  const s = await startS3();
  try {
    const c = s.client(ALICE);
    await c.send(new CreateBucketCommand({ Bucket: 'torn' }));
    const { UploadId } = await c.send(new CreateMultipartUploadCommand({ Bucket: 'torn', Key: 'k' }));
    const bodies = [Buffer.alloc(5 * 1024 * 1024, 1), Buffer.from('tail')];
    const etags: string[] = [];
    for (const [i, b] of bodies.entries()) etags.push((await c.send(new UploadPartCommand({ Bucket: 'torn', Key: 'k', UploadId, PartNumber: i + 1, Body: b }))).ETag!);
    // What a crash between writing and syncing the record could leave.
    await writeFile(join(s.s3.context.uploads.dir, UploadId!, 'part-2.json'), '{"number":2,"si');
    const listed = await c.send(new ListPartsCommand({ Bucket: 'torn', Key: 'k', UploadId }));
    assert.deepEqual(listed.Parts?.map((p) => p.PartNumber), [1]);
    const complete = () => c.send(new CompleteMultipartUploadCommand({ Bucket: 'torn', Key: 'k', UploadId, MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) } }));
    await assert.rejects(complete(), (e: Error) => e.name === 'InvalidPart');
    await c.send(new UploadPartCommand({ Bucket: 'torn', Key: 'k', UploadId, PartNumber: 2, Body: bodies[1] }));
    await complete();
    const got = await c.send(new GetObjectCommand({ Bucket: 'torn', Key: 'k' }));
    assert.deepEqual(Buffer.from(await got.Body!.transformToByteArray()), Buffer.concat(bodies));
  } finally {
    await s.close();
  }
});
