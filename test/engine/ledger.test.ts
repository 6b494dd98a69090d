// The scrub ledger's pruning: entries of archives that are gone are removed, the others kept (table-driven).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Ledger, type LedgerEntry } from '../../src/engine/ledger.js';
import { tempDir } from '../helpers/fixtures.js';

const entry = (dir: string): LedgerEntry => ({ v: 1, dir, root: 'r', stripes: 1, bytes: 64, proofs: [[0, 0, 1]], lost: [], margin: 3, created: 1 });

test('Ledger.prune removes exactly the entries of archives not kept (the kept set is held as 48-bit digests)', async () => {
  const { dir, cleanup } = await tempDir('bf-ledger-');
  try {
    const cases = [
      { all: ['a_1', 'b_2', 'c_3'], keep: ['a_1', 'c_3'], removed: 1 },
      { all: ['x_1', 'y_2'], keep: [] as string[], removed: 2 },
      { all: ['p_1', 'q_2'], keep: ['p_1', 'q_2', 'r_3'], removed: 0 },
    ];
    for (const [i, c] of cases.entries()) {
      const l = new Ledger(join(dir, `l${i}`));
      assert.equal(await l.prune(c.keep), 0, 'an empty ledger has nothing to prune');
      for (const d of c.all) await l.write(entry(d));
      assert.equal(await l.prune(new Set(c.keep)), c.removed);
      for (const d of c.all) assert.equal((await l.read(d)) !== null, c.keep.includes(d), `${d}: kept iff listed`);
    }
  } finally {
    await cleanup();
  }
});
