// The in-memory blob index (docs/FORMAT.md §13.5): every location found by hash, duplicates in load order, and at most 60 bytes per blob.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlobIndex } from '../../src/archive/blob-index.js';
import type { BlobEntry } from '../../src/layout/pack.js';
import { prng } from '../helpers/fixtures.js';

test('BlobIndex: 100,000 blobs in 50 packs, each found at its place, duplicates in load order, ≤ 60 bytes per blob', () => {
  const next = prng(11);
  const hex = () => Array.from({ length: 8 }, () => next().toString(16).padStart(8, '0')).join('');
  const idx = new BlobIndex();
  const want = new Map<string, { pack: string; offset: number; size: number }[]>();
  const packs: { pack: string; blobs: BlobEntry[] }[] = [];
  for (let p = 0; p < 50; p++) {
    const pack = hex();
    let offset = 0;
    const blobs: BlobEntry[] = [];
    for (let i = 0; i < 2000; i++) {
      const size = 1 + (next() % 100_000);
      blobs.push({ hash: hex(), offset, size });
      offset += size;
    }
    packs.push({ pack, blobs });
  }
  // A later pack repeats some blobs of the first (as a repack or a second commit would).
  const again = { pack: hex(), blobs: packs[0]!.blobs.slice(0, 10).map((b, i, a) => ({ ...b, offset: a.slice(0, i).reduce((s, x) => s + x.size, 0) })) };
  for (const p of [...packs, again]) {
    idx.addPack(p.pack, p.blobs);
    for (const b of p.blobs) want.set(b.hash, [...(want.get(b.hash) ?? []), { pack: p.pack, offset: b.offset, size: b.size }]);
  }
  idx.addArchive('a'.repeat(64), 20 * 1024 * 1024);
  idx.trim();
  assert.equal(idx.blobEntries, 100_010);
  assert.equal(idx.packCount, 51);
  for (const [hash, locs] of want) assert.deepEqual(idx.lookup(hash), locs.map((l) => ({ kind: 'pack', ...l })), hash);
  assert.deepEqual(idx.lookup('a'.repeat(64)), [{ kind: 'archive', hash: 'a'.repeat(64), size: 20 * 1024 * 1024 }]);
  assert.deepEqual(idx.lookup('0'.repeat(64)), []);
  assert.deepEqual(idx.lookup('not hex'), []);
  const perBlob = idx.heldBytes / idx.blobEntries;
  assert.ok(perBlob <= 60, `${perBlob.toFixed(1)} bytes per blob`);
});
