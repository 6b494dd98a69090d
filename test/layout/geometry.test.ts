// Tier choice, stripe geometry, size parsing and archive names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { computeGeometry, segmentsForRange } from '../../src/layout/geometry.js';
import { chooseTier, DEFAULTS, GiB, MiB } from '../../src/layout/tiers.js';
import { parseSize } from '../../src/layout/units.js';
import { archiveDirName, safeNameComponent } from '../../src/layout/names.js';
import { isBlockFrameError } from '../../src/errors.js';

test('tiers follow the seed thresholds', () => {
  assert.equal(chooseTier(0).tier, 1);
  assert.equal(chooseTier(10 * MiB - 1).tier, 1);
  assert.equal(chooseTier(10 * MiB).tier, 2);
  assert.equal(chooseTier(GiB - 1).tier, 2);
  assert.equal(chooseTier(GiB).tier, 3);
  assert.equal(chooseTier(35 * GiB - 1).tier, 3);
  assert.equal(chooseTier(35 * GiB).tier, 4);
  assert.equal(chooseTier(5, DEFAULTS, 3).tier, 3);
  assert.equal(chooseTier(5, DEFAULTS, 4).tier, 4);
  assert.throws(() => chooseTier(5, DEFAULTS, 5), (e) => isBlockFrameError(e, 'BF_INVALID_TIER'));
  assert.throws(() => chooseTier(5, DEFAULTS, 0), (e) => isBlockFrameError(e, 'BF_INVALID_TIER'));
});

test('tier 1 is one segment with three parity files', () => {
  const g = computeGeometry({ tier: 1, size: 1234, segmentSize: 32 * MiB });
  assert.equal(g.stripes.length, 1);
  assert.deepEqual(g.stripes[0]!.segments.map((s) => s.path), ['data.dat']);
  assert.deepEqual(g.stripes[0]!.parity.map((p) => p.path), ['parity_0.dat', 'parity_1.dat', 'parity_2.dat']);
  assert.equal(g.stripes[0]!.shardSize, 1234);
});

test('tier 2 stripes are single segments; the last is short', () => {
  const g = computeGeometry({ tier: 2, size: 2500, segmentSize: 1000 });
  assert.deepEqual(g.stripes.map((s) => s.segments[0]!.size), [1000, 1000, 500]);
  assert.equal(g.stripes[2]!.parity[1]!.path, 'parity/segment_2_parity_1.dat');
  assert.equal(g.stripes[2]!.shardSize, 500);
});

test('tier 3 blocks hold 30 segments with global numbering; the last block is short', () => {
  const g = computeGeometry({ tier: 3, size: 65 * 100 + 7, segmentSize: 100 });
  assert.equal(g.segmentCount, 66);
  assert.equal(g.stripes.length, 3);
  assert.equal(g.stripes[1]!.segments[0]!.path, 'blocks/block_1/segments/segment_30.dat');
  assert.equal(g.stripes[2]!.segments.length, 6);
  assert.equal(g.stripes[2]!.dataShards, 30);
  assert.equal(g.stripes[2]!.segments.at(-1)!.size, 7);
  assert.equal(g.stripes[2]!.shardSize, 100);
  assert.equal(g.stripes[2]!.parity[2]!.path, 'blocks/block_2/parity/block_parity_2.dat');
});

test('an empty file has one empty segment in every tier', () => {
  for (const tier of [1, 2, 3, 4] as const) {
    const g = computeGeometry({ tier, size: 0, segmentSize: 64 });
    assert.equal(g.segmentCount, 1);
    assert.equal(g.stripes[0]!.shardSize, 0);
  }
});

test('segments tile the file exactly and range lookup returns the overlapping ones (property)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 20000 }), fc.integer({ min: 1, max: 3000 }), fc.constantFrom(1, 2, 3, 4), fc.nat(), fc.nat(), (size, seg, tier, a, b) => {
      const g = computeGeometry({ tier: tier as 1 | 2 | 3 | 4, size, segmentSize: seg });
      const segs = g.stripes.flatMap((s) => s.segments);
      let pos = 0;
      for (const s of segs) {
        assert.equal(s.offset, pos);
        pos += s.size;
      }
      assert.equal(pos, size);
      const off = size ? a % size : 0;
      const len = size ? b % (size - off + 1) : 0;
      const hit = segmentsForRange(g, off, len).map((s) => s.index);
      const expect = segs.filter((s) => len > 0 && s.offset < off + len && s.offset + s.size > off).map((s) => s.index);
      assert.deepEqual(hit, expect);
    }),
  );
});

test('sizes parse with binary suffixes and reject junk', () => {
  assert.equal(parseSize('4096'), 4096);
  assert.equal(parseSize('64KiB'), 65536);
  assert.equal(parseSize('32 MiB'), 32 * MiB);
  assert.equal(parseSize('1gib'), GiB);
  for (const bad of ['', 'abc', '1.5MiB', '-1', '12MB', '10 XiB']) {
    assert.throws(() => parseSize(bad), (e) => isBlockFrameError(e, 'BF_INVALID_SIZE'), bad);
  }
});

test('archive names never contain separators or start with a dot', () => {
  const h = 'a'.repeat(64);
  for (const evil of ['../../etc/passwd', '..', '.', '/abs/path', 'a\\b', 'x\u0000y', '.hidden', '-rf', 'ünï cödé.txt']) {
    const d = archiveDirName(evil, h);
    assert.ok(!d.includes('/') && !d.includes('\\') && !d.includes('\u0000'), d);
    assert.ok(!d.startsWith('.'), d);
    assert.ok(d.endsWith(`_${h}`));
  }
  assert.equal(safeNameComponent('-rf'), '-rf');
  assert.equal(safeNameComponent('ünï cödé.txt'), 'ünï cödé.txt');
  assert.ok(new TextEncoder().encode(safeNameComponent('é'.repeat(300))).length <= 190);
});
