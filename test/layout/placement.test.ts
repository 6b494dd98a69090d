// Placement: the code chosen for N stores survives losing any f of them, with one spare shard (property test),
// and the pure table in docs/FORMAT.md §11.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { chooseCode, pathStores } from '../../src/layout/placement.js';
import { computeGeometry } from '../../src/layout/geometry.js';
import { isBlockFrameError } from '../../src/errors.js';
import type { Tier } from '../../src/layout/tiers.js';

test('the documented table: RS(15,17), RS(21,12), RS(23,9), RS(24,6), RS(21,3) for 2, 3, 4, 6 and 12 stores', () => {
  assert.deepEqual(
    [2, 3, 4, 6, 12].map((n) => chooseCode(3, n, 1)),
    [
      { k: 15, m: 17 },
      { k: 21, m: 12 },
      { k: 23, m: 9 },
      { k: 24, m: 6 },
      { k: 21, m: 3 },
    ],
  );
  assert.deepEqual(chooseCode(3, 1, 0), { k: 30, m: 3 }, 'one store: the single-directory default');
  assert.deepEqual(chooseCode(1, 4, 1), { k: 1, m: 3 });
});

test('failures >= stores is refused', () => {
  for (const [n, f] of [
    [1, 1],
    [2, 2],
    [4, 5],
  ]) {
    assert.throws(() => chooseCode(3, n!, f!), (e) => isBlockFrameError(e, 'BF_PLACEMENT_IMPOSSIBLE'));
  }
});

test('property: losing any f stores loses at most m - spare shards of any level-1 stripe, and Tier 3/4 keep a spare', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 16 }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n - 1 }))),
      fc.constantFrom<Tier>(1, 2, 3, 4),
      fc.integer({ min: 0, max: 3000 }),
      ([n, f], tier, segments) => {
        const { k, m } = chooseCode(tier, n, f);
        const size = segments * 1024 + (segments % 7);
        const g = computeGeometry({ tier, size, segmentSize: 1024, blockSegments: k, parityShards: m, groupBlocks: 3 });
        const where = pathStores(g, n);
        for (const st of g.stripes) {
          const per = new Array<number>(n).fill(0);
          for (const p of [...st.segments.map((s) => s.path), ...st.parity.map((p) => p.path)]) per[where.get(p)!]!++;
          per.sort((a, b) => b - a);
          const worst = per.slice(0, f).reduce((a, b) => a + b, 0);
          assert.ok(worst <= m, `${n} stores, f=${f}, tier ${tier}: worst ${worst} > m=${m}`);
          if (tier >= 3 && f > 0 && n > 1 && (n - f) * Math.max(1, Math.floor(33 / n)) >= 2) assert.ok(worst <= m - 1, 'a spare shard is left');
        }
        // Every shard has exactly one store.
        assert.equal(where.size, g.stripes.reduce((x, st) => x + st.segments.length + st.parity.length, 0) + g.level2.reduce((x, st) => x + st.parity.length, 0));
      },
    ),
    { numRuns: 300, seed: 99 },
  );
});
