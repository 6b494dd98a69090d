// The real CLI in child processes: exit codes, one-line errors, --json, list/find/info/restore/cat.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { CLI, runCli, tempDir, writeRandomFile } from '../helpers/fixtures.js';

describe('cli', () => {
  let root: string;
  let archive: string;
  let cleanup: () => Promise<void>;
  let src: string;
  let data: Uint8Array;
  before(async () => {
    ({ dir: root, cleanup } = await tempDir());
    archive = join(root, 'archive');
    src = join(root, 'movie.bin');
    data = await writeRandomFile(src, 700_000, 42);
    // The archive exists (empty), so commit's stderr holds only what the first test checks (no "created" note).
    await mkdir(archive);
  });
  after(() => cleanup());

  test('commit --json prints one document; BLOCKFRAME_ARCHIVE selects the root', () => {
    const r = runCli(['commit', src, '--tier', '3', '--segment-size', '16KiB', '--json'], { env: { BLOCKFRAME_ARCHIVE: archive } });
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.results.length, 1);
    assert.equal(doc.results[0].status, 'archived');
    assert.equal(doc.results[0].tier, 3);
    assert.equal(doc.results[0].segments, 43);
    assert.equal(r.stderr, '', 'no progress bar on a pipe');
    const again = runCli(['commit', src, '--archive', archive]);
    assert.equal(again.status, 0);
    assert.match(again.stdout, /^already archived: movie\.bin/);
  });

  test('list, find, info', () => {
    const l = runCli(['list', '--archive', archive, '--json']);
    assert.equal(l.status, 0);
    const doc = JSON.parse(l.stdout);
    assert.equal(doc.archives[0].name, 'movie.bin');
    const hash: string = doc.archives[0].originalHash;
    const human = runCli(['list', '--archive', archive]);
    assert.match(human.stdout, new RegExp(`movie\\.bin\\t684 KiB\\ttier 3\\t${hash.slice(0, 12)}\\t\\d{4}-`));
    const f = runCli(['find', '--archive', archive, hash.slice(0, 8)]);
    assert.equal(f.status, 0);
    assert.equal(f.stdout.trim(), join(archive, `movie.bin_${hash}`));
    const i = runCli(['info', '--archive', archive, 'movie.bin']);
    assert.match(i.stdout, /stripes +2 x RS\(30,3\)/);
    assert.match(i.stdout, new RegExp(`original hash +${hash}`));
    const ij = JSON.parse(runCli(['info', '--archive', archive, 'movie.bin', '--json']).stdout);
    assert.equal(ij.manifest.original_hash, hash);
  });

  test('info on a Tier 4 archive shows level 2 and counts it in the overhead', () => {
    const a4 = join(root, 'archive-t4');
    const c = runCli(['commit', src, '--tier', '4', '--segment-size', '4KiB', '--archive', a4]);
    assert.equal(c.status, 0, c.stderr);
    // 700,000 bytes in 4 KiB segments: 171 segments, 6 blocks, one level-2 group of 6 blocks.
    const i = runCli(['info', '--archive', a4, 'movie.bin']);
    assert.equal(i.status, 0, i.stderr);
    assert.match(i.stdout, /^stripes +6 x RS\(30,3\)$/m);
    assert.match(i.stdout, /^level 2 +30 stripes x RS\(6,1\) across 1 group of 6 blocks$/m);
    const over = /^overhead +(\d+\.\d)% parity \(level 1 (\d+\.\d)%, level 2 (\d+\.\d)%\)$/m.exec(i.stdout);
    assert.ok(over, i.stdout);
    const { summary: s, manifest: m } = JSON.parse(runCli(['info', '--archive', a4, 'movie.bin', '--json']).stdout);
    const parity = (stripes: { parity: { size: number }[] }[]) => stripes.reduce((n, st) => n + st.parity.reduce((x, p) => x + p.size, 0), 0);
    assert.equal(s.overhead, (parity(m.stripes) + parity(m.level2.stripes)) / m.size);
    assert.equal(s.level2.overhead, parity(m.level2.stripes) / m.size);
    assert.deepEqual({ ...s.level2, overhead: 0 }, { groups: 1, stripes: 30, groupBlocks: m.level2.group_blocks, dataShards: { min: 6, max: 6 }, parityShards: 1, overhead: 0 });
    assert.equal(over[1], (s.overhead * 100).toFixed(1));
    const l = JSON.parse(runCli(['list', '--archive', a4, '--json']).stdout);
    assert.deepEqual(l.archives[0].level2, s.level2);
    const t3 = JSON.parse(runCli(['info', '--archive', archive, 'movie.bin', '--json']).stdout);
    assert.equal(t3.summary.level2, null);
    assert.doesNotMatch(runCli(['info', '--archive', archive, 'movie.bin']).stdout, /level 2/);
  });

  test('restore and cat give the bytes back', async () => {
    const out = join(root, 'out.bin');
    const r = runCli(['restore', 'movie.bin', '-o', out, '--archive', archive]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(new Uint8Array(await readFile(out)), data);
    const again = runCli(['restore', 'movie.bin', '-o', out, '--archive', archive]);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /output exists.*--force.*\[BF_OUTPUT_EXISTS\]/);
    const c = spawnSync(process.execPath, [CLI, 'cat', 'movie.bin', '--archive', archive], { maxBuffer: 1 << 26 });
    assert.equal(c.status, 0);
    assert.deepEqual(new Uint8Array(c.stdout), data);
  });

  test('usage errors exit 2; failures exit 1 with one line and no stack unless --debug', () => {
    assert.equal(runCli([]).status, 2);
    assert.equal(runCli(['frobnicate']).status, 2);
    assert.equal(runCli(['commit']).status, 2);
    const badSize = runCli(['commit', src, '--segment-size', '12MB', '--archive', archive]);
    assert.equal(badSize.status, 2);
    assert.match(badSize.stderr, /invalid segment size "12MB".*\[BF_INVALID_SIZE\]/);
    const badTier = runCli(['commit', src, '--tier', '9', '--archive', archive]);
    assert.equal(badTier.status, 2);
    const missing = runCli(['commit', join(root, 'absent'), '--archive', archive]);
    assert.equal(missing.status, 1);
    assert.equal(missing.stderr.trim().split('\n').length, 1);
    assert.match(missing.stderr, /no such file.*absent.*\[BF_FILE_NOT_FOUND\]/);
    const debug = runCli(['commit', join(root, 'absent'), '--archive', archive, '--debug']);
    assert.match(debug.stderr, /\n\s+at /);
    const unknown = runCli(['restore', 'nothing-here', '-o', join(root, 'x'), '--archive', archive]);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /\[BF_ARCHIVE_NOT_FOUND\]/);
    assert.equal(runCli(['--help']).status, 0);
    assert.equal(runCli(['--version']).status, 0);
  });

  test('several files: a failure is reported and the others still commit', () => {
    const a2 = join(root, 'archive-multi');
    const r = runCli(['commit', src, join(root, 'absent'), '--archive', a2, '--json']);
    assert.equal(r.status, 1);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.results.length, 1);
    assert.equal(doc.errors[0].code, 'BF_FILE_NOT_FOUND');
  });

  test('commit from another working directory says where it created the default archive; the reading commands name it when missing', async () => {
    const cron = join(root, 'cron-cwd');
    await mkdir(cron);
    const env = { BLOCKFRAME_ARCHIVE: '', BLOCKFRAME_CONFIG: '' };
    const c = runCli(['commit', src], { cwd: cron, env });
    assert.equal(c.status, 0, c.stderr);
    const made = join(cron, 'archive_directory');
    assert.match(c.stderr, new RegExp(`^blockframe: note: created new archive at ${made.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} \\(the default: \\./archive_directory in the working directory`, 'm'));
    assert.match(c.stdout, new RegExp(`-> movie\\.bin_[0-9a-f]{64} in ${made.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`, 'm'), 'the result line names where it went');
    const again = runCli(['commit', src, '--json'], { cwd: cron, env });
    assert.equal(again.status, 0, again.stderr);
    assert.equal(again.stderr, '', 'no note once it exists');
    assert.deepEqual(JSON.parse(again.stdout).created, []);
    const fresh = join(root, 'named-by-env');
    const j = runCli(['commit', src, '--json'], { cwd: cron, env: { ...env, BLOCKFRAME_ARCHIVE: fresh } });
    assert.deepEqual(JSON.parse(j.stdout).created, [{ path: fresh, from: 'env' }]);
    assert.match(j.stderr, /created new archive at .*named-by-env \(from \$BLOCKFRAME_ARCHIVE\)/);
    // Every command resolves the archive the same way: list finds it from there, and fails loudly elsewhere.
    assert.match(runCli(['list'], { cwd: cron, env }).stdout, /^movie\.bin\t/);
    const elsewhere = runCli(['list'], { cwd: root, env });
    assert.equal(elsewhere.status, 1);
    assert.match(elsewhere.stderr, /no archive directory at .*archive_directory .*\[BF_ARCHIVE_ROOT_MISSING\]/);
  });
});
