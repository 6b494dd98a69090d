// Bad input: every case gets a coded one-line error and leaves nothing behind in the archive.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, writeFileSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ComputePool, commit, restore } from '../../src/index.js';
import { CLI, runCli, tempDir, writeRandomFile } from '../helpers/fixtures.js';

/** Archive root contents other than our own empty staging directory and the root's store marker (docs/FORMAT.md §14). */
async function visible(archive: string): Promise<string[]> {
  const names = await readdir(archive).catch(() => [] as string[]);
  const staging = await readdir(join(archive, '.staging')).catch(() => [] as string[]);
  return [...names.filter((n) => n !== '.staging' && n !== '.bf-store.json'), ...staging.map((s) => `.staging/${s}`)];
}

describe('bad input', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let pool: ComputePool;
  before(async () => {
    ({ dir: root, cleanup } = await tempDir());
    pool = ComputePool.start();
  });
  after(async () => {
    await pool.close();
    await cleanup();
  });

  test('missing file', async () => {
    const archive = join(root, 'a-missing');
    await assert.rejects(commit(join(root, 'nope'), { archive, pool }), (e: any) => e.code === 'BF_FILE_NOT_FOUND');
    assert.deepEqual(await visible(archive), []);
  });

  test('a directory, and a FIFO, are not regular files', async () => {
    const archive = join(root, 'a-dir');
    await assert.rejects(commit(root, { archive, pool }), (e: any) => e.code === 'BF_NOT_A_FILE' && /directory/.test(e.message));
    const fifo = join(root, 'fifo');
    spawnSync('mkfifo', [fifo]);
    await assert.rejects(commit(fifo, { archive, pool }), (e: any) => e.code === 'BF_NOT_A_FILE');
    assert.deepEqual(await visible(archive), []);
  });

  test('an unreadable file', async () => {
    const archive = join(root, 'a-unreadable');
    const f = join(root, 'secret.bin');
    await writeRandomFile(f, 1000, 3);
    await chmod(f, 0o000);
    if (process.getuid?.() === 0) {
      // root reads anything; run the real CLI as an unprivileged user instead.
      await mkdir(archive, { recursive: true });
      await chmod(archive, 0o777);
      await chmod(root, 0o755);
      const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, CLI, 'commit', f, '--archive', archive], { encoding: 'utf8' });
      if (r.error || /setpriv: /.test(r.stderr)) return; // no setpriv: nothing to prove here as root
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /permission denied.*secret\.bin.*\[BF_FILE_UNREADABLE\]/);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    } else {
      await assert.rejects(commit(f, { archive, pool }), (e: any) => e.code === 'BF_FILE_UNREADABLE');
    }
    assert.deepEqual(await visible(archive), []);
  });

  test('a file that grows during the commit', async () => {
    const archive = join(root, 'a-changing');
    const f = join(root, 'growing.bin');
    await writeRandomFile(f, 2 * 1024 * 1024, 4);
    let touched = false;
    await assert.rejects(
      commit(f, {
        archive,
        pool,
        tier: 2,
        segmentSize: 256 * 1024,
        onProgress: () => {
          if (!touched) {
            touched = true;
            appendFileSync(f, 'more bytes');
          }
        },
      }),
      (e: any) => e.code === 'BF_FILE_CHANGED',
    );
    assert.ok(touched);
    assert.deepEqual(await visible(archive), []);
  });

  test('a file rewritten in place during the commit', async () => {
    const archive = join(root, 'a-rewritten');
    const f = join(root, 'rewritten.bin');
    await writeRandomFile(f, 1024 * 1024, 5);
    let touched = false;
    await assert.rejects(
      commit(f, {
        archive,
        pool,
        tier: 2,
        segmentSize: 64 * 1024,
        onProgress: () => {
          if (!touched) {
            touched = true;
            writeFileSync(f, new Uint8Array(1024 * 1024));
          }
        },
      }),
      (e: any) => e.code === 'BF_FILE_CHANGED',
    );
    assert.deepEqual(await visible(archive), []);
  });

  test('a full disk cleans up staging (real tmpfs)', async (t) => {
    const mnt = join(root, 'tiny-fs');
    await mkdir(mnt);
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt], { encoding: 'utf8' });
    if (m.status !== 0) return t.skip(`cannot mount a tmpfs here: ${m.stderr.trim()}`);
    try {
      const f = join(root, 'too-big.bin');
      await writeRandomFile(f, 3 * 1024 * 1024, 6);
      await assert.rejects(commit(f, { archive: mnt, pool }), (e: any) => e.code === 'BF_NO_SPACE' && e.message.includes('no space'));
      assert.deepEqual(await visible(mnt), []);
    } finally {
      spawnSync('umount', [mnt]);
    }
  });

  test('names with spaces, unicode and leading dashes, through the real CLI', async () => {
    const archive = join(root, 'a-names');
    for (const name of ['with space.txt', 'ünïcödé 文件.bin', '-rf', '--help']) {
      const f = join(root, name);
      await writeRandomFile(f, 5000, name.length);
      const r = runCli(['commit', '--archive', archive, '--', f]);
      assert.equal(r.status, 0, r.stderr);
      const out = join(root, `restored-${name.replace(/^-+/, '')}`);
      const rr = runCli(['restore', '--archive', archive, '-o', out, '--', name]);
      assert.equal(rr.status, 0, rr.stderr);
      assert.deepEqual(await readFile(out), await readFile(f));
    }
  });

  test('a name with path separators or .. never escapes the archive', async () => {
    const archive = join(root, 'a-escape');
    const f = join(root, 'plain.bin');
    await writeRandomFile(f, 100, 9);
    for (const name of ['../../escape.bin', '..', '/etc/passwd', 'a/../../b']) {
      const r = await commit(f, { archive, pool, name });
      assert.ok(!r.dir.includes('/') && r.path.startsWith(archive + '/'), r.path);
      assert.equal(r.manifest.name, name);
    }
    assert.ok(!(await readdir(root)).includes('escape.bin'));
    assert.ok(!(await readdir(join(root, '..'))).includes('escape.bin'));
  });

  test('a corrupt or hand-edited manifest gives a schema error naming the field', async () => {
    const archive = join(root, 'a-manifest');
    const f = join(root, 'm.bin');
    const data = await writeRandomFile(f, 3000, 10);
    const r = await commit(f, { archive, pool });
    const mf = join(r.path, 'manifest.json');
    const copy = join(r.path, 'manifest.copy.json');
    const text = await readFile(mf, 'utf8');
    // A hand edit of manifest.json alone is caught by manifest.b3; the redundant copy is used instead.
    await writeFile(mf, text.replace(/"size": 3000/, '"size": "3000"'));
    const out = join(root, 'm.out');
    await restore(r.dir, out, { archive, pool });
    assert.deepEqual(new Uint8Array(await readFile(out)), data);
    // With the copy damaged as well, the error names the field.
    await writeFile(copy, text.replace(/"size": 3000/, '"size": "3000"'));
    await assert.rejects(restore(r.dir, join(root, 'm2.out'), { archive, pool }), (e: any) => e.code === 'BF_MANIFEST_INVALID' && e.context.field === 'size');
    const cli = runCli(['info', '--archive', archive, r.dir]);
    assert.equal(cli.status, 1);
    assert.match(cli.stderr, /field "size".*\[BF_MANIFEST_INVALID\]/);
    assert.equal(cli.stderr.trim().split('\n').length, 1);
    await writeFile(mf, '{"format_version": 1, "name": ');
    await writeFile(copy, '[]');
    const l = runCli(['list', '--archive', archive]);
    assert.equal(l.status, 0, l.stderr);
    assert.match(l.stdout, /DAMAGED\tBF_MANIFEST_INVALID/);
  });

  test('two commits of the same file at the same time make one archive', async () => {
    const archive = join(root, 'a-race');
    const f = join(root, 'race.bin');
    await writeRandomFile(f, 3 * 1024 * 1024, 11);
    const run = () =>
      new Promise<number>((resolve) => {
        const p = spawn(process.execPath, [CLI, 'commit', '--archive', archive, '--tier', '2', '--segment-size', '256KiB', f], { stdio: 'ignore' });
        p.on('exit', (code) => resolve(code ?? -1));
      });
    const codes = await Promise.all([run(), run(), run()]);
    assert.deepEqual(codes, [0, 0, 0]);
    assert.equal((await visible(archive)).length, 1, (await visible(archive)).join());
  });

  test('restore refuses to overwrite without --force and leaves no partial file', async () => {
    const archive = join(root, 'a-restore');
    const f = join(root, 'r.bin');
    const data = await writeRandomFile(f, 4000, 12);
    const r = await commit(f, { archive, pool });
    const out = join(root, 'existing.out');
    await writeFile(out, 'keep me');
    await assert.rejects(restore(r.dir, out, { archive, pool }), (e: any) => e.code === 'BF_OUTPUT_EXISTS');
    assert.equal(await readFile(out, 'utf8'), 'keep me');
    await restore(r.dir, out, { archive, pool, force: true });
    assert.deepEqual(new Uint8Array(await readFile(out)), data);
    // A flipped bit in data.dat is healed from parity on the fly, and reported.
    const shard = join(r.path, 'data.dat');
    await chmod(shard, 0o644);
    const bytes = await readFile(shard);
    bytes[100] ^= 1;
    await writeFile(shard, bytes);
    const out2 = join(root, 'healed.out');
    const damage: string[] = [];
    await restore(r.dir, out2, { archive, pool, onDamage: (d) => damage.push(`${d.kind}:${d.path}`) });
    assert.deepEqual(new Uint8Array(await readFile(out2)), data);
    assert.deepEqual(damage, ['corrupt:data.dat']);
    // With every copy gone the restore fails cleanly: no partial output remains.
    for (const p of ['data.dat', 'parity_0.dat', 'parity_1.dat', 'parity_2.dat']) await writeFile(join(r.path, p), 'junk');
    const out3 = join(root, 'never.out');
    await assert.rejects(restore(r.dir, out3, { archive, pool }), (e: any) => e.code === 'BF_UNRECOVERABLE');
    assert.deepEqual((await readdir(root)).filter((n) => n.includes('never.out')), []);
  });
});
