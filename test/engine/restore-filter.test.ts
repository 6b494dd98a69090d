// restore of a snapshot: --include / --exclude globs (path-filter.ts), and reads that a prune running at the same time cannot fail (blob-retry.ts).
import assert from 'node:assert/strict';
import { cp, lstat, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ComputePool } from '../../src/compute/pool.js';
import { Repository } from '../../src/archive/repo.js';
import { deleteSnapshots } from '../../src/engine/delete-snapshot.js';
import { prune } from '../../src/engine/prune.js';
import { restoreTree } from '../../src/engine/restore-tree.js';
import { findSnapshotFile, parseSnapshotRef, withSnapshotSession } from '../../src/engine/snapshots.js';
import { compileGlob } from '../../src/engine/path-filter.js';
import { isBlockFrameError } from '../../src/errors.js';
import { blake3Hex, initBlake3 } from '../../src/integrity/blake3.js';
import { REPO_ROOT, runCli, tempDir } from '../helpers/fixtures.js';
import { twoSnapshots, writeSnapshot } from './v3-repo.js';

const FIXTURE = join(REPO_ROOT, 'test', 'fixtures', 'v3', 'one');
let pool: ComputePool;
let root: string;
let cleanup: () => Promise<void>;
before(async () => {
  await initBlake3();
  pool = ComputePool.start(2);
  ({ dir: root, cleanup } = await tempDir('bf-restore-filter-'));
});
after(async () => {
  await pool.close();
  await cleanup();
});

/** Every entry below `dir`, relative, as latin1 text, sorted. */
async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: Buffer, rel: string): Promise<void> => {
    for (const n of await readdir(d, { encoding: 'buffer' })) {
      const r = rel ? `${rel}/${n.toString('latin1')}` : n.toString('latin1');
      out.push(r);
      if ((await lstat(Buffer.concat([d, Buffer.from('/'), n]))).isDirectory()) await walk(Buffer.concat([d, Buffer.from('/'), n]), r);
    }
  };
  await walk(Buffer.from(dir), '');
  return out.sort();
}

test('restore --include / --exclude: only the matching entries, with the directories above them, from the golden v3 repository', async () => {
  const repo = join(root, 'fixture');
  await cp(FIXTURE, repo, { recursive: true });
  const first = 'tree@a0a01acc66f1';
  const cases: { include?: string[]; exclude?: string[]; want: string[] }[] = [
    { include: ['*.bin'], want: ['dir', 'dir/b.bin', 'dir/caf\xe9.bin', 'dir/shared.bin'] },
    { include: ['dir/s*'], want: ['dir', 'dir/shared.bin'] },
    { include: ['empty-dir'], want: ['empty-dir'] },
    { include: ['dir'], exclude: ['b.bin'], want: ['dir', 'dir/caf\xe9.bin', 'dir/shared.bin'] },
    { exclude: ['dir', 'link'], want: ['a.txt', 'empty', 'empty-dir', 'run.sh'] },
    { include: ['**/[ab].*'], want: ['a.txt', 'dir', 'dir/b.bin'] },
    { include: ['nothing-matches'], want: [] },
  ];
  for (const [i, c] of cases.entries()) {
    const out = join(root, `filter-${i}`);
    const r = await restoreTree(first, out, { archive: repo, pool, durability: 'none', include: c.include, exclude: c.exclude });
    assert.equal(r.failed, 0, JSON.stringify(r.failures));
    assert.deepEqual(await tree(out), c.want, JSON.stringify(c));
  }
  // Bytes of a filtered restore are the file's; through the CLI too (repeatable flags).
  const out = join(root, 'filter-cli');
  const cli = runCli(['restore', `${first}`, '--archive', repo, '-o', out, '--include', 'a.txt', '--include', 'run.sh', '--json'], { env: { BLOCKFRAME_ARCHIVE: '', BLOCKFRAME_CONFIG: '' } });
  assert.equal(cli.status, 0, cli.stderr);
  assert.deepEqual(await tree(out), ['a.txt', 'run.sh']);
  assert.equal((JSON.parse(cli.stdout) as { files: number }).files, 2);
  // Bad patterns are a usage error naming the flag.
  assert.throws(() => compileGlob('[abc', '--exclude'), (e: unknown) => isBlockFrameError(e, 'BF_USAGE') && /--exclude/.test(e.message));
  assert.throws(() => compileGlob('/'), (e: unknown) => isBlockFrameError(e, 'BF_USAGE'));
});

/** A repository with snapshots one and two sharing files, one deleted: its packs are sparse, and prune moves two's shared files. */
async function sparseRepo(tag: string): Promise<{ opts: { archive: string; pool: ComputePool }; want: Map<string, string>; sharedPath: string }> {
  const store = join(root, tag, 'store0');
  await mkdir(store, { recursive: true });
  const opts = { archive: store, pool };
  const { shared, onlyOne, onlyTwo } = twoSnapshots();
  const repo = await Repository.open(opts);
  try {
    await writeSnapshot(repo, pool, 'one', [...shared, ...onlyOne], '2026-12-03T10:00:00.000Z');
    await writeSnapshot(repo, pool, 'two', [...shared, ...onlyTwo], '2026-12-03T11:00:00.000Z');
  } finally {
    await repo.close();
  }
  await deleteSnapshots({ specs: ['one'] }, opts);
  return { opts, want: new Map([...shared, ...onlyTwo].map((f) => [f.path, blake3Hex(f.bytes)])), sharedPath: shared[0]!.path };
}

test('a restore whose index was loaded before a prune moved its files finds them in the new index: no file fails', async () => {
  const { opts, want } = await sparseRepo('prune-restore');
  // Prune copies the shared files into a new pack and deletes the old packs, between the restore's index load and its reads.
  let moved = 0;
  const out = join(root, 'during-prune');
  const r = await restoreTree('two', out, {
    ...opts,
    durability: 'none',
    onOpened: async () => {
      const p = await prune({ ...opts, packTarget: 64 * 1024 });
      moved = p.packs.repacked + p.packs.deleted;
    },
  });
  assert.ok(moved > 0, 'the prune moved packs');
  assert.equal(r.failed, 0, `no file fails: ${JSON.stringify(r.failures.slice(0, 3))}`);
  for (const [path, h] of want) assert.equal(blake3Hex(await readFile(join(out, path))), h, path);
});

test('cat of a snapshot file (a session read) after a prune moved it since the index was loaded', async () => {
  const { opts, want, sharedPath } = await sparseRepo('prune-cat');
  await withSnapshotSession(opts, async (s) => {
    const p = await prune({ ...opts, packTarget: 64 * 1024 });
    assert.ok(p.packs.repacked + p.packs.deleted > 0, JSON.stringify(p));
    const f = await findSnapshotFile(s, parseSnapshotRef(`two:${sharedPath}`));
    assert.equal(blake3Hex(await f.read()), want.get(sharedPath));
  });
});
