// `blockframe delete` (the CLI, in child processes) and deleteArchives (the library, over 4 stores): exact names
// only, nothing deleted when any name is wrong, --dry-run changes nothing, and no key of the archive is left.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { commit, deleteArchives, list, verify } from '../../src/index.js';
import { isBlockFrameError } from '../../src/errors.js';
import { runCli, tempDir, writeRandomFile } from '../helpers/fixtures.js';

const codeOf = async (p: Promise<unknown>) => p.then(() => 'ok', (e) => (isBlockFrameError(e) ? e.code : `uncoded ${String(e)}`));

/** Every file left under `dir`, relative (the staging directory aside). */
async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (e.isFile()) out.push(join(e.parentPath ?? (e as unknown as { path: string }).path, e.name).slice(dir.length + 1));
  }
  return out.filter((f) => !f.startsWith('.staging')).sort();
}

describe('delete', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let archive: string;
  before(async () => {
    ({ dir: root, cleanup } = await tempDir('bf-delete-'));
    archive = join(root, 'archive');
    for (const [i, name] of ['a.bin', 'b.bin', 'c.bin'].entries()) {
      await writeRandomFile(join(root, name), 40_000 + i, 300 + i);
      assert.equal(runCli(['commit', join(root, name), '--archive', archive, '--tier', '3', '--segment-size', '8KiB']).status, 0);
    }
  });
  after(() => cleanup());

  test('a wrong name among good ones deletes nothing, with BF_ARCHIVE_NOT_FOUND and exit 1', async () => {
    const before = await files(archive);
    const r = runCli(['delete', 'a.bin', 'nope.bin', '--archive', archive, '--json']);
    assert.equal(r.status, 1);
    assert.equal(JSON.parse(r.stdout).error.code, 'BF_ARCHIVE_NOT_FOUND');
    assert.match(r.stderr, /nope\.bin.*\[BF_ARCHIVE_NOT_FOUND\]/);
    assert.deepEqual(await files(archive), before);
  });

  test('--dry-run names the archive and changes nothing', async () => {
    const before = await files(archive);
    const r = runCli(['delete', 'a.bin', '--archive', archive, '--dry-run']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^would delete a\.bin_[0-9a-f]{64} \(a\.bin, /);
    assert.deepEqual(await files(archive), before);
  });

  test('delete removes every file of the archive and only it; the rest verify healthy', async () => {
    const r = runCli(['delete', 'a.bin', '--archive', archive, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.archives.length, 1);
    assert.equal(doc.archives[0].outcome, 'deleted');
    assert.equal(doc.archives[0].name, 'a.bin');
    assert.deepEqual((await files(archive)).filter((f) => f.startsWith('a.bin_')), []);
    const dirs = (await readdir(archive)).filter((d) => !d.startsWith('.'));
    assert.deepEqual(dirs.map((d) => d.split('_')[0]).sort(), ['b.bin', 'c.bin'], 'no empty directory left behind');
    const v = runCli(['verify', '--archive', archive, '--json']);
    assert.equal(v.status, 0, v.stdout);
    assert.equal(JSON.parse(v.stdout).archives.length, 2);
  });

  test('an archive whose manifests are all damaged is deleted by its directory name', async () => {
    const { writeFile } = await import('node:fs/promises');
    const dir = (await readdir(archive)).find((d) => d.startsWith('b.bin_'))!;
    for (const f of ['manifest.json', 'manifest.copy.json']) await writeFile(join(archive, dir, f), '{"not": "a manifest"}');
    const r = runCli(['delete', dir, '--archive', archive]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /manifest unreadable/);
    assert.deepEqual((await files(archive)).filter((f) => f.startsWith('b.bin_')), []);
  });

  test('library: over 4 stores every shard goes from every store; an ambiguous name deletes nothing', async () => {
    const stores = [1, 2, 3, 4].map((i) => join(root, `disk${i}`));
    const file = join(root, 'multi.bin');
    await writeRandomFile(file, 300_000, 7);
    await commit(file, { stores, tier: 3, segmentSize: 16 * 1024 });
    const file2 = join(root, 'sub', 'multi.bin');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(root, 'sub'));
    await writeRandomFile(file2, 300_001, 8);
    await commit(file2, { stores, tier: 3, segmentSize: 16 * 1024 });
    assert.equal(await codeOf(deleteArchives(['multi.bin'], { stores })), 'BF_AMBIGUOUS_NAME');
    assert.equal((await list({ stores })).archives.length, 2);
    const [one] = (await list({ stores })).archives;
    const gone = await deleteArchives([one!.dir], { stores });
    assert.deepEqual(gone.map((g) => [g.dir, g.outcome]), [[one!.dir, 'deleted']]);
    for (const s of stores) assert.deepEqual((await files(s)).filter((f) => f.startsWith(`${one!.dir}/`)), [], s);
    assert.equal((await list({ stores })).archives.length, 1);
    assert.equal((await verify([], { stores })).status, 'healthy');
  });
});
