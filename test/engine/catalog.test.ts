// The catalog (archive/catalog.ts): a name lookup reads the manifests that name can match, not every archive's
// (it read all of them, so each `restore NAME`, `cat`, server request and commit paid O(N) manifest reads).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { ComputePool, commit, find, read } from '../../src/index.js';
import { isBlockFrameError } from '../../src/errors.js';
import { MemBackend } from '../../src/store/mem.js';
import { StoreSet } from '../../src/store/store-set.js';
import { FaultBackend } from '../../src/store/wrap.js';
import { tempDir } from '../helpers/fixtures.js';

const codeOf = async (p: Promise<unknown>) => p.then(() => 'ok', (e) => (isBlockFrameError(e) ? e.code : `uncoded ${String(e)}`));

test('resolving a name among 40 archives reads a handful of objects, not every manifest', async () => {
  const { dir: work, cleanup } = await tempDir('bf-catalog-');
  try {
    const store = new FaultBackend(new MemBackend());
    const set = new StoreSet([store], 0);
    // One pool for the 40 commits (a pool per commit spent most of this test starting workers).
    const pool = ComputePool.start(1);
    try {
      for (let i = 0; i < 40; i++) {
        const f = join(work, `photo-${String(i).padStart(3, '0')}.jpg`);
        await writeFile(f, `picture ${i}\n`);
        await commit(f, { storeSet: set, pool });
      }
    } finally {
      await pool.close();
    }
    const calls = () => store.calls.get + store.calls.stat;
    const before = calls();
    const s = await find('photo-017.jpg', { storeSet: set });
    assert.equal(s.name, 'photo-017.jpg');
    const used = calls() - before;
    // One manifest set (3 objects, each a stat and a get at most) and the summary's read: far below 40 archives' worth.
    assert.ok(used <= 16, `resolving one name took ${used} gets/stats over 40 archives`);
    if (process.env.BF_TEST_VERBOSE) console.log(`catalog: ${used} gets/stats to resolve one name among 40 archives`);
    assert.equal(new TextDecoder().decode(await read('photo-017.jpg', 0, 100, { storeSet: set })), 'picture 17\n');
    // A hash prefix, an unknown name, and a too-short prefix keep their answers.
    assert.equal((await find(s.originalHash!.slice(0, 10), { storeSet: set })).name, 'photo-017.jpg');
    assert.equal(await codeOf(find('photo-999.jpg', { storeSet: set })), 'BF_ARCHIVE_NOT_FOUND');
    assert.equal(await codeOf(find('abc', { storeSet: set })), 'BF_ARCHIVE_NOT_FOUND');
    assert.equal((await find(s.dir, { storeSet: set })).name, 'photo-017.jpg');
  } finally {
    await cleanup();
  }
});

test('two archives of one name are ambiguous; each is found by its directory', async () => {
  const { dir: work, cleanup } = await tempDir('bf-catalog-');
  try {
    const set = new StoreSet([new MemBackend()], 0);
    const f = join(work, 'notes.txt');
    await writeFile(f, 'first\n');
    const a = await commit(f, { storeSet: set });
    await writeFile(f, 'second\n');
    const b = await commit(f, { storeSet: set });
    assert.equal(await codeOf(find('notes.txt', { storeSet: set })), 'BF_AMBIGUOUS_NAME');
    assert.equal((await find(a.dir, { storeSet: set })).dir, a.dir);
    assert.equal((await find(b.dir, { storeSet: set })).dir, b.dir);
  } finally {
    await cleanup();
  }
});
