// Name records (docs/FORMAT.md §13.4) on real directories as stores: append, remove, resolve NAME and NAME@PREFIX,
// damaged copies, concurrent appends under the local lock, and rebuild from the snapshot headers.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { appendSnapshot, nameHash, parseSnapshotSpec, readNameRecord, rebuildNames, removeSnapshot, resolveSnapshot, listNameRecords } from '../../src/archive/names.js';
import { deleteSnapshotHeader, writeSnapshotHeader } from '../../src/archive/snapshots.js';
import { nameRecordKey } from '../../src/layout/keys.js';
import type { Repository } from '../../src/archive/repo.js';
import { codeOf, header, openStores } from './catalog-helpers.js';

/** Write a snapshot header of `name` at `createdAt` and append it to the name's record, as a commit does. */
async function commitSnap(repo: Repository, name: string, createdAt: string): Promise<string> {
  const h = header(name, createdAt);
  await writeSnapshotHeader(repo, h.id, h.bytes);
  await appendSnapshot(repo, name, { id: h.id, created_at: createdAt });
  return h.id;
}

function recordPath(dir: string, name: string): string {
  return join(dir, nameRecordKey(nameHash(name)));
}

test('name records: the key is the SHA-256 of the name, the record is the same on every store, and NAME resolves to the latest by created_at', async () => {
  const s = await openStores(3);
  try {
    const b = await commitSnap(s.repo, 'photos', '2026-12-03T12:00:00.000Z');
    const c = await commitSnap(s.repo, 'photos', '2026-12-03T13:00:00.000Z');
    const a = await commitSnap(s.repo, 'photos', '2026-12-03T11:00:00.000Z'); // appended last, but the oldest
    assert.equal(nameHash('photos'), createHash('sha256').update('photos').digest('hex'));
    const texts = await Promise.all(s.dirs.map((d) => readFile(recordPath(d, 'photos'), 'utf8')));
    assert.equal(new Set(texts).size, 1, 'one record, byte-identical on every store');
    const rec = JSON.parse(texts[0]!);
    assert.deepEqual(Object.keys(rec), ['format_version', 'kind', 'name', 'snapshots']);
    assert.equal(rec.format_version, 3);
    assert.equal(rec.kind, 'name');
    assert.deepEqual(rec.snapshots.map((x: { id: string }) => x.id), [a, b, c]);
    assert.deepEqual(await resolveSnapshot(s.repo, 'photos'), { name: 'photos', id: c, created_at: '2026-12-03T13:00:00.000Z' });
    // Appending the same id again changes nothing.
    await appendSnapshot(s.repo, 'photos', { id: c, created_at: '2026-12-03T13:00:00.000Z' });
    assert.equal((await readNameRecord(s.repo, 'photos')).record!.snapshots.length, 3);
    assert.deepEqual((await listNameRecords(s.repo)).records.map((r) => r.name), ['photos']);
  } finally {
    await s.cleanup();
  }
});

test('NAME@PREFIX resolves the one snapshot whose id starts with PREFIX; a shared prefix is BF_AMBIGUOUS_NAME, none BF_ARCHIVE_NOT_FOUND', async () => {
  const s = await openStores(1);
  try {
    // Seventeen snapshots: two of them share their first hex digit.
    const ids: string[] = [];
    for (let i = 0; i < 17; i++) ids.push(await commitSnap(s.repo, 'docs', `2026-12-03T10:${String(i).padStart(2, '0')}:00.000Z`));
    const byDigit = new Map<string, string[]>();
    for (const id of ids) byDigit.set(id[0]!, [...(byDigit.get(id[0]!) ?? []), id]);
    const [digit, shared] = [...byDigit].find(([, v]) => v.length > 1)!;
    const amb = await codeOf(() => resolveSnapshot(s.repo, `docs@${digit}`));
    assert.equal(amb.code, 'BF_AMBIGUOUS_NAME');
    assert.deepEqual([...(amb.context.candidates as string[])].sort(), [...shared].sort());
    const one = shared[0]!;
    assert.equal((await resolveSnapshot(s.repo, `docs@${one.slice(0, 12)}`)).id, one);
    assert.equal((await resolveSnapshot(s.repo, `docs@${one}`)).id, one);
    const unused = '0123456789abcdef'.split('').find((d) => !byDigit.has(d));
    if (unused) assert.equal((await codeOf(() => resolveSnapshot(s.repo, `docs@${unused}`))).code, 'BF_ARCHIVE_NOT_FOUND');
    assert.equal((await codeOf(() => resolveSnapshot(s.repo, 'nobody'))).code, 'BF_ARCHIVE_NOT_FOUND');
    assert.equal((await codeOf(() => resolveSnapshot(s.repo, ''))).code, 'BF_USAGE');
    assert.equal((await codeOf(() => resolveSnapshot(s.repo, 'x'.repeat(4097)))).code, 'BF_USAGE');
  } finally {
    await s.cleanup();
  }
});

test('a name that itself ends in @hex still resolves; parseSnapshotSpec splits only at an @ followed by hex digits', async () => {
  const s = await openStores(1);
  try {
    assert.deepEqual(parseSnapshotSpec('me@home'), { name: 'me@home' });
    assert.deepEqual(parseSnapshotSpec('me@home@ab12'), { name: 'me@home', prefix: 'ab12' });
    const id = await commitSnap(s.repo, 'me@home', '2026-12-03T10:00:00.000Z');
    assert.equal((await resolveSnapshot(s.repo, 'me@home')).id, id);
    assert.equal((await resolveSnapshot(s.repo, `me@home@${id.slice(0, 6)}`)).id, id);
    const odd = await commitSnap(s.repo, 'build@cafe', '2026-12-03T10:00:00.000Z');
    assert.equal((await resolveSnapshot(s.repo, 'build@cafe')).id, odd, 'no record "build": the whole is the name');
  } finally {
    await s.cleanup();
  }
});

test('remove drops one id (the previous becomes the latest); the last one removed deletes the record on every store', async () => {
  const s = await openStores(3);
  try {
    const a = await commitSnap(s.repo, 'photos', '2026-12-03T11:00:00.000Z');
    const b = await commitSnap(s.repo, 'photos', '2026-12-03T12:00:00.000Z');
    await removeSnapshot(s.repo, 'photos', b);
    assert.equal((await resolveSnapshot(s.repo, 'photos')).id, a);
    await removeSnapshot(s.repo, 'photos', b); // again: nothing to do
    await removeSnapshot(s.repo, 'photos', a);
    for (const d of s.dirs) assert.equal(existsSync(recordPath(d, 'photos')), false);
    assert.equal((await codeOf(() => resolveSnapshot(s.repo, 'photos'))).code, 'BF_ARCHIVE_NOT_FOUND');
  } finally {
    await s.cleanup();
  }
});

test('a record naming a deleted (or half-deleted) snapshot: resolution skips it', async () => {
  const s = await openStores(3);
  try {
    const a = await commitSnap(s.repo, 'photos', '2026-12-03T11:00:00.000Z');
    const b = await commitSnap(s.repo, 'photos', '2026-12-03T12:00:00.000Z');
    // delete stopped after its first step: the header's sum is gone, the record still names b.
    await assert.rejects(deleteSnapshotHeader(s.repo, b, { afterStep: () => { throw new Error('killed'); } }));
    assert.equal((await resolveSnapshot(s.repo, 'photos')).id, a);
    assert.equal((await codeOf(() => resolveSnapshot(s.repo, `photos@${b.slice(0, 8)}`))).code, 'BF_ARCHIVE_NOT_FOUND');
    await deleteSnapshotHeader(s.repo, a);
    assert.equal((await codeOf(() => resolveSnapshot(s.repo, 'photos'))).code, 'BF_ARCHIVE_NOT_FOUND');
  } finally {
    await s.cleanup();
  }
});

test('a damaged record on one store is reported and the others used; the next write heals it; damaged everywhere is BF_NAME_RECORD_INVALID', async () => {
  const s = await openStores(3);
  try {
    const a = await commitSnap(s.repo, 'photos', '2026-12-03T11:00:00.000Z');
    await writeFile(recordPath(s.dirs[1]!, 'photos'), '{"format_version":3,"kind":"name","name":"photos","snapshots":[{"id":"zz"}]}');
    await rm(recordPath(s.dirs[2]!, 'photos'));
    const r = await readNameRecord(s.repo, 'photos');
    assert.deepEqual(r.record!.snapshots.map((x) => x.id), [a]);
    assert.deepEqual(r.damaged.map((d) => d.store), [1, 2]);
    const b = await commitSnap(s.repo, 'photos', '2026-12-03T12:00:00.000Z');
    const healed = await readNameRecord(s.repo, 'photos');
    assert.deepEqual(healed.damaged, []);
    assert.deepEqual(healed.record!.snapshots.map((x) => x.id), [a, b]);
    // A copy that missed an append (a stale one) is reported too, and its snapshots are not lost.
    const old = await readFile(recordPath(s.dirs[0]!, 'photos'), 'utf8');
    const c = await commitSnap(s.repo, 'photos', '2026-12-03T13:00:00.000Z');
    await writeFile(recordPath(s.dirs[0]!, 'photos'), old);
    const stale = await readNameRecord(s.repo, 'photos');
    assert.deepEqual(stale.damaged.map((d) => d.store), [0]);
    assert.equal((await resolveSnapshot(s.repo, 'photos')).id, c);
    for (const d of s.dirs) await writeFile(recordPath(d, 'photos'), 'not json');
    assert.equal((await codeOf(() => readNameRecord(s.repo, 'photos'))).code, 'BF_NAME_RECORD_INVALID');
    // A record whose name is another's (copied to the wrong key) is damage, not an answer.
    await writeFile(recordPath(s.dirs[0]!, 'photos'), JSON.stringify({ format_version: 3, kind: 'name', name: 'other', snapshots: [] }));
    assert.equal((await codeOf(() => readNameRecord(s.repo, 'photos'))).code, 'BF_NAME_RECORD_INVALID');
  } finally {
    await s.cleanup();
  }
});

test('twenty appends to one name at once all land: the local lock of section 9.2 serializes them', async () => {
  const s = await openStores(3);
  try {
    const hs = Array.from({ length: 20 }, (_, i) => header('busy', `2026-12-03T10:00:${String(i).padStart(2, '0')}.000Z`));
    for (const h of hs) await writeSnapshotHeader(s.repo, h.id, h.bytes);
    await Promise.all(hs.map((h, i) => appendSnapshot(s.repo, 'busy', { id: h.id, created_at: `2026-12-03T10:00:${String(i).padStart(2, '0')}.000Z` })));
    const r = await readNameRecord(s.repo, 'busy');
    assert.deepEqual(r.record!.snapshots.map((x) => x.id), hs.map((h) => h.id));
    assert.deepEqual(r.damaged, []);
  } finally {
    await s.cleanup();
  }
});

test('rebuildNames after the records are deleted: the same records come back from the headers; a record no header backs is removed', async () => {
  const s = await openStores(3);
  try {
    await commitSnap(s.repo, 'photos', '2026-12-03T11:00:00.000Z');
    await commitSnap(s.repo, 'photos', '2026-12-03T12:00:00.000Z');
    await commitSnap(s.repo, 'mail', '2026-12-03T11:30:00.000Z');
    const tie = header('photos', '2026-12-03T12:00:00.000Z', { entries: 1 }); // same created_at: ordered by id
    await writeSnapshotHeader(s.repo, tie.id, tie.bytes);
    await appendSnapshot(s.repo, 'photos', { id: tie.id, created_at: '2026-12-03T12:00:00.000Z' });
    const before = await Promise.all(['photos', 'mail'].map((n) => readFile(recordPath(s.dirs[0]!, n), 'utf8')));
    for (const d of s.dirs) await rm(join(d, 'catalog'), { recursive: true });
    // A stale record: its only snapshot is gone.
    const ghost = header('ghost', '2026-12-03T09:00:00.000Z');
    await appendSnapshot(s.repo, 'ghost', { id: ghost.id, created_at: '2026-12-03T09:00:00.000Z' });
    const r = await rebuildNames(s.repo);
    assert.deepEqual(r.written, ['mail', 'photos']);
    assert.deepEqual(r.removed, [nameRecordKey(nameHash('ghost'))]);
    assert.deepEqual(r.unreadable, []);
    for (const d of s.dirs) {
      assert.deepEqual(await Promise.all(['photos', 'mail'].map((n) => readFile(recordPath(d, n), 'utf8'))), before);
      assert.equal(existsSync(recordPath(d, 'ghost')), false);
    }
    // A caller's own header parser (layout/snapshot.ts) is used when given.
    const seen: number[] = [];
    await rebuildNames(s.repo, { parse: (bytes) => (seen.push(bytes.length), JSON.parse(new TextDecoder().decode(bytes))) });
    assert.equal(seen.length, 4);
  } finally {
    await s.cleanup();
  }
});

test('rebuildNames with an unreadable header reports it and removes no record', async () => {
  const s = await openStores(1);
  try {
    const a = await commitSnap(s.repo, 'photos', '2026-12-03T11:00:00.000Z');
    const bad = header('mail', '2026-12-03T11:00:00.000Z');
    await writeSnapshotHeader(s.repo, bad.id, bad.bytes);
    await appendSnapshot(s.repo, 'mail', { id: bad.id, created_at: '2026-12-03T11:00:00.000Z' });
    for (const f of ['snapshot.json', 'snapshot.copy.json']) await writeFile(join(s.dirs[0]!, 'snapshots', bad.id, f), 'damaged');
    const r = await rebuildNames(s.repo);
    assert.deepEqual(r.unreadable.map((u) => [u.id, u.code]), [[bad.id, 'BF_SNAPSHOT_INVALID']]);
    assert.deepEqual(r.removed, []);
    assert.ok(existsSync(recordPath(s.dirs[0]!, 'mail')), 'the record of the unreadable snapshot stays');
    assert.equal((await resolveSnapshot(s.repo, 'photos')).id, a);
  } finally {
    await s.cleanup();
  }
});
