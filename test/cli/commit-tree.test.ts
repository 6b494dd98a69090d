// `blockframe commit DIR...` through the real CLI: one snapshot per run (text and --json), the quick re-commit, several directories, and the options refused on trees (or on files).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytesSeeded, runCli, tempDir } from '../helpers/fixtures.js';
import { commitTree } from '../../src/index.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

describe('blockframe commit DIR', () => {
  let cwd: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir: cwd, cleanup } = await tempDir('bf-cli-tree-'));
    for (const d of ['docs/a', 'docs/b', 'music']) await mkdir(join(cwd, d), { recursive: true });
    for (let i = 0; i < 12; i++) await writeFile(join(cwd, i % 2 ? 'docs/a' : 'docs/b', `f${i}.bin`), randomBytesSeeded(1000 + i * 5000, i));
    await writeFile(join(cwd, 'music/song.bin'), randomBytesSeeded(70_000, 99));
    await writeFile(join(cwd, 'single.bin'), randomBytesSeeded(5000, 3));
    await sleep(2200); // older than the 2 s ctime margin of the quick path
  });
  after(() => cleanup());

  test('commit DIR --json prints one JSON document with the snapshot; a second run takes the quick path and writes no pack', () => {
    const r = runCli(['commit', '--archive', 'store', '--json', 'docs'], { cwd });
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout) as Json;
    assert.match(j.snapshot.id, /^[0-9a-f]{64}$/);
    assert.deepEqual([j.snapshot.name, j.snapshot.files, j.snapshot.dirs, j.snapshot.parent, j.snapshot.packsWritten], ['docs', 12, 2, null, 1]);
    const again = JSON.parse(runCli(['commit', '--archive', 'store', '--json', 'docs'], { cwd }).stdout) as Json;
    assert.deepEqual([again.snapshot.parent, again.snapshot.filesQuick, again.snapshot.filesHashed, again.snapshot.packsWritten], [j.snapshot.id, 12, 0, 0]);
    const slow = JSON.parse(runCli(['commit', '--archive', 'store', '--json', '--no-quick', '--parent', j.snapshot.id, 'docs'], { cwd }).stdout) as Json;
    assert.deepEqual([slow.snapshot.parent, slow.snapshot.filesQuick, slow.snapshot.filesHashed, slow.snapshot.bytesNew], [j.snapshot.id, 0, 12, 0]);
  });

  test('commit A B puts each under its base name and needs --name; the text output is one summary line', () => {
    const noName = runCli(['commit', '--archive', 'store', '--json', 'docs', 'music'], { cwd });
    assert.equal(noName.status, 2);
    assert.equal((JSON.parse(noName.stdout) as Json).error.code, 'BF_USAGE');
    const r = runCli(['commit', '--archive', 'store', '--name', 'both', 'docs', 'music'], { cwd });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^snapshot both [0-9a-f]{12} \(13 files, 4 dirs, 0 symlinks, .*; parent none\)\n$/);
  });

  test('options of the other kind are refused with BF_USAGE: --tier/--compress/--encrypt on a directory, --parent/--no-quick on a file, a file mixed with a directory', () => {
    const cases: string[][] = [
      ['--tier', '2', 'docs'],
      ['--segment-size', '1MiB', 'docs'],
      ['--compress', 'zstd', 'docs'],
      ['--encrypt', 'docs'],
      ['--no-quick', 'single.bin'],
      ['--parent', 'a'.repeat(64), 'single.bin'],
      ['docs', 'single.bin'],
    ];
    for (const c of cases) {
      const r = runCli(['commit', '--archive', 'store', '--json', ...c], { cwd });
      assert.equal(r.status, 2, `${c.join(' ')}: ${r.stderr}`);
      assert.equal((JSON.parse(r.stdout) as Json).error.code, 'BF_USAGE', c.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    }
    // A single file commits as before.
    const f = runCli(['commit', '--archive', 'store', '--json', 'single.bin'], { cwd });
    assert.equal(f.status, 0, f.stderr);
    assert.equal((JSON.parse(f.stdout) as Json).results[0].tier, 1);
  });

  test('the library exports commitTree', () => {
    assert.equal(typeof commitTree, 'function');
  });
});
