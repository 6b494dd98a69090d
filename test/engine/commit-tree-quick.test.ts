// The quick path of a re-commit (docs/FORMAT.md §13.7) names a blob unread only when it has a valid location: its pack exists and the pack's table lists it (not merely an index entry).
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ComputePool } from '../../src/compute/pool.js';
import { commitTree } from '../../src/engine/commit-tree.js';
import { restoreTree } from '../../src/engine/restore-tree.js';
import { randomBytesSeeded, tempDir } from '../helpers/fixtures.js';

const pool = ComputePool.start(2);
after(() => pool.close());

test('re-commit after a pack was lost (its index entry left behind): the files it held are read and packed again, not named unread', async () => {
  const { dir: root, cleanup } = await tempDir('bf-quick-loc-');
  try {
    const tree = join(root, 'tree');
    await mkdir(tree);
    const files = new Map<string, Uint8Array>();
    for (let i = 0; i < 12; i++) {
      const b = randomBytesSeeded(6000 + i * 500, 900 + i);
      files.set(`f${String(i).padStart(2, '0')}`, b);
      await writeFile(join(tree, `f${String(i).padStart(2, '0')}`), b);
    }
    const store = join(root, 'store');
    // The first walk "began" a minute from now, so every ctime is older than its created_at minus 2 s: the quick
    // path is open to every file of the re-commit without sleeping.
    const first = await commitTree([tree], { archive: store, pool, packTarget: 24 * 1024, now: () => new Date(Date.now() + 60_000) });
    assert.ok(first.packsWritten >= 3, `several packs: ${first.packsWritten}`);
    // One pack (not the one holding the body) is lost: its directory is gone, the index still lists it.
    const index = (await Promise.all((await readdir(join(store, 'index'))).map((f) => readFile(join(store, 'index', f), 'utf8')))).join('\n');
    const packs = [...index.matchAll(/"pack":"([0-9a-f]{64})","blobs":(\[\[.*?\]\])\}/g)].map((m) => ({ id: m[1]!, blobs: JSON.parse(m[2]!) as [string, number, number][] }));
    const victim = packs.find((p) => !p.blobs.some((b) => b[0] === first.root.hash))!;
    await rm(join(store, 'packs', victim.id.slice(0, 2), `pack_${victim.id}`), { recursive: true });

    const again = await commitTree([tree], { archive: store, pool, packTarget: 24 * 1024 });
    assert.equal(again.parent, first.id);
    assert.equal(again.filesQuick, 12 - victim.blobs.length, 'the quick path takes only the files whose pack is there');
    assert.equal(again.filesHashed, victim.blobs.length, 'the files of the lost pack are read again');
    // The new snapshot restores whole.
    const out = join(root, 'out');
    const r = await restoreTree(`tree@${again.id}`, out, { archive: store, pool, durability: 'none' });
    assert.equal(r.snapshot.id, again.id);
    assert.deepEqual(r.failures, []);
    for (const [name, b] of files) assert.deepEqual(new Uint8Array(await readFile(join(out, name))), b, name);
  } finally {
    await cleanup();
  }
});
