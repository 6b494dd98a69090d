// Regression tests for issue 18's archive items: long file names (13), an empty file's lost shards (14) and
// manifest fault combinations (15). Real files, the real CLI in child processes, the library where exact state matters.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
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



describe('issue 18.14: an empty file whose shards were all deleted', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir: root, cleanup } = await tempDir('bf-empty-')));
  after(() => cleanup());

  for (const tier of ['1', '2', '3']) {
    test(`tier ${tier}: verify and repair agree with cat and restore (repairable, then rebuilt from the manifest), with and without chunks.idx`, async () => {
      const archive = join(root, `t${tier}`);
      const src = join(root, `empty${tier}.bin`);
      await writeFile(src, new Uint8Array(0));
      assert.equal(runCli(['commit', src, '--archive', archive, '--tier', tier]).status, 0);
      const [dir] = (await readdir(archive)).filter((d) => !d.startsWith('.'));
      const adir = join(archive, dir!);
      const m = JSON.parse(await readFile(join(adir, 'manifest.json'), 'utf8'));
      const shards: string[] = m.stripes.flatMap((s: { data: { path: string }[]; parity: { path: string }[] }) => [...s.data, ...s.parity].map((x) => x.path));
      assert.equal(shards.length, 4);
      for (const p of shards) await rm(join(adir, p));
      if (tier === '3') await rm(join(adir, 'chunks.idx'));
      // cat and restore read nothing, so they succeed ...
      const cat = runCli(['cat', `empty${tier}.bin`, '--archive', archive]);
      assert.equal(cat.status, 0, cat.stderr);
      assert.equal(cat.stdout, '');
      // ... and verify agrees that nothing is lost: every shard is repairable (exit 3), none unrecoverable (exit 4).
      const v = runCli(['verify', `empty${tier}.bin`, '--archive', archive, '--json']);
      assert.equal(v.status, 3, v.stdout + v.stderr);
      const doc = JSON.parse(v.stdout);
      assert.equal(doc.archives[0].status, 'repairable');
      assert.ok(doc.archives[0].problems.every((p: { repairable: boolean }) => p.repairable));
      const dry = runCli(['repair', `empty${tier}.bin`, '--archive', archive, '--dry-run']);
      assert.equal(dry.status, 3, dry.stdout + dry.stderr);
      assert.match(dry.stdout, /from the manifest: an empty shard/);
      const rep = runCli(['repair', `empty${tier}.bin`, '--archive', archive]);
      assert.equal(rep.status, 0, rep.stdout + rep.stderr);
      for (const p of shards) assert.equal((await stat(join(adir, p))).size, 0, p);
      assert.equal(runCli(['verify', `empty${tier}.bin`, '--archive', archive]).status, 0);
      const out = join(root, `restored${tier}.bin`);
      assert.equal(runCli(['restore', `empty${tier}.bin`, '--archive', archive, '-o', out]).status, 0);
      assert.equal((await stat(out)).size, 0);
    });
  }
});
