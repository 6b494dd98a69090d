// delete of snapshots and prune (docs/FORMAT.md §13.6) on 1 and 4 directory stores: a deleted snapshot's unique bytes are reclaimed, shared blobs survive, sparse packs are repacked, nothing is deleted when a snapshot cannot be read, and --dry-run changes nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ComputePool } from '../../src/index.js';
import { isBlockFrameError } from '../../src/errors.js';
import { loadBlobIndex } from '../../src/archive/blob-index.js';
import { writeSnapshotHeader } from '../../src/archive/snapshots.js';
import { Repository } from '../../src/archive/repo.js';
import { deleteSnapshots } from '../../src/engine/delete-snapshot.js';
import { prune } from '../../src/engine/prune.js';
import { BlobReader } from '../../src/engine/blob-read.js';
import { blake3Hex, initBlake3 } from '../../src/integrity/blake3.js';
import { buildSnapshotHeader, snapshotId } from '../../src/layout/snapshot-header.js';
import { tempDir } from '../helpers/fixtures.js';
import { assertSnapshots, bytesOnDisk, expected, fileList, twoSnapshots, writeSnapshot } from './v3-repo.js';

const codeOf = async (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (e) => (isBlockFrameError(e) ? e.code : `uncoded ${String(e)}`));

for (const n of [1, 4]) {
  describe(`prune on ${n} store(s)`, () => {
    let pool: ComputePool;
    let root: string;
    let cleanup: () => Promise<void>;
    let stores: string[];
    const storeOpts = (): { archive: string } | { stores: string[]; failures: number } => (n === 1 ? { archive: stores[0]! } : { stores, failures: 1 });
    before(async () => {
      await initBlake3();
      pool = ComputePool.start(2);
      ({ dir: root, cleanup } = await tempDir('bf-prune-'));
    });
    after(async () => {
      await pool.close();
      await cleanup();
    });

    async function fresh(tag: string): Promise<Repository> {
      stores = Array.from({ length: n }, (_, i) => join(root, tag, `store${i}`));
      for (const s of stores) await mkdir(s, { recursive: true });
      return Repository.open(storeOpts());
    }

    test('delete of a snapshot then prune reclaims its unique bytes, and blobs shared with another snapshot survive', async () => {
      const repo = await fresh('reclaim');
      try {
        const { shared, onlyOne, onlyTwo } = twoSnapshots();
        const one = await writeSnapshot(repo, pool, 'one', [...shared, ...onlyOne], '2026-12-03T10:00:00.000Z');
        const two = await writeSnapshot(repo, pool, 'two', [...shared, ...onlyTwo], '2026-12-03T11:00:00.000Z');
        await assertSnapshots(repo, pool, new Map([[one.id, expected([...shared, ...onlyOne])], [two.id, expected([...shared, ...onlyTwo])]]), 'before');

        const deleted = await deleteSnapshots({ specs: ['one'] }, { ...storeOpts(), pool });
        assert.deepEqual(deleted.map((d) => [d.id, d.name, d.outcome]), [[one.id, 'one', 'deleted']]);
        // Delete frees nothing until prune.
        await assertSnapshots(repo, pool, new Map([[two.id, expected([...shared, ...onlyTwo])]]), 'after delete');
        const beforePrune = await bytesOnDisk(stores);
        const uniqueBytes = onlyOne.reduce((s, f) => s + f.bytes.length, 0);

        const r = await prune({ ...storeOpts(), pool, packTarget: 64 * 1024 });
        assert.equal(r.snapshots, 1);
        assert.ok(r.packs.deleted + r.packs.repacked > 0, JSON.stringify(r));
        assert.equal(r.indexFiles.written, 1);
        const afterPrune = await bytesOnDisk(stores);
        // The unique file bytes go (and their parity, per store copy of metadata): at least the bytes themselves.
        assert.ok(beforePrune - afterPrune >= uniqueBytes, `reclaimed ${beforePrune - afterPrune} bytes on disk, unique ${uniqueBytes}`);
        await assertSnapshots(repo, pool, new Map([[two.id, expected([...shared, ...onlyTwo])]]), 'after prune');
        // The deleted snapshot's unique blobs are gone from the index; the shared ones are still found.
        const { index, files: indexFiles } = await loadBlobIndex(repo);
        assert.equal(indexFiles, 1);
        for (const f of onlyOne) assert.equal(index.has(blake3Hex(f.bytes)), false, `${f.path} is no longer indexed`);
        const reader = new BlobReader(repo, index, { pool });
        try {
          for (const f of shared) assert.equal(blake3Hex(await reader.read(blake3Hex(f.bytes))), blake3Hex(f.bytes));
        } finally {
          await reader.close();
        }
        // A second prune finds nothing to do.
        const again = await prune({ ...storeOpts(), pool });
        assert.deepEqual([again.packs.deleted, again.packs.repacked, again.largeBlobs.deleted, again.indexFiles.deleted], [0, 0, 0, 0]);
      } finally {
        await repo.close();
      }
    });

    test('prune deletes nothing when a snapshot body cannot be read (BF_UNRECOVERABLE), and --dry-run changes nothing', async () => {
      const repo = await fresh('refuse');
      try {
        const { shared, onlyOne, onlyTwo } = twoSnapshots();
        await writeSnapshot(repo, pool, 'one', [...shared, ...onlyOne], '2026-12-03T10:00:00.000Z');
        await writeSnapshot(repo, pool, 'two', [...shared, ...onlyTwo], '2026-12-03T11:00:00.000Z');
        await deleteSnapshots({ specs: ['one'] }, { ...storeOpts(), pool });
        const listing = await Promise.all(stores.map(fileList));
        const dry = await prune({ ...storeOpts(), pool, dryRun: true });
        assert.equal(dry.dryRun, true);
        assert.ok(dry.packs.deleted + dry.packs.repacked > 0);
        assert.deepEqual((await Promise.all(stores.map(fileList))).map((l) => l.filter((f) => !f.startsWith('locks/'))), listing, '--dry-run changed nothing');

        // A snapshot whose body blob is nowhere: its blobs are not known to be dead.
        const header = buildSnapshotHeader({ format_version: 3, kind: 'snapshot', name: 'lost', created_at: '2026-12-03T12:00:00.000Z', parent: null, root_hash: 'ab'.repeat(32), root_size: 100, entries: 1, bytes: 5, generator: 'blockframe test' });
        await writeSnapshotHeader(repo, snapshotId(header), header);
        const withLost = await Promise.all(stores.map(fileList));
        assert.equal(await codeOf(prune({ ...storeOpts(), pool })), 'BF_UNRECOVERABLE');
        assert.deepEqual(await Promise.all(stores.map(fileList)), withLost, 'a refused prune deleted nothing');
      } finally {
        await repo.close();
      }
    });
  });
}
