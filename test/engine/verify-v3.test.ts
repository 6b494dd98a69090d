// verify and repair of a format-v3 repository (docs/FORMAT.md §13.8) on 1 and 4 directory stores: a pack's segment
// deleted, an index file's copy deleted, a snapshot header copy deleted, one whole store emptied: verify names the
// damaged files (paths), repair heals, and every file of every snapshot reads back byte-exact; crashed publishes below
// packs/ and blobs/ are cleaned.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { cleanLeftovers } from '../../src/archive/publish.js';
import { join } from 'node:path';
import { ComputePool } from '../../src/index.js';
import { Repository } from '../../src/archive/repo.js';
import { listPackDirs } from '../../src/archive/v3-dirs.js';
import { repairRepository, verifyRepository } from '../../src/engine/verify-v3.js';
import { initBlake3 } from '../../src/integrity/blake3.js';
import { runCli, tempDir } from '../helpers/fixtures.js';
import { assertSnapshots, expected, twoSnapshots, writeSnapshot } from './v3-repo.js';

for (const n of [1, 4]) {
  describe(`verify and repair of format v3 on ${n} store(s)`, () => {
    let pool: ComputePool;
    let root: string;
    let cleanup: () => Promise<void>;
    let stores: string[];
    let repo: Repository;
    let want: Map<string, Map<string, string>>;
    const o = (): { archive: string } | { stores: string[]; failures: number } => (n === 1 ? { archive: stores[0]! } : { stores, failures: 1 });
    before(async () => {
      await initBlake3();
      pool = ComputePool.start(2);
      ({ dir: root, cleanup } = await tempDir('bf-verify-v3-'));
      stores = Array.from({ length: n }, (_, i) => join(root, `store${i}`));
      for (const s of stores) await mkdir(s, { recursive: true });
      repo = await Repository.open(o());
      const { shared, onlyOne, onlyTwo } = twoSnapshots();
      const one = await writeSnapshot(repo, pool, 'one', [...shared, ...onlyOne], '2026-12-03T10:00:00.000Z');
      const two = await writeSnapshot(repo, pool, 'two', [...shared, ...onlyTwo], '2026-12-03T11:00:00.000Z');
      want = new Map([[one.id, expected([...shared, ...onlyOne])], [two.id, expected([...shared, ...onlyTwo])]]);
    });
    after(async () => {
      await repo.close();
      await pool.close();
      await cleanup();
    });

    test('a healthy repository verifies healthy', async () => {
      const r = await verifyRepository({ ...o(), pool });
      assert.equal(r?.status, 'healthy', JSON.stringify(r));
      assert.ok(r!.packs.checked > 0);
      assert.equal(r!.snapshots.checked, 2);
    });

    test("a pack's segment, an index file's copy and a snapshot header copy deleted: verify names them, repair heals, every file reads back", async () => {
      const [pack] = await listPackDirs(repo);
      const m = JSON.parse(await readFile(join(stores[0]!, pack!.dir, 'manifest.json'), 'utf8')) as { stripes: { data: { path: string }[] }[] };
      const segment = m.stripes[0]!.data[0]!.path;
      let removed = false;
      for (const s of stores) if (await rm(join(s, pack!.dir, segment)).then(() => true, () => false)) removed = true;
      assert.ok(removed, `${segment} was on a store`);
      assert.ok(segment, 'a segment was deleted');
      const idx = (await readdir(join(stores[0]!, 'index'))).sort()[0]!;
      await rm(join(stores[0]!, 'index', idx));
      const snap = (await readdir(join(stores[0]!, 'snapshots'))).sort()[0]!;
      await rm(join(stores[0]!, 'snapshots', snap, 'snapshot.copy.json'));

      const v = await verifyRepository({ ...o(), pool });
      assert.notEqual(v?.status, 'healthy');
      assert.ok(v!.packs.damaged.some((d) => d.dir === pack!.dir && d.problems.some((p) => p.path === segment)), `verify names ${pack!.dir}/${segment}: ${JSON.stringify(v!.packs.damaged)}`);
      assert.ok(v!.snapshots.headerDamage.some((d) => d.id === snap && d.file === 'snapshot.copy.json' && d.store === 1));
      if (n === 1) {
        // The only copy of an index file is gone: its packs are unindexed, and the paths that need them are named.
        assert.ok(v!.index.unindexed.length > 0);
        // A snapshot whose body is in an unindexed pack cannot be read at all (BF_BLOB_MISSING); one whose body is
        // found has the paths of its unlocated files named.
        assert.ok(v!.snapshots.missing.some((m) => m.paths.length > 0) || v!.snapshots.unreadable.some((u) => u.message.includes('BF_BLOB_MISSING') || u.code === 'BF_BLOB_MISSING'), JSON.stringify(v!.snapshots));
      }
      const r = await repairRepository({ ...o(), pool });
      assert.ok(r!.repair.archives.some((a) => a.dir === pack!.dir && a.outcome === 'repaired'));
      const after = await verifyRepository({ ...o(), pool });
      assert.equal(after?.status, 'healthy', JSON.stringify(after));
      await assertSnapshots(repo, pool, want, 'after repair');
    });

    if (n === 4) {
      test('one whole store emptied: verify names its files, repair heals, every file reads back', async () => {
        await rm(stores[2]!, { recursive: true, force: true });
        await mkdir(stores[2]!);
        const v = await verifyRepository({ ...o(), pool });
        assert.notEqual(v?.status, 'healthy');
        assert.ok(v!.packs.damaged.length > 0 && v!.packs.damaged.every((d) => d.status === 'repairable'));
        await assertSnapshots(repo, pool, want, 'with a store emptied');
        await repairRepository({ ...o(), pool });
        assert.equal((await verifyRepository({ ...o(), pool }))?.status, 'healthy');
        await assertSnapshots(repo, pool, want, 'after repair');
      });
    }

    test('verify --json carries the v3 report; repair --rebuild-index leaves one index file', () => {
      const args = n === 1 ? ['--archive', stores[0]!] : [...stores.flatMap((s) => ['--store', s]), '--failures', '1'];
      const v = runCli(['verify', '--json', ...args]);
      assert.equal(v.status, 0, v.stderr);
      const j = JSON.parse(v.stdout) as { status: string; v3: { status: string; packs: { checked: number } } };
      assert.equal(j.v3.status, 'healthy');
      assert.ok(j.v3.packs.checked > 0);
      const r = runCli(['repair', '--rebuild-index', ...args]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /rebuilt the index/);
    });
  });
}

describe('cleanLeftovers below packs/ and blobs/', () => {
  test('a crashed multi-store publish of a pack (.bf-pending, no manifest, dead writer) is removed from packs/ and blobs/', async () => {
    const { dir: root, cleanup } = await tempDir('bf-leftover-v3-');
    try {
      const stores = [0, 1].map((i) => join(root, `store${i}`));
      for (const s of stores) await mkdir(s);
      const marker = JSON.stringify({ pid: 999_999_999, host: hostname(), started: new Date().toISOString() });
      const dirs = [`packs/ab/pack_ab${'0'.repeat(62)}`, `blobs/cd/blob_cd${'1'.repeat(62)}`];
      for (const s of stores) {
        for (const d of dirs) {
          await mkdir(join(s, d, 'blocks'), { recursive: true });
          await writeFile(join(s, d, '.bf-pending'), marker);
          await writeFile(join(s, d, 'blocks', 'b0_d0'), 'partial shard');
        }
      }
      const repo = await Repository.open({ stores, failures: 1 });
      try {
        assert.deepEqual((await cleanLeftovers(repo)).sort(), dirs.slice().sort());
        for (const s of stores) for (const d of dirs) assert.deepEqual(await readdir(join(s, d)).catch(() => []), []);
      } finally {
        await repo.close();
      }
    } finally {
      await cleanup();
    }
  });
});
