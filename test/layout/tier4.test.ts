// Tier 4 geometry (groups, level-2 stripes, overhead for the default geometry) and the repair plan (peeling order).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { computeGeometry, parityOverhead, splitGroups, type Geometry } from '../../src/layout/geometry.js';
import { codeLayout, planRecovery, type CodeLayout } from '../../src/layout/code.js';
import { DEFAULTS, GiB, MiB } from '../../src/layout/tiers.js';
import type { Manifest } from '../../src/layout/manifest.js';

test('groups split the blocks into runs of target..2*target-1 (one group when there are fewer)', () => {
  for (const blocks of [1, 5, 23, 24, 25, 47, 48, 49, 71, 72, 100, 1000]) {
    const groups = splitGroups(blocks, 24);
    assert.equal(groups.length, Math.max(1, Math.floor(blocks / 24)), `${blocks} blocks`);
    let next = 0;
    for (const g of groups) {
      assert.equal(g.firstBlock, next);
      next += g.blocks;
      if (blocks >= 24) assert.ok(g.blocks >= 24 && g.blocks <= 47, `${blocks} blocks: group of ${g.blocks}`);
    }
    assert.equal(next, blocks);
    const sizes = groups.map((g) => g.blocks);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, 'groups are balanced');
  }
});

test('level-2 stripes: one per (group, position), members are that position in each block of the group', () => {
  // 5 blocks of 30 segments, the last one with 7: groups of target 2 are blocks [0,2) and [2,5).
  const g = computeGeometry({ tier: 4, size: (4 * 30 + 7) * 100 - 1, segmentSize: 100, groupBlocks: 2 });
  assert.deepEqual(g.groups, [
    { index: 0, firstBlock: 0, blocks: 2 },
    { index: 1, firstBlock: 2, blocks: 3 },
  ]);
  assert.equal(g.level2.length, 60);
  const st = g.level2.find((s) => s.group === 1 && s.position === 6)!;
  assert.deepEqual(st.members.map((m) => m?.index), [66, 96, 126]);
  assert.equal(st.shardSize, 100);
  assert.equal(st.dataShards, 3);
  assert.equal(st.parity[0]!.path, 'level2/group_1/position_6_parity_0.dat');
  // Positions the short last block does not reach have a null member (zeros).
  const past = g.level2.find((s) => s.group === 1 && s.position === 7)!;
  assert.deepEqual(past.members.map((m) => m?.index ?? null), [67, 97, null]);
  // A level-2 stripe is as long as its longest member: the file's last segment is 99 bytes.
  assert.equal(g.stripes[4]!.segments.at(-1)!.size, 99);
  // Level 1 is exactly Tier 3's layout.
  const t3 = computeGeometry({ tier: 3, size: g.size, segmentSize: 100 });
  assert.deepEqual(g.stripes, t3.stripes);
  assert.deepEqual(t3.level2, []);
});

test('a one-block Tier 4 file has level-2 stripes only where the block has segments', () => {
  const g = computeGeometry({ tier: 4, size: 450, segmentSize: 100 });
  assert.equal(g.groups.length, 1);
  assert.deepEqual(
    g.level2.map((s) => s.position),
    [0, 1, 2, 3, 4],
  );
});

test('default geometry: Tier 4 overhead stays within 11-15% for every size from 35 GiB up', () => {
  const seg = DEFAULTS.segmentSize;
  const check = (size: number): number => {
    const o = parityOverhead(computeGeometry({ tier: 4, size, segmentSize: seg }));
    assert.ok(o >= 0.11 && o <= 0.15, `${(size / GiB).toFixed(3)} GiB: overhead ${(o * 100).toFixed(2)}%`);
    return o;
  };
  // Every block count over the first three group boundaries, with the last block full, half full or one byte.
  let lo = 1;
  let hi = 0;
  for (let blocks = 38; blocks <= 24 * 4 + 2; blocks++) {
    for (const tail of [seg * 30, seg * 15, 1]) {
      const size = (blocks - 1) * 30 * seg + tail;
      if (size < DEFAULTS.tier4Threshold) continue;
      const o = check(size);
      lo = Math.min(lo, o);
      hi = Math.max(hi, o);
    }
  }
  assert.ok(lo > 0.12 && hi < 0.147, `range ${lo} .. ${hi}`);
  fc.assert(
    fc.property(fc.integer({ min: DEFAULTS.tier4Threshold, max: 2 ** 40 }), (size) => {
      check(size);
    }),
    { numRuns: 40 },
  );
  // Level 2 is what Tier 4 adds over Tier 3 at the same size.
  const size = 35 * GiB + 5 * MiB;
  const t3 = parityOverhead(computeGeometry({ tier: 3, size, segmentSize: seg }));
  assert.ok(t3 > 0.1 && t3 < 0.105);
});

/** A manifest with the geometry's shape; hashes are placeholders (the plan only looks at shard ids). */
function fakeManifest(g: Geometry): Manifest {
  const h = '0'.repeat(64);
  return {
    tier: g.tier,
    size: g.size,
    segment_size: g.segmentSize,
    erasure_coding: { type: 'reed-solomon', field: 'gf(2^8)/0x11d', matrix: 'cauchy-normalized-v1', data_shards: 30, parity_shards: 3 },
    chunk_index: { path: 'chunks.idx', chunk_size: 1024 },
    stripes: g.stripes.map((st) => ({
      index: st.index,
      shard_size: st.shardSize,
      data: st.segments.map((s) => ({ ...s, hash: h })),
      parity: st.parity.map((p) => ({ ...p, hash: h })),
      chunks_hash: h,
    })),
    level2: {
      group_blocks: 2,
      parity_shards: 1,
      stripes: g.level2.map((st) => ({ index: st.index, group: st.group, position: st.position, shard_size: st.shardSize, parity: st.parity.map((p) => ({ ...p, hash: h })), chunks_hash: h })),
    },
  } as unknown as Manifest;
}

// 5 blocks (the last with 7 segments) in groups [0,1] and [2,3,4].
const CODE = codeLayout(fakeManifest(computeGeometry({ tier: 4, size: (4 * 30 + 7) * 100, segmentSize: 100, groupBlocks: 2 })));
const shardOf = (path: string): number => CODE.shards.findIndex((s) => s.path === path);
const seg = (block: number, pos: number) => shardOf(`blocks/block_${block}/segments/segment_${block * 30 + pos}.dat`);
const bpar = (block: number, j: number) => shardOf(`blocks/block_${block}/parity/block_parity_${j}.dat`);
const l2 = (group: number, pos: number) => shardOf(`level2/group_${group}/position_${pos}_parity_0.dat`);

test('code layout: every shard once, level-1 shards first in Merkle order, each shard in its stripes', () => {
  assert.equal(CODE.shards.length, 4 * 33 + 10 + 60);
  assert.equal(new Set(CODE.shards.map((s) => s.path)).size, CODE.shards.length);
  assert.deepEqual(CODE.stripesOf[seg(3, 5)]!.map((si) => CODE.stripes[si]!.label), ['block 3', 'level-2 group 1 position 5']);
  assert.deepEqual(CODE.stripesOf[bpar(0, 1)]!.map((si) => CODE.stripes[si]!.label), ['block 0']);
  assert.deepEqual(CODE.stripesOf[l2(1, 8)]!.map((si) => CODE.stripes[si]!.label), ['level-2 group 1 position 8']);
  const last = CODE.stripes.find((s) => s.label === 'level-2 group 1 position 8')!;
  assert.deepEqual(last.slots, [seg(2, 8), seg(3, 8), null, l2(1, 8)]);
});

test('plan: level 1 first; level 2 only rebuilds what a block cannot, one stripe at a time', () => {
  const lost = [seg(0, 1), seg(0, 2), seg(0, 3), seg(0, 4), seg(0, 5), bpar(1, 0)];
  const p = planRecovery(CODE, lost);
  assert.deepEqual(p.lost, []);
  assert.deepEqual(
    p.steps.map((s) => s.via),
    ['block 1', 'level-2 group 0 position 1', 'level-2 group 0 position 2', 'block 0'],
  );
  assert.deepEqual(p.steps.at(-1)!.shards, [seg(0, 3), seg(0, 4), seg(0, 5)]);
});

test('plan for one target (the reader): the stripe that rebuilds it at once, and nothing more', () => {
  const lost = [seg(0, 1), seg(0, 2), seg(0, 3), seg(0, 4), seg(0, 5)];
  const p = planRecovery(CODE, lost, seg(0, 3));
  assert.deepEqual(p.steps.map((s) => s.via), ['level-2 group 0 position 3']);
  assert.ok(!p.lost.includes(seg(0, 3)));
  // Whether the target comes back never depends on the mode (property over random loss sets).
  const all = CODE.shards.map((s) => s.id);
  fc.assert(
    fc.property(fc.uniqueArray(fc.constantFrom(...all), { minLength: 1, maxLength: 40 }), (lost) => {
      const t = lost[0]!;
      assert.equal(planRecovery(CODE, lost, t).lost.includes(t), planRecovery(CODE, lost).lost.includes(t));
    }),
    { numRuns: 300 },
  );
});

test('plan: a whole lost block comes back through level 2; the same positions lost in two blocks of a group do not', () => {
  const block0 = CODE.stripes[0]!.slots.filter((s): s is number => s !== null);
  assert.deepEqual(planRecovery(CODE, block0).lost, []);
  const twice = [0, 1, 2, 3].flatMap((p) => [seg(0, p), seg(1, p)]);
  assert.deepEqual(planRecovery(CODE, twice).lost, [...twice].sort((a, b) => a - b));
  // Chains: block 0 lost 1-4, block 1 lost 1 and 5-7; column 2 frees block 0, which frees column 1 for block 1.
  const chain = [seg(0, 1), seg(0, 2), seg(0, 3), seg(0, 4), seg(1, 1), seg(1, 5), seg(1, 6), seg(1, 7)];
  assert.deepEqual(planRecovery(CODE, chain).lost, []);
  // Level-2 parity lost beside its column's segment: one such column is fine (level 1 covers it once the
  // other columns rebuilt enough of the block) ...
  const some = [seg(0, 1), seg(0, 2), seg(0, 3), seg(0, 4), l2(0, 1), l2(0, 2)];
  assert.deepEqual(planRecovery(CODE, some).lost, []);
  // ... but with every lost column's parity gone too, nothing can start.
  const all = [1, 2, 3, 4].flatMap((p) => [seg(0, p), l2(0, p)]);
  assert.deepEqual(planRecovery(CODE, all).lost, [...all].sort((a, b) => a - b));
});

test('plan (property): each step finds its stripe missing only what it rebuilds, and peeling stops only when stuck', () => {
  const all = CODE.shards.map((s) => s.id);
  fc.assert(
    fc.property(fc.uniqueArray(fc.constantFrom(...all), { maxLength: 40 }), (lost) => {
      const p = planRecovery(CODE, lost);
      const missing = new Set(lost);
      for (const step of p.steps) {
        const st = CODE.stripes[step.stripe]!;
        const gone = st.slots.filter((s) => s !== null && missing.has(s));
        assert.deepEqual(gone, step.shards);
        assert.ok(gone.length >= 1 && gone.length <= st.m);
        for (const s of gone) missing.delete(s!);
      }
      assert.deepEqual([...missing].sort((a, b) => a - b), p.lost);
      for (const st of CODE.stripes) {
        const gone = st.slots.filter((s) => s !== null && missing.has(s)).length;
        assert.ok(gone === 0 || gone > st.m, `${st.label} could still rebuild ${gone}`);
      }
    }),
    { numRuns: 300 },
  );
});

test('plan: Tiers 1-3 are level 1 only', () => {
  const g = computeGeometry({ tier: 3, size: 65 * 100, segmentSize: 100 });
  const code: CodeLayout = codeLayout({ ...fakeManifest(g), tier: 3, level2: undefined } as Manifest);
  assert.equal(code.stripes.length, 3);
  const lost = code.stripes[0]!.slots.slice(0, 4) as number[];
  assert.deepEqual(planRecovery(code, lost).lost, lost);
  assert.deepEqual(planRecovery(code, lost.slice(0, 3)).steps, [{ stripe: 0, shards: lost.slice(0, 3), via: 'block 0' }]);
});
