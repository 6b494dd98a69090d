// The command line over snapshots: restore NAME[@ID][:PATH] -o DIR, the snapshot/single-file choice, list, ls, cat NAME:PATH --range (real CLI processes, a real directory store).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ComputePool } from '../../src/compute/pool.js';
import { blake3Hex, initBlake3 } from '../../src/integrity/blake3.js';
import { CLI, randomBytesSeeded, runCli, tempDir } from '../helpers/fixtures.js';
import { commitTestTree, writeTestSnapshot } from '../helpers/tree-snapshot.js';

test('CLI: restore/list/ls/cat of a snapshot; a name that is both a snapshot and a single-file archive needs --snapshot or --single-file; failed entries make the exit non-zero', async () => {
  const { dir, cleanup } = await tempDir('bf-snapcli-');
  const pool = ComputePool.start(2);
  try {
    await initBlake3();
    const store = join(dir, 'store');
    await mkdir(store);
    const src = join(dir, 'photos');
    await mkdir(join(src, '2024'), { recursive: true });
    const big = Buffer.from(randomBytesSeeded(300_000, 1));
    await writeFile(join(src, '2024/a.jpg'), big);
    await writeFile(join(src, '2024/b.jpg'), randomBytesSeeded(20_000, 2));
    await writeFile(join(src, 'notes.txt'), 'hello\n');
    const snap = await commitTestTree({ archive: store }, pool, src, 'photos');
    const A = ['--archive', store];

    // A plain name with only a snapshot: the tree.
    let r = runCli(['restore', 'photos', '-o', join(dir, 'out1'), ...A]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual((await readdir(join(dir, 'out1'), { recursive: true })).sort(), ['2024', '2024/a.jpg', '2024/b.jpg', 'notes.txt']);
    assert.deepEqual(await readFile(join(dir, 'out1/2024/a.jpg')), big);

    // NAME@ID:PATH with --json.
    r = runCli(['restore', `photos@${snap.id.slice(0, 10)}:2024`, '-o', join(dir, 'out2'), '--json', ...A]);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { files: number; failed: number; snapshot: { id: string } };
    assert.deepEqual([j.files, j.failed, j.snapshot.id], [2, 0, snap.id]);

    // cat NAME:PATH --range, byte-exact.
    const c = spawnSync(process.execPath, [CLI, 'cat', 'photos:2024/a.jpg', '--range', '1000-250999', ...A], { maxBuffer: 1 << 26 });
    assert.equal(c.status, 0, c.stderr.toString());
    assert.deepEqual(c.stdout, big.subarray(1000, 251_000));

    // ls and ls --json.
    r = runCli(['ls', 'photos', ...A]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n').map((l) => l.split('\t').at(-1)), ['2024', '2024/a.jpg', '2024/b.jpg', 'notes.txt']);
    r = runCli(['ls', 'photos:2024', '--json', ...A]);
    const ls = JSON.parse(r.stdout) as { snapshot: { id: string }; entries: { path: string; size?: number }[] };
    assert.equal(ls.snapshot.id, snap.id);
    assert.deepEqual(ls.entries.map((e) => [e.path, e.size]), [['2024', undefined], ['2024/a.jpg', 300_000], ['2024/b.jpg', 20_000]]);

    // list shows the snapshot beside single-file archives.
    const single = join(dir, 'photos-file');
    await mkdir(single);
    await writeFile(join(single, 'photos'), 'a single file named photos\n');
    assert.equal(runCli(['commit', join(single, 'photos'), ...A]).status, 0);
    r = runCli(['list', ...A]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^photos\\tsnapshot\\t${snap.id.slice(0, 12)}\\t\\S+\\t4 entries\\t`, 'm'));
    const lj = JSON.parse(runCli(['list', '--json', ...A]).stdout) as { archives: unknown[]; snapshots: { name: string; id: string; entries: number }[] };
    assert.equal(lj.archives.length, 1);
    assert.deepEqual(lj.snapshots.map((s) => [s.name, s.id, s.entries]), [['photos', snap.id, 4]]);

    // Both match: refused, then either flag decides.
    r = runCli(['restore', 'photos', '-o', join(dir, 'out3'), '--json', ...A]);
    assert.notEqual(r.status, 0);
    assert.match(r.stdout + r.stderr, /BF_AMBIGUOUS_NAME/);
    assert.equal(runCli(['restore', 'photos', '--snapshot', '-o', join(dir, 'out3'), ...A]).status, 0);
    assert.deepEqual((await readdir(join(dir, 'out3'))).sort(), ['2024', 'notes.txt']);
    await mkdir(join(dir, 'out4'));
    assert.equal(runCli(['restore', 'photos', '--single-file', '-o', join(dir, 'out4'), ...A]).status, 0);
    assert.equal(await readFile(join(dir, 'out4/photos'), 'utf8'), 'a single file named photos\n');

    // A snapshot with an unsafe entry: the rest is restored, the entry named on stderr, exit 1.
    const good = Buffer.from('ok\n');
    const mt = '1715531412000000000';
    const line = (o: object) => Buffer.from(`${JSON.stringify(o)}\n`);
    await writeTestSnapshot({ archive: store }, pool, 'bad', [line({ path: 'd', type: 'symlink', target: '/', mtime_ns: mt }), line({ path: 'd/x', type: 'file', mode: 420, mtime_ns: mt, size: 3, blob: blake3Hex(good) }), line({ path: 'e', type: 'file', mode: 420, mtime_ns: mt, size: 3, blob: blake3Hex(good) })], [good]);
    r = runCli(['restore', 'bad', '-o', join(dir, 'out5'), ...A]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /"d\/x".*\[BF_PATH_UNSAFE\]/);
    assert.deepEqual((await readdir(join(dir, 'out5'))).sort(), ['d', 'e']);

    // -o - is for single files.
    r = runCli(['restore', 'photos', '--snapshot', '-o', '-', ...A]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /BF_USAGE|cat NAME:PATH/);
  } finally {
    await pool.close();
    await cleanup();
  }
});
