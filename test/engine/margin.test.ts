// Margin: how many more shard losses an archive survives, checked against the recovery planner on real manifests.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ComputePool, commit } from '../../src/index.js';
import { codeLayout, planRecovery, type CodeLayout } from '../../src/layout/code.js';
import { archiveMargin } from '../../src/layout/margin.js';
import { prng, runCli, tempDir, writeRandomFile } from '../helpers/fixtures.js';
import { sample } from '../helpers/faults.js';

let root: string;
let cleanup: () => Promise<void>;
let pool: ComputePool;
const codes = new Map<string, CodeLayout>();

before(async () => {
  ({ dir: root, cleanup } = await tempDir('bf-margin-'));
  pool = ComputePool.start();
  const archive = join(root, 'a');
  await mkdir(archive);
  const cases: [string, number, number, number][] = [
    ['t1', 1, 5000, 0],
    ['t3', 3, 40 * 4096 + 100, 4096],
    // 5 blocks of RS(30,3), level-2 groups of 2 and 3 blocks.
    ['t4', 4, (4 * 30 + 7) * 4096 - 1000, 4096],
  ];
  for (const [name, tier, size, seg] of cases) {
    const src = join(root, `${name}.bin`);
    await writeRandomFile(src, size, tier);
    const r = await commit(src, { archive, tier: tier as 1 | 3 | 4, ...(seg ? { segmentSize: seg } : {}), groupBlocks: 2, pool });
    codes.set(name, codeLayout(r.manifest));
  }
});

after(async () => {
  await pool.close();
  await cleanup();
});

/** The margin's promise, checked with the planner: any `margin` more losses are rebuilt; its witness is not. */
function checkAgainstPlanner(code: CodeLayout, lost: number[], tries: number, seed: number): number {
  const m = archiveMargin(code, lost);
  const rand = prng(seed);
  const alive = code.shards.map((s) => s.id).filter((n) => !lost.includes(n));
  for (let i = 0; i < tries; i++) {
    const more = sample(rand, alive, Math.min(m.margin, alive.length));
    assert.deepEqual(planRecovery(code, [...lost, ...more]).lost, [], `losing ${more} on top of ${lost} must be survivable (margin ${m.margin})`);
  }
  assert.equal(m.witness.length, m.margin + 1);
  assert.ok(planRecovery(code, [...lost, ...m.witness]).lost.length > 0, 'the witness (margin + 1 more) makes it unrecoverable');
  return m.margin;
}

describe('margin', () => {
  test('RS(1,3) and RS(30,3) archives survive 3 more losses, and one fewer for each shard already lost in the weakest stripe', () => {
    assert.equal(checkAgainstPlanner(codes.get('t1')!, [], 200, 1), 3);
    assert.equal(checkAgainstPlanner(codes.get('t1')!, [0], 200, 2), 2);
    const t3 = codes.get('t3')!;
    assert.equal(checkAgainstPlanner(t3, [], 500, 3), 3);
    // Two lost in block 1: that block sets the margin.
    const b1 = t3.stripes[1]!.slots.filter((s): s is number => s !== null);
    assert.equal(checkAgainstPlanner(t3, [b1[0]!, b1[1]!], 500, 4), 1);
    assert.equal(archiveMargin(t3, b1.slice(0, 4)).margin, -1, 'beyond repair');
  });

  test('Tier 4 counts level-2 help: 4 more losses anywhere are survivable, and a lost level-2 parity shard costs one', () => {
    const t4 = codes.get('t4')!;
    assert.equal(checkAgainstPlanner(t4, [], 3000, 5), 4);
    const l2 = t4.shards.find((s) => s.level === 2)!.id;
    assert.equal(checkAgainstPlanner(t4, [l2], 2000, 6), 3);
    // A block that lost 4 data shards (more than its m) still has a margin through level 2.
    const blk = t4.stripes[0]!.slots.slice(0, 4) as number[];
    const m = checkAgainstPlanner(t4, blk, 2000, 7);
    assert.ok(m >= 0);
  });

  test('verify --json and list --json give each archive its margin, and the total', async () => {
    const archive = join(root, 'a');
    const v = runCli(['verify', '--archive', archive, '--json']);
    assert.equal(v.status, 0, v.stderr);
    const doc = JSON.parse(v.stdout);
    assert.equal(doc.margin, 3);
    assert.deepEqual(doc.archives.map((a: { margin: number }) => a.margin).sort(), [3, 3, 4]);
    const ledger = join(root, 'ledger');
    const l = runCli(['list', '--archive', archive, '--json', '--ledger', ledger]);
    assert.equal(l.status, 0, l.stderr);
    const listed = JSON.parse(l.stdout);
    assert.equal(listed.margin, 3, 'the total: the smallest');
    assert.deepEqual(listed.archives.map((a: { margin: number; marginFrom: string }) => `${a.margin} ${a.marginFrom}`).sort(), ['3 manifest', '3 manifest', '4 manifest']);
    const text = runCli(['list', '--archive', archive, '--ledger', ledger]);
    assert.match(text.stdout, /^t4\.bin\t.*\tmargin 4 \(unchecked\)$/m);
    await rm(ledger, { recursive: true, force: true });
  });
});
