// The tree a mount shows (engine/mount-tree.ts): archives as files, folder archives as their latest snapshot, every
// snapshot under .snapshots/, verified reads with read-ahead, damage healed, and unrecoverable reads failing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { commit } from '../../src/engine/commit.js';
import { commitTree } from '../../src/engine/commit-tree.js';
import { openServing, type Serving } from '../../src/engine/serving.js';
import { MountTree, SNAPSHOTS_DIR, showName, snapshotDirName } from '../../src/engine/mount-tree.js';
import { MountFile, PrefetchBudget, type FileSource } from '../../src/engine/mount-file.js';
import { isBlockFrameError } from '../../src/errors.js';
import { randomBytesSeeded, tempDir } from '../helpers/fixtures.js';

/** Byte equality with a short message (a diff of megabytes would not help). */
function sameBytes(actual: Uint8Array, expected: Uint8Array, what = 'bytes'): void {
  if (Buffer.from(actual.buffer, actual.byteOffset, actual.length).equals(expected)) return;
  let i = 0;
  while (i < Math.min(actual.length, expected.length) && actual[i] === expected[i]) i++;
  assert.fail(`${what}: ${actual.length} bytes read, ${expected.length} expected, first difference at ${i}`);
}

describe('mount tree', () => {
  let dir: string;
  let archive: string;
  let serving: Serving;
  let tree: MountTree;
  const big = randomBytesSeeded(3 * 1024 * 1024 + 17, 7);
  const small = randomBytesSeeded(40_000, 8);
  const edited = randomBytesSeeded(41_000, 9);
  const single = randomBytesSeeded(200_000, 10);

  before(async () => {
    dir = (await tempDir('mount-tree')).dir;
    archive = join(dir, 'archive');
    const src = join(dir, 'photos');
    await mkdir(join(src, 'a/b'), { recursive: true });
    await mkdir(join(src, 'empty'));
    await writeFile(join(src, 'a/b/big.bin'), big);
    await writeFile(join(src, 'a/small.bin'), small);
    await writeFile(Buffer.concat([Buffer.from(`${src}/`), Buffer.from([0x66, 0xff, 0x2e, 0x62])]), 'x');
    await writeFile(join(src, 'zero'), '');
    await symlink('a/small.bin', join(src, 'link'));
    await commitTree([src], { archive, name: 'photos' });
    await writeFile(join(src, 'a/small.bin'), edited);
    await commitTree([src], { archive, name: 'photos' });
    const one = join(dir, 'notes.txt');
    await writeFile(one, single);
    await commit(one, { archive });
    serving = openServing({ archive });
    tree = new MountTree(serving);
  });
  after(async () => {
    await tree.close();
    await serving.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('the top lists single-file archives as files, folder archives as directories, and .snapshots', async () => {
    const top = await tree.readdir('/');
    assert.deepEqual(top.map((e) => [e.name, e.node.kind]), [[SNAPSHOTS_DIR, 'dir'], ['notes.txt', 'file'], ['photos', 'dir']]);
    assert.equal((await tree.stat('/notes.txt')).size, single.length);
  });

  test('the latest snapshot is the folder, its files read back byte-exact, sequential and at random offsets', async () => {
    const names = (await tree.readdir('/photos')).map((e) => e.name);
    assert.deepEqual(names, ['a', 'empty', 'f%FF.b', 'link', 'zero']);
    assert.deepEqual((await tree.readdir('/photos/a')).map((e) => e.name), ['b', 'small.bin']);
    const f = await tree.open('/photos/a/small.bin');
    sameBytes(await f.read(0, 1 << 20), edited, 'the latest snapshot has the edited file');
    await f.close();
    const b = await tree.open('/photos/a/b/big.bin');
    const parts: Buffer[] = [];
    for (let off = 0; off < big.length; off += 128 * 1024) parts.push(await b.read(off, 128 * 1024));
    sameBytes(Buffer.concat(parts), big, 'sequential');
    sameBytes(await b.read(1_000_000, 5000), big.subarray(1_000_000, 1_005_000), 'seek');
    assert.equal((await b.read(big.length, 10)).length, 0);
    await b.close();
    assert.deepEqual(await tree.readlink('/photos/link'), Buffer.from('a/small.bin'));
    assert.equal((await tree.stat('/photos/zero')).size, 0);
    const z = await tree.open('/photos/zero');
    assert.equal((await z.read(0, 10)).length, 0);
  });

  test('every snapshot is a directory under .snapshots/NAME, oldest first, with its own content', async () => {
    const snaps = await tree.readdir(`/${SNAPSHOTS_DIR}/photos`);
    assert.equal(snaps.length, 2);
    const f = await tree.open(`/${SNAPSHOTS_DIR}/photos/${snaps[0]!.name}/a/small.bin`);
    sameBytes(await f.read(0, 1 << 20), small, 'the first snapshot keeps the old content');
    await f.close();
  });

  test('a single-file archive reads byte-exact', async () => {
    const f = await tree.open('/notes.txt');
    sameBytes(Buffer.concat([await f.read(0, 100_000), await f.read(100_000, 200_000)]), single, 'archive');
    await f.close();
  });

  test('unknown paths and wrong kinds are coded errors', async () => {
    for (const p of ['/nope', '/photos/nope', '/photos/a/small.bin/x', `/${SNAPSHOTS_DIR}/nope`]) {
      await assert.rejects(tree.stat(p), (e) => isBlockFrameError(e, 'BF_FILE_NOT_FOUND') || isBlockFrameError(e, 'BF_OUTPUT_INVALID'), p);
    }
    await assert.rejects(tree.open('/photos/a'), (e) => isBlockFrameError(e, 'BF_OUTPUT_INVALID'));
  });

  test('damage beyond repair fails the read with a code, never with bytes', async () => {
    const t = new MountTree(serving);
    try {
      const f = await t.open('/photos/a/b/big.bin');
      // Every pack's shards removed after the open: no location of the file can be read.
      const packs = join(archive, 'packs');
      for (const fan of await readdir(packs)) for (const p of await readdir(join(packs, fan))) await rm(join(packs, fan, p, 'blocks'), { recursive: true, force: true });
      await assert.rejects(f.read(2_000_000, 100), (e) => isBlockFrameError(e, 'BF_BLOB_MISSING') || isBlockFrameError(e, 'BF_UNRECOVERABLE'));
      await f.close();
    } finally {
      await t.close();
    }
  });
});

describe('mount file read-ahead', () => {
  test('sequential reads come from windows read ahead; a seek reads only its range', async () => {
    const data = randomBytesSeeded(20 * 1024 * 1024, 3);
    const reads: [number, number][] = [];
    const src: FileSource = { read: async (s, e) => (reads.push([s, e]), Buffer.from(data.subarray(s, e))), close: async () => {} };
    const budget = new PrefetchBudget(32 * 1024 * 1024);
    const f = new MountFile(src, data.length, budget);
    const got: Buffer[] = [];
    for (let off = 0; off < data.length; off += 128 * 1024) got.push(await f.read(off, 128 * 1024));
    sameBytes(Buffer.concat(got), data);
    assert.ok(reads.length < 20, `sequential 128 KiB reads become a few large windows (${reads.length} reads)`);
    reads.length = 0;
    sameBytes(await f.read(5_000_000, 4096), data.subarray(5_000_000, 5_004_096));
    assert.deepEqual(reads, [[5_000_000, 5_004_096]], 'a seek reads exactly its range');
    await f.close();
    assert.equal(budget.free, 32 * 1024 * 1024, 'closing returns the read-ahead budget');
  });

  test('a failing read-ahead window fails only the read that needs it', async () => {
    const data = randomBytesSeeded(4 * 1024 * 1024, 4);
    const src: FileSource = {
      read: async (s, e) => {
        if (e > 2 * 1024 * 1024) throw Object.assign(new Error('boom'), { code: 'BF_UNRECOVERABLE' });
        return Buffer.from(data.subarray(s, e));
      },
      close: async () => {},
    };
    const f = new MountFile(src, data.length, new PrefetchBudget());
    sameBytes(await f.read(0, 65536), data.subarray(0, 65536));
    await assert.rejects(async () => {
      for (let off = 65536; off < data.length; off += 65536) await f.read(off, 65536);
    }, /boom/);
    await f.close();
  });

  test('showName keeps UTF-8 and escapes other bytes reversibly', () => {
    assert.equal(showName(Buffer.from('é.jpg')), 'é.jpg');
    assert.equal(showName(Buffer.from([0x61, 0xff, 0x25])), 'a%FF%25');
    assert.equal(snapshotDirName({ createdAt: '2026-12-03T20:15:44.123Z', id: 'ab'.repeat(32) }), '2026-12-03T201544.123Z_abababababab');
    // Regression: names were cut to the second, so two commits in one second sorted by their (random) ids.
    const earlier = snapshotDirName({ createdAt: '2026-12-03T20:15:44.900Z', id: 'ff'.repeat(32) });
    const later = snapshotDirName({ createdAt: '2026-12-03T20:15:44.950Z', id: '00'.repeat(32) });
    assert.ok(earlier < later, `${earlier} sorts before ${later}`);
  });
});
