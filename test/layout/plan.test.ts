// The pure commit plan (layout/plan.ts): tier, code and geometry from size and stores, its refusals, and the
// manifest it builds (moved out of engine/commit.ts so a pack writer can plan without the verb).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildManifest, planArchive, type ShardHashes } from '../../src/layout/plan.js';
import { chooseTier } from '../../src/layout/tiers.js';
import { parseManifest, serializeManifest } from '../../src/layout/manifest.js';
import { isBlockFrameError } from '../../src/errors.js';

const codeOf = (fn: () => unknown) => {
  try {
    fn();
    return 'ok';
  } catch (e) {
    return isBlockFrameError(e) ? e.code : `uncoded ${String(e)}`;
  }
};

test('the plan takes the tier chooseTier picks, and a store set of 4 gets a placement', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 3 * 2 ** 30 }), fc.constantFrom(1, 4), (size, stores) => {
      const p = planArchive({ storedBytes: size, stores, failures: stores > 1 ? 1 : 0, segmentSize: 1 << 20 });
      assert.equal(p.tier, chooseTier(size).tier);
      assert.equal(p.geometry.size, size);
      assert.equal(p.placement === undefined, stores === 1);
    }),
    { seed: 1717, numRuns: 40 },
  );
});

test('bad settings are refused with their codes before anything is written', () => {
  assert.equal(codeOf(() => planArchive({ storedBytes: 10, stores: 1, failures: 0, groupBlocks: 0 })), 'BF_USAGE');
  assert.equal(codeOf(() => planArchive({ storedBytes: 10, stores: 1, failures: 0, segmentSize: 100 })), 'BF_INVALID_SIZE');
  assert.equal(codeOf(() => planArchive({ storedBytes: 10, stores: 1, failures: 0, tier: 7 as never })), 'BF_INVALID_TIER');
  assert.equal(codeOf(() => planArchive({ storedBytes: 10, stores: 2, failures: 2 })), 'BF_PLACEMENT_IMPOSSIBLE');
});

test('buildManifest makes a manifest that parses, with the given time and hashes in shard order', () => {
  const p = planArchive({ storedBytes: 3 * 2 ** 20 + 5, stores: 1, failures: 0, tier: 3, segmentSize: 1 << 20 });
  const hex = (n: number) => n.toString(16).padStart(64, '0');
  let n = 0;
  const h: ShardHashes = {
    data: p.geometry.stripes.map((st) => st.segments.map(() => hex(n++))),
    parity: p.geometry.stripes.map((st) => st.parity.map(() => hex(n++))),
    chunks: p.geometry.stripes.map(() => hex(n++)),
    level2Parity: [],
    level2Chunks: [],
    original: hex(999),
  };
  const m = buildManifest(p, h, { name: 'x.bin', size: 3 * 2 ** 20 + 5, source: { mode: 0o644, mtime: '2026-01-01T00:00:00.000Z' }, transformed: null, createdAt: '2026-12-03T00:00:00.000Z', generator: 'blockframe test' });
  const back = parseManifest(serializeManifest(m));
  assert.equal(back.created_at, '2026-12-03T00:00:00.000Z');
  assert.equal(back.original_hash, hex(999));
  assert.equal(back.stripes[0]!.data[0]!.hash, hex(0));
  assert.equal(back.tier, 3);
  assert.equal(back.erasure_coding.data_shards + back.erasure_coding.parity_shards, p.geometry.stripes[0]!.dataShards + p.geometry.stripes[0]!.parityShards);
});
