// The version-3 catalog keys (docs/FORMAT.md §13.10): spelled as the layout says, parsed back, and the top-level
// names a version-2 listing must skip.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  isV3TopLevel, lockKey, LOCKS_PREFIX, nameRecordKey, NAMES_PREFIX, parseLockKey, parseNameRecordKey, parseSnapshotKey,
  snapshotDir, snapshotKey, SNAPSHOT_COPY, SNAPSHOT_FILE, SNAPSHOT_SUM, SNAPSHOTS_PREFIX,
} from '../../src/layout/keys.js';

const ID = 'ab'.repeat(32);

test('snapshot, name record and lock keys are spelled as docs/FORMAT.md §13.10 lays them out, and parse back', () => {
  assert.equal(snapshotDir(ID), `snapshots/${ID}`);
  assert.deepEqual([SNAPSHOT_FILE, SNAPSHOT_COPY, SNAPSHOT_SUM], ['snapshot.json', 'snapshot.copy.json', 'snapshot.b3']);
  assert.equal(snapshotKey(ID), `snapshots/${ID}/snapshot.json`);
  assert.equal(snapshotKey(ID, SNAPSHOT_SUM), `snapshots/${ID}/snapshot.b3`);
  assert.ok(snapshotKey(ID).startsWith(SNAPSHOTS_PREFIX));
  for (const f of [SNAPSHOT_FILE, SNAPSHOT_COPY, SNAPSHOT_SUM] as const) assert.deepEqual(parseSnapshotKey(snapshotKey(ID, f)), { id: ID, file: f });
  for (const bad of [`snapshots/${ID}/other.json`, `snapshots/${ID.toUpperCase()}/snapshot.json`, `snapshots/${ID}/`, `snapshots/x/snapshot.json`, `x/snapshots/${ID}/snapshot.json`]) assert.equal(parseSnapshotKey(bad), null, bad);
  assert.equal(nameRecordKey(ID), `catalog/names/${ID}.json`);
  assert.ok(nameRecordKey(ID).startsWith(NAMES_PREFIX));
  assert.equal(parseNameRecordKey(nameRecordKey(ID)), ID);
  assert.equal(parseNameRecordKey('catalog/names/readme.txt'), null);
  assert.equal(lockKey('0f'.repeat(16)), `locks/${'0f'.repeat(16)}.json`);
  assert.ok(lockKey('00').startsWith(LOCKS_PREFIX));
  assert.equal(parseLockKey(lockKey('0f'.repeat(16))), '0f'.repeat(16));
  assert.equal(parseLockKey('locks/notes.json'), null);
});

test('isV3TopLevel names exactly packs, blobs, snapshots, catalog, index and locks', () => {
  for (const n of ['packs', 'blobs', 'snapshots', 'catalog', 'index', 'locks']) assert.equal(isV3TopLevel(n), true, n);
  for (const n of ['pack', 'snapshots_' + ID, 'photo.jpg_' + ID, '.s3', '.staging', 'Locks', '']) assert.equal(isV3TopLevel(n), false, n);
});
