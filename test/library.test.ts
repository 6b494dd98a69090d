// The README's library example, run as written: commit, find, verify, repair, read, stream and restore.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BlockFrame } from '../src/index.js';
import { tempDir, writeRandomFile } from './helpers/fixtures.js';

test('README library example', async () => {
  const { dir, cleanup } = await tempDir();
  const bf = new BlockFrame({ archive: join(dir, 'archive_directory') });
  try {
    const src = join(dir, 'my_dataset.bin');
    const data = await writeRandomFile(src, 3 * 1024 * 1024 + 5, 99);
    const r = await bf.commit(src, { tier: 3, segmentSize: 64 * 1024 });
    assert.equal(r.segments, 49);
    const file = await bf.find('my_dataset.bin');
    assert.equal(file.originalHash, r.originalHash);
    // Lose a segment: verify says repairable, reads still return the right bytes, repair heals.
    await rm(join(file.path, 'blocks/block_1/segments/segment_40.dat'));
    const report = await bf.verify();
    assert.equal(report.status, 'repairable');
    const at = 40 * 64 * 1024 + 123;
    assert.deepEqual(new Uint8Array(await bf.read('my_dataset.bin', at, 100_000)), data.subarray(at, at + 100_000));
    if (report.status === 'repairable') await bf.repair();
    assert.equal((await bf.verify()).status, 'healthy');
    const chunks: Buffer[] = [];
    for await (const c of bf.createReadStream('my_dataset.bin', { start: 0, end: 999 })) chunks.push(c as Buffer);
    assert.deepEqual(new Uint8Array(Buffer.concat(chunks)), data.subarray(0, 1000));
    await bf.restore('my_dataset.bin', join(dir, 'copy.bin'));
    assert.deepEqual(new Uint8Array(await readFile(join(dir, 'copy.bin'))), data);
    assert.equal((await bf.verifySegment('my_dataset.bin', 40)).ok, true);
  } finally {
    await bf.close();
    await cleanup();
  }
});
