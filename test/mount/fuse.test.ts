// `blockframe mount` with the real kernel FUSE: byte-exact copies of a folder archive, healed reads of a damaged
// archive, EIO where nothing can be rebuilt, seeks that read only what they need, and a clean unmount on SIGTERM.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { mkdir, readdir, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { commit } from '../../src/engine/commit.js';
import { commitTree } from '../../src/engine/commit-tree.js';
import { CLI, haveCommand, randomBytesSeeded, tempDir } from '../helpers/fixtures.js';

/** Why these tests cannot run here, or null. */
function missingFuse(): string | null {
  if (process.platform !== 'linux') return 'FUSE mounts are Linux only';
  try {
    accessSync('/dev/fuse', constants.R_OK | constants.W_OK);
  } catch {
    return '/dev/fuse is missing or not usable (no FUSE here: install fuse, or run the container with --device /dev/fuse)';
  }
  if (!haveCommand('fusermount') || !haveCommand('mountpoint')) return 'fusermount (package fuse) or mountpoint is not installed';
  try {
    createRequire(import.meta.url)('fuse-native');
  } catch (err) {
    return `the optional package fuse-native does not load: ${(err as Error).message.split('\n')[0]}`;
  }
  return null;
}

const skip = missingFuse();
if (skip) process.stderr.write(`# test/mount/fuse.test.ts skipped: ${skip}\n`);

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Bytes the process has read through read(2)-like calls, from the kernel's own count (/proc/PID/io rchar). */
function bytesRead(pid: number): number {
  const m = /^rchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
  return Number(m![1]);
}

/** Wait up to 5 s for `text()` to match `re` (the mount's stderr arrives on this process's event loop). */
async function eventually(text: () => string, re: RegExp): Promise<void> {
  for (let i = 0; i < 100 && !re.test(text()); i++) await new Promise((r) => setTimeout(r, 50));
  assert.match(text(), re);
}

function isMounted(dir: string): boolean {
  return spawnSync('mountpoint', ['-q', dir]).status === 0;
}

/** Start `blockframe mount` and wait for its --json start line (the mount is up once it is printed). */
async function startMount(archive: string, mnt: string): Promise<{ child: ChildProcess; stderr: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [CLI, 'mount', mnt, '--archive', archive, '--json', '--refresh', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`mount did not start in 30 s: ${err}`)), 30_000);
    child.stdout!.on('data', (d) => {
      out += d;
      try {
        const j = JSON.parse(out) as { mounted: string };
        assert.equal(j.mounted, mnt);
        clearTimeout(t);
        resolve();
      } catch {
        // not the whole document yet
      }
    });
    void exited.then((code) => reject(new Error(`mount exited with ${code}: ${err}`)));
  });
  return { child, stderr: () => err, exited };
}

describe('blockframe mount (kernel FUSE)', { skip: skip ?? false }, () => {
  let dir: string;
  let archive: string;
  let src: string;
  let mnt: string;
  let m: Awaited<ReturnType<typeof startMount>>;
  const files: Record<string, Uint8Array> = {
    'a/b/big.bin': randomBytesSeeded(1_500_000 + 3, 21),
    'a/small.txt': randomBytesSeeded(9_000, 22),
    'c/empty': new Uint8Array(0),
    'top.bin': randomBytesSeeded(300_000, 23),
  };
  const healed = randomBytesSeeded(400_000, 24);
  const lost = randomBytesSeeded(100_000, 25);
  const seekable = randomBytesSeeded(8 * 1024 * 1024, 26);

  before(async () => {
    dir = (await tempDir('mount-fuse')).dir;
    archive = join(dir, 'archive');
    src = join(dir, 'photos');
    for (const [p, b] of Object.entries(files)) {
      await mkdir(join(src, p, '..'), { recursive: true });
      await writeFile(join(src, p), b);
    }
    await symlink('a/small.txt', join(src, 'link'));
    await commitTree([src], { archive, name: 'photos' });
    await writeFile(join(dir, 'healed.bin'), healed);
    const h = await commit(join(dir, 'healed.bin'), { archive });
    // Damaged but repairable: Tier 1 keeps the whole file in data.dat and three parity copies; one is enough.
    await unlink(join(archive, h.dir, 'data.dat'));
    await writeFile(join(dir, 'lost.bin'), lost);
    const l = await commit(join(dir, 'lost.bin'), { archive });
    for (const f of ['data.dat', 'parity_0.dat', 'parity_1.dat', 'parity_2.dat']) await unlink(join(archive, l.dir, f));
    await writeFile(join(dir, 'seek.bin'), seekable);
    await commit(join(dir, 'seek.bin'), { archive, tier: 3, segmentSize: 64 * 1024 });
    mnt = join(dir, 'mnt');
    await mkdir(mnt);
    m = await startMount(archive, mnt);
  });
  after(async () => {
    if (m && m.child.exitCode === null) {
      m.child.kill('SIGTERM');
      m.child.kill('SIGTERM');
      await m.exited;
    }
    if (mnt && isMounted(mnt)) spawnSync('fusermount', ['-uz', mnt]);
    await rm(dir, { recursive: true, force: true });
  });

  test('cp -r of the mounted folder archive equals the originals byte for byte (diff -r), links as links', async () => {
    const out = join(dir, 'copy');
    const cp = spawnSync('cp', ['-r', join(mnt, 'photos'), out], { encoding: 'utf8' });
    assert.equal(cp.status, 0, cp.stderr);
    const diff = spawnSync('diff', ['-r', '--no-dereference', src, out], { encoding: 'utf8' });
    assert.equal(diff.status, 0, diff.stdout + diff.stderr);
    assert.deepEqual((await readdir(out)).sort(), ['a', 'c', 'link', 'top.bin']);
  });

  test('sha256sum of a damaged-but-repairable archive through the mount is exact, and the heal is logged as serve logs it', async () => {
    const r = spawnSync('sha256sum', [join(mnt, 'healed.bin')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.split(' ')[0], sha256(healed));
    await eventually(m.stderr, /data\.dat .*rebuilt from parity on read/);
  });

  test('an unrecoverable archive is an I/O error (EIO), never bytes; the message is on the mount\'s stderr', async () => {
    const r = spawnSync('cat', [join(mnt, 'lost.bin')], { encoding: 'utf8', maxBuffer: 1 << 24 });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /Input\/output error/);
    assert.equal(r.stdout, '');
    await eventually(m.stderr, /lost\.bin.*answered EIO/);
  });

  test('writes are refused: the mount is read-only (EROFS)', () => {
    const r = spawnSync('sh', ['-c', `echo x > '${join(mnt, 'top-new')}'`], { encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /Read-only file system/);
    const t = spawnSync('touch', [join(mnt, 'photos', 'top.bin')], { encoding: 'utf8' });
    assert.match(t.stderr, /Read-only file system/);
  });

  test('a missing name is ENOENT, a path through a file ENOTDIR', () => {
    assert.match(spawnSync('cat', [join(mnt, 'nope')], { encoding: 'utf8' }).stderr, /No such file or directory/);
    assert.match(spawnSync('ls', [join(mnt, 'photos', 'top.bin', 'x')], { encoding: 'utf8' }).stderr, /Not a directory/);
  });

  test('dd skip= into a Tier 3 archive reads only the segments it needs (bytes read, counted by the kernel)', () => {
    // The mount process's read count (/proc/PID/io rchar) counts every byte it reads from the store's files, by
    // the kernel: real files, nothing of ours wrapped. A 64 KiB read at 6 MiB of an 8 MiB file (64 KiB segments,
    // RS(30,3)) needs its segment and the manifest, plus what the kernel's read-ahead asks for, not the file.
    const before = bytesRead(m.child.pid!);
    const skipBlocks = 96; // 96 × 64 KiB = 6 MiB
    const r = spawnSync('dd', [`if=${join(mnt, 'seek.bin')}`, 'bs=65536', `skip=${skipBlocks}`, 'count=1', 'status=none'], { maxBuffer: 1 << 20 });
    assert.equal(r.status, 0, String(r.stderr));
    const read = bytesRead(m.child.pid!) - before;
    const at = skipBlocks * 65536;
    assert.ok(Buffer.from(r.stdout).equals(Buffer.from(seekable.subarray(at, at + 65536))), 'the bytes at 6 MiB');
    assert.ok(read < seekable.length / 8, `read ${read} bytes of the store for a 64 KiB seek into an ${seekable.length}-byte file (limit ${seekable.length / 8})`);
  });

  test('SIGTERM unmounts: the process exits 0, the mount point is empty and no longer a mount point', async () => {
    m.child.kill('SIGTERM');
    assert.equal(await m.exited, 0, m.stderr());
    assert.equal(isMounted(mnt), false);
    assert.deepEqual(await readdir(mnt), []);
  });

  test('a mount point left by kill -9 is refused with the fusermount -u hint (BF_MOUNT_POINT_BUSY)', async () => {
    const k = await startMount(archive, mnt);
    k.child.kill('SIGKILL');
    await k.exited;
    const r = spawnSync(process.execPath, [CLI, 'mount', mnt, '--archive', archive, '--json'], { encoding: 'utf8', timeout: 30_000 });
    spawnSync('fusermount', ['-u', mnt]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /fusermount -u/);
    assert.equal((JSON.parse(r.stdout) as { error: { code: string } }).error.code, 'BF_MOUNT_POINT_BUSY');
    assert.equal(isMounted(mnt), false);
  });
});
