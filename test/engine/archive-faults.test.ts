// Regression tests for issue 18's archive items: long file names (13), an empty file's lost shards (14) and
// manifest fault combinations (15). Real files, the real CLI in child processes, the library where exact state matters.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, tempDir, writeRandomFile } from '../helpers/fixtures.js';

describe('issue 18.13: names up to the file-system limit archive', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir: root, cleanup } = await tempDir('bf-longname-')));
  after(() => cleanup());

  // 255 bytes is the component limit of ext4, XFS, btrfs and tmpfs: ASCII, and 2-, 3- and 4-byte UTF-8.
  const names = ['a'.repeat(186), 'n'.repeat(251) + '.bin', '日本'.repeat(42) + 'xyz', '😀'.repeat(63) + 'abc'];

  for (const [i, name] of names.entries()) {
    test(`a ${Buffer.byteLength(name)}-byte name (${[...name][0]}…) commits, re-commits, verifies, repairs and restores; the manifest keeps it exactly`, async () => {
      const archive = join(root, `arc${i}`);
      const src = join(root, `src${i}`);
      await mkdir(src);
      const data = await writeRandomFile(join(src, name), 5000 + i, 180 + i);
      const c = runCli(['commit', join(src, name), '--archive', archive, '--json']);
      assert.equal(c.status, 0, c.stderr);
      const doc = JSON.parse(c.stdout);
      assert.equal(doc.results[0].name, name);
      const again = runCli(['commit', join(src, name), '--archive', archive, '--json']);
      assert.equal(again.status, 0, again.stderr);
      assert.equal(JSON.parse(again.stdout).results[0].status, 'already-archived');
      const [dir] = await readdir(archive).then((d) => d.filter((x) => !x.startsWith('.')));
      assert.ok(Buffer.byteLength(dir!) <= 255);
      const m = JSON.parse(await readFile(join(archive, dir!, 'manifest.json'), 'utf8'));
      assert.equal(m.name, name, 'the stored name is exact');
      assert.equal(runCli(['verify', name, '--archive', archive]).status, 0);
      const rep = runCli(['repair', name, '--archive', archive]);
      assert.equal(rep.status, 0, rep.stderr);
      // Restore to a directory (the name made safe) and to an explicit output of the full name (its temp file too).
      const out = join(root, `out${i}`);
      await mkdir(out);
      const r1 = runCli(['restore', name, '--archive', archive, '-o', `${out}/`]);
      assert.equal(r1.status, 0, r1.stderr);
      const full = join(out, 'full');
      await mkdir(full);
      const r2 = runCli(['restore', name, '--archive', archive, '-o', join(full, name)]);
      assert.equal(r2.status, 0, r2.stderr);
      assert.deepEqual(new Uint8Array(await readFile(join(full, name))), data);
      assert.deepEqual(await readdir(full), [name], 'no temp file left');
    });
  }
});


