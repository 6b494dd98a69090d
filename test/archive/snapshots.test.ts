// Snapshot header sets on real directories as stores (docs/FORMAT.md §13.3, §13.6 "Delete"): written whole to every
// store, read from any good copy with damage reported, repaired, listed, and deleted sum first, snapshot.json last.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { deleteSnapshotHeader, listSnapshotIds, readSnapshotHeader, repairSnapshot, snapshotSumText, writeSnapshotHeader } from '../../src/archive/snapshots.js';
import { SNAPSHOT_COPY, SNAPSHOT_FILE, SNAPSHOT_SUM, snapshotDir, type SnapshotFileName } from '../../src/layout/keys.js';
import { haveCommand } from '../helpers/fixtures.js';
import { codeOf, header, openStores } from './catalog-helpers.js';

const FILES = [SNAPSHOT_FILE, SNAPSHOT_COPY, SNAPSHOT_SUM] as const;

for (const n of [1, 3]) {
  test(`snapshot header set round trip on ${n} store(s): every store holds all three files, b3sum -c checks them`, async () => {
    const s = await openStores(n);
    try {
      const h = header('photos', '2026-12-03T15:20:00.000Z');
      await writeSnapshotHeader(s.repo, h.id, h.bytes);
      for (const dir of s.dirs) {
        const base = join(dir, snapshotDir(h.id));
        assert.deepEqual(new Uint8Array(await readFile(join(base, SNAPSHOT_FILE))), h.bytes);
        assert.deepEqual(new Uint8Array(await readFile(join(base, SNAPSHOT_COPY))), h.bytes);
        assert.equal(await readFile(join(base, SNAPSHOT_SUM), 'utf8'), `${h.id}  snapshot.json\n`);
        if (haveCommand('b3sum')) assert.equal(spawnSync('b3sum', ['-c', SNAPSHOT_SUM], { cwd: base }).status, 0, 'b3sum -c snapshot.b3');
      }
      const r = await readSnapshotHeader(s.repo, h.id);
      assert.deepEqual(r.bytes, h.bytes);
      assert.deepEqual(r.damaged, []);
      assert.equal(r.complete, true);
      const other = header('photos', '2026-12-03T16:00:00.000Z');
      await writeSnapshotHeader(s.repo, other.id, other.bytes);
      // Written twice (a retried commit): still one id.
      await writeSnapshotHeader(s.repo, h.id, h.bytes);
      assert.deepEqual(await listSnapshotIds(s.repo), [h.id, other.id].sort());
    } finally {
      await s.cleanup();
    }
  });
}

test('a snapshot id is checked: bad hex is BF_HEX_INVALID, bytes that do not hash to the id are refused, a missing one is BF_ARCHIVE_NOT_FOUND', async () => {
  const s = await openStores(1);
  try {
    const h = header('x', '2026-12-03T15:20:00.000Z');
    assert.equal((await codeOf(() => readSnapshotHeader(s.repo, 'ABC'))).code, 'BF_HEX_INVALID');
    assert.equal((await codeOf(() => readSnapshotHeader(s.repo, h.id.toUpperCase()))).code, 'BF_HEX_INVALID');
    assert.equal((await codeOf(() => writeSnapshotHeader(s.repo, h.id, new TextEncoder().encode('{}')))).code, 'BF_INTERNAL');
    assert.equal((await codeOf(() => readSnapshotHeader(s.repo, h.id))).code, 'BF_ARCHIVE_NOT_FOUND');
    assert.equal(existsSync(join(s.dirs[0]!, 'snapshots')), false, 'nothing written');
  } finally {
    await s.cleanup();
  }
});

test('a flipped byte in one copy: the header still reads, the damage is reported per store, repairSnapshot heals it', async () => {
  const s = await openStores(3);
  try {
    const h = header('photos', '2026-12-03T15:20:00.000Z');
    await writeSnapshotHeader(s.repo, h.id, h.bytes);
    const flip = async (store: number, file: string): Promise<void> => {
      const p = join(s.dirs[store]!, snapshotDir(h.id), file);
      const b = await readFile(p);
      b[10] ^= 0x01;
      await writeFile(p, b);
    };
    await flip(0, SNAPSHOT_FILE); // the first copy a reader tries
    await flip(2, SNAPSHOT_COPY);
    await rm(join(s.dirs[1]!, snapshotDir(h.id), SNAPSHOT_SUM));
    const r = await readSnapshotHeader(s.repo, h.id);
    assert.deepEqual(r.bytes, h.bytes);
    assert.deepEqual(r.damaged, [
      { store: 0, file: SNAPSHOT_FILE },
      { store: 1, file: SNAPSHOT_SUM },
      { store: 2, file: SNAPSHOT_COPY },
    ]);
    const fixed = await repairSnapshot(s.repo, h.id);
    assert.deepEqual(fixed.rewritten.map((f) => `${f.store}:${f.file}`).sort(), ['0:snapshot.json', '1:snapshot.b3', '2:snapshot.copy.json']);
    assert.deepEqual((await readSnapshotHeader(s.repo, h.id)).damaged, []);
    for (const dir of s.dirs) {
      for (const f of FILES) {
        const want = f === SNAPSHOT_SUM ? new TextEncoder().encode(snapshotSumText(h.id)) : h.bytes;
        assert.deepEqual(new Uint8Array(await readFile(join(dir, snapshotDir(h.id), f))), want, `${dir} ${f}`);
      }
    }
    assert.deepEqual((await repairSnapshot(s.repo, h.id)).rewritten, [], 'a healthy set is left alone');
  } finally {
    await s.cleanup();
  }
});

test('every copy damaged on every store is BF_SNAPSHOT_INVALID, and repair changes nothing', async () => {
  const s = await openStores(1);
  try {
    const h = header('photos', '2026-12-03T15:20:00.000Z');
    await writeSnapshotHeader(s.repo, h.id, h.bytes);
    for (const f of [SNAPSHOT_FILE, SNAPSHOT_COPY]) await writeFile(join(s.dirs[0]!, snapshotDir(h.id), f), '{"tampered":true}\n');
    assert.equal((await codeOf(() => readSnapshotHeader(s.repo, h.id))).code, 'BF_SNAPSHOT_INVALID');
    assert.equal((await codeOf(() => repairSnapshot(s.repo, h.id))).code, 'BF_SNAPSHOT_INVALID');
    assert.equal(await readFile(join(s.dirs[0]!, snapshotDir(h.id), SNAPSHOT_FILE), 'utf8'), '{"tampered":true}\n');
  } finally {
    await s.cleanup();
  }
});

for (const n of [1, 3]) {
  test(`delete removes snapshot.b3, then the copy, then snapshot.json on every store (${n} store(s)); a delete stopped after any step is skipped by readers`, async () => {
    const s = await openStores(n);
    try {
      const keep = header('photos', '2026-12-03T15:00:00.000Z');
      await writeSnapshotHeader(s.repo, keep.id, keep.bytes);
      const order: SnapshotFileName[] = [SNAPSHOT_SUM, SNAPSHOT_COPY, SNAPSHOT_FILE];
      for (let stop = 0; stop < order.length; stop++) {
        const h = header('photos', `2026-12-03T15:20:0${stop}.000Z`);
        await writeSnapshotHeader(s.repo, h.id, h.bytes);
        const crash = new Error('killed');
        const seen: SnapshotFileName[] = [];
        await assert.rejects(
          deleteSnapshotHeader(s.repo, h.id, {
            afterStep: (file) => {
              seen.push(file);
              // What is left on every store after this step: exactly the files not yet removed.
              const left = order.slice(seen.length);
              for (const dir of s.dirs) for (const f of FILES) assert.equal(existsSync(join(dir, snapshotDir(h.id), f)), left.includes(f), `${f} after ${file}`);
              if (seen.length === stop + 1) throw crash;
            },
          }),
          (e) => e === crash,
        );
        // Readers skip the half-deleted snapshot; prune (includeIncomplete) still counts it until snapshot.json is gone.
        assert.deepEqual(await listSnapshotIds(s.repo), [keep.id]);
        assert.equal((await codeOf(() => readSnapshotHeader(s.repo, h.id))).code, 'BF_ARCHIVE_NOT_FOUND');
        const half = order[stop] !== SNAPSHOT_FILE;
        assert.deepEqual(await listSnapshotIds(s.repo, { includeIncomplete: true }), half ? [keep.id, h.id].sort() : [keep.id]);
        if (half) {
          const r = await readSnapshotHeader(s.repo, h.id, { includeIncomplete: true });
          assert.equal(r.complete, false);
          assert.deepEqual(r.bytes, h.bytes);
          // Repair does not bring a snapshot being deleted back.
          assert.equal((await codeOf(() => repairSnapshot(s.repo, h.id))).code, 'BF_ARCHIVE_NOT_FOUND');
          assert.equal(existsSync(join(s.dirs[0]!, snapshotDir(h.id), SNAPSHOT_SUM)), false);
        }
        // Run again: it finishes, and leaves no directory behind.
        await deleteSnapshotHeader(s.repo, h.id);
        for (const dir of s.dirs) assert.equal(existsSync(join(dir, snapshotDir(h.id))), false);
        assert.deepEqual(await listSnapshotIds(s.repo, { includeIncomplete: true }), [keep.id]);
      }
      assert.deepEqual((await readSnapshotHeader(s.repo, keep.id)).damaged, [], 'the other snapshot is untouched');
    } finally {
      await s.cleanup();
    }
  });
}

test('a write that stopped before its snapshot.b3 is not a snapshot yet; stray names under snapshots/ are ignored', async () => {
  const s = await openStores(1);
  try {
    const h = header('photos', '2026-12-03T15:20:00.000Z');
    const base = join(s.dirs[0]!, snapshotDir(h.id));
    await writeSnapshotHeader(s.repo, h.id, h.bytes);
    await rm(join(base, SNAPSHOT_SUM));
    await rm(join(base, SNAPSHOT_FILE));
    await writeFile(join(s.dirs[0]!, 'snapshots', 'README'), 'not a snapshot');
    assert.deepEqual(await listSnapshotIds(s.repo), []);
    assert.deepEqual(await listSnapshotIds(s.repo, { includeIncomplete: true }), [h.id]);
    assert.equal((await codeOf(() => readSnapshotHeader(s.repo, h.id))).code, 'BF_ARCHIVE_NOT_FOUND');
    // The commit retried: the same bytes complete the set.
    await writeSnapshotHeader(s.repo, h.id, h.bytes);
    assert.deepEqual(await listSnapshotIds(s.repo), [h.id]);
  } finally {
    await s.cleanup();
  }
});

test('a store whose directory is gone: the header still reads from the others', async () => {
  const s = await openStores(3);
  try {
    const h = header('photos', '2026-12-03T15:20:00.000Z');
    await writeSnapshotHeader(s.repo, h.id, h.bytes);
    await rm(s.dirs[1]!, { recursive: true });
    await writeFile(s.dirs[1]!, 'a file where a store directory should be');
    const r = await readSnapshotHeader(s.repo, h.id);
    assert.deepEqual(r.bytes, h.bytes);
    assert.deepEqual(r.damaged.filter((d) => d.store !== 1), []);
  } finally {
    await s.cleanup();
  }
});
