// `blockframe delete` of snapshots (docs/FORMAT.md §13.6 "Delete"), in child processes: NAME deletes the latest
// snapshot, NAME@ID one, --snapshot ID one by id, NAME --all-snapshots every one; a wrong one deletes nothing; then
// `blockframe prune --json` reports what it reclaimed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ComputePool } from '../../src/index.js';
import { Repository } from '../../src/archive/repo.js';
import { listSnapshotIds } from '../../src/archive/snapshots.js';
import { initBlake3 } from '../../src/integrity/blake3.js';
import { runCli, tempDir } from '../helpers/fixtures.js';
import { files, writeSnapshot } from '../engine/v3-repo.js';

describe('delete of snapshots (CLI)', () => {
  let pool: ComputePool;
  let root: string;
  let cleanup: () => Promise<void>;
  let archive: string;
  const ids: Record<string, string> = {};
  before(async () => {
    await initBlake3();
    pool = ComputePool.start(2);
    ({ dir: root, cleanup } = await tempDir('bf-delete-snap-'));
    archive = join(root, 'archive');
    await mkdir(archive);
    const repo = await Repository.open({ archive });
    try {
      ids.a1 = (await writeSnapshot(repo, pool, 'alpha', files('a', 3, 1), '2026-12-03T10:00:00.000Z')).id;
      ids.a2 = (await writeSnapshot(repo, pool, 'alpha', files('a', 4, 2), '2026-12-03T11:00:00.000Z')).id;
      ids.a3 = (await writeSnapshot(repo, pool, 'alpha', files('a', 5, 3), '2026-12-03T12:00:00.000Z')).id;
      ids.b1 = (await writeSnapshot(repo, pool, 'beta', files('b', 3, 4), '2026-12-03T10:00:00.000Z')).id;
      ids.b2 = (await writeSnapshot(repo, pool, 'beta', files('b', 3, 5), '2026-12-03T11:00:00.000Z')).id;
    } finally {
      await repo.close();
    }
  });
  after(async () => {
    await pool.close();
    await cleanup();
  });
  const present = async (): Promise<string[]> => {
    const repo = await Repository.open({ archive });
    try {
      return await listSnapshotIds(repo);
    } finally {
      await repo.close();
    }
  };

  test('a name that matches nothing among good ones deletes nothing (BF_ARCHIVE_NOT_FOUND)', async () => {
    const r = runCli(['delete', 'alpha', 'nope', '--archive', archive, '--json']);
    assert.equal(r.status, 1);
    assert.equal(JSON.parse(r.stdout).error.code, 'BF_ARCHIVE_NOT_FOUND');
    assert.equal((await present()).length, 5);
  });

  test('NAME deletes only the latest snapshot of the name; NAME@ID and --snapshot ID one each', async () => {
    let r = runCli(['delete', 'alpha', '--archive', archive, '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).snapshots.map((s: { id: string; outcome: string }) => [s.id, s.outcome]), [[ids.a3, 'deleted']]);
    r = runCli(['delete', `alpha@${ids.a1!.slice(0, 10)}`, '--archive', archive]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^deleted snapshot alpha@${ids.a1!.slice(0, 12)} `));
    r = runCli(['delete', '--snapshot', ids.b1!.slice(0, 16), '--archive', archive, '--dry-run']);
    assert.match(r.stdout, /^would delete snapshot beta@/);
    assert.equal((await present()).length, 3);
    r = runCli(['delete', '--snapshot', ids.b1!, '--archive', archive]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual((await present()).sort(), [ids.a2!, ids.b2!].sort());
  });

  test('--all-snapshots deletes every snapshot of the name, and prune --json reports what it reclaimed', async () => {
    const r = runCli(['delete', 'alpha', '--all-snapshots', '--archive', archive]);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(await present(), [ids.b2!]);
    assert.equal(runCli(['delete', 'alpha', '--archive', archive]).status, 1, 'the name is gone');
    const p = runCli(['prune', '--archive', archive, '--json']);
    assert.equal(p.status, 0, p.stderr);
    const j = JSON.parse(p.stdout) as { snapshots: number; packs: { deleted: number }; bytesReclaimed: number };
    assert.equal(j.snapshots, 1);
    assert.ok(j.packs.deleted > 0 && j.bytesReclaimed > 0, p.stdout);
  });
});
