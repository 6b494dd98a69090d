// Tier 4 on real archives: loss patterns Tier 3 cannot survive (4+ shards of a block, whole blocks) are read and
// repaired byte-exact through level 2; patterns beyond the design fail cleanly with nothing changed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ComputePool, commit, read, repair, restore, verify } from '../../src/index.js';
import { isBlockFrameError } from '../../src/errors.js';
import { computeGeometry, parityOverhead } from '../../src/layout/geometry.js';
import { manifestGeometry, parseManifest, serializeManifest, type Manifest } from '../../src/layout/manifest.js';
import { chooseTier, DEFAULTS, MiB } from '../../src/layout/tiers.js';
import { prng, tempDir, writeRandomFile } from '../helpers/fixtures.js';
import { cloneRoot, DAMAGE_KINDS, injure, pick, rows, runCliRaw, sample, snapshot, type Entry } from '../helpers/faults.js';

const SEG = 4096;
// 5 blocks, the last with 7 segments (the last one 3096 bytes); level-2 groups (target 2) are blocks {0,1} and {2,3,4}.
const SIZE = (4 * 30 + 7) * SEG - 1000;

let root: string;
let cleanup: () => Promise<void>;
let pool: ComputePool;
let pristine: string;
let dir: string;
let data: Uint8Array;
let manifest: Manifest;
let pristineSnap: Map<string, Entry>;
let caseNo = 0;

const segPath = (block: number, pos: number) => `blocks/block_${block}/segments/segment_${block * 30 + pos}.dat`;
const parPath = (block: number, j: number) => `blocks/block_${block}/parity/block_parity_${j}.dat`;
const l2Path = (group: number, pos: number) => `level2/group_${group}/position_${pos}_parity_0.dat`;
const blockFiles = (block: number) => [...manifest.stripes[block]!.data.map((d) => d.path), ...manifest.stripes[block]!.parity.map((p) => p.path)];

before(async () => {
  ({ dir: root, cleanup } = await tempDir('bf-tier4-'));
  pool = ComputePool.start();
  const src = join(root, 't4.bin');
  data = await writeRandomFile(src, SIZE, 4004);
  pristine = join(root, 'pristine');
  const r = await commit(src, { archive: pristine, tier: 4, segmentSize: SEG, groupBlocks: 2, pool });
  assert.equal(r.tier, 4);
  ({ dir, manifest } = r);
  assert.equal(manifest.stripes.length, 5);
  assert.equal(manifest.stripes[4]!.data.length, 7);
  assert.equal(manifest.level2!.stripes.length, 60);
  pristineSnap = await snapshot(join(pristine, dir));
});

after(async () => {
  await pool.close();
  await cleanup();
});

/** Independent oracle: a block rebuilds once it lost <= 3 shards, a level-2 column once it lost <= 1; repeat. */
function oracleLost(lost: Set<string>): Set<string> {
  const left = new Set(lost);
  const stripes = [
    ...manifest.stripes.map((st) => ({ m: 3, files: [...st.data.map((d) => d.path), ...st.parity.map((p) => p.path)] })),
    ...manifest.level2!.stripes.map((st) => {
      const blocks = manifestGeometry(manifest).groups[st.group]!;
      const members = [];
      for (let b = blocks.firstBlock; b < blocks.firstBlock + blocks.blocks; b++) {
        const d = manifest.stripes[b]!.data[st.position];
        if (d) members.push(d.path);
      }
      return { m: 1, files: [...members, ...st.parity.map((p) => p.path)] };
    }),
  ];
  for (let changed = true; changed; ) {
    changed = false;
    for (const st of stripes) {
      const gone = st.files.filter((f) => left.has(f));
      if (gone.length > 0 && gone.length <= st.m) {
        for (const f of gone) left.delete(f);
        changed = true;
      }
    }
  }
  return left;
}

/** Segment byte ranges of the original file whose shard is among `paths`. */
function segmentsOf(paths: string[]): { offset: number; size: number }[] {
  const all = manifest.stripes.flatMap((st) => st.data);
  return all.filter((d) => paths.includes(d.path));
}

async function fresh(): Promise<{ caseRoot: string; adir: string; out: string }> {
  const caseRoot = join(root, `case-${++caseNo}`);
  await cloneRoot(pristine, caseRoot);
  return { caseRoot, adir: join(caseRoot, dir), out: join(root, `out-${caseNo}`) };
}

/** Damage `paths` (seeded kinds; 'delete' only when asked), then check verify, reads, restore and repair. */
async function runCase(paths: string[], seed: number, opts: { deleteOnly?: boolean; expect: 'repairable' | 'unrecoverable'; extra?: (adir: string) => Promise<void> }): Promise<void> {
  const rand = prng(seed);
  const { caseRoot, adir, out } = await fresh();
  const cloned = await snapshot(adir);
  for (const p of paths) await injure(adir, p, opts.deleteOnly ? 'delete' : pick(rand, DAMAGE_KINDS), rand);
  await opts.extra?.(adir);
  const ar = { archive: caseRoot, pool };
  assert.deepEqual(oracleLost(new Set(paths)).size === 0 ? 'repairable' : 'unrecoverable', opts.expect, 'the oracle agrees with the case');
  const v = await verify([], ar);
  const shardProblems = v.archives[0]!.problems.filter((p) => p.kind === 'missing' || p.kind === 'truncated' || p.kind === 'corrupt');
  assert.deepEqual(shardProblems.filter((p) => p.path !== 'chunks.idx').map((p) => p.path).sort(), [...paths].sort());
  assert.equal(v.status, opts.expect);
  if (opts.expect === 'repairable') {
    // Reads heal through either level before any repair: every damaged segment, and the whole file.
    for (const s of segmentsOf(paths)) {
      const from = Math.max(0, s.offset - 100);
      const to = Math.min(SIZE, s.offset + s.size + 100);
      assert.ok(Buffer.from(await read('t4.bin', from, to - from, ar)).equals(data.subarray(from, to)), `range ${from}-${to}`);
    }
    await restore('t4.bin', out, ar);
    assert.ok((await readFile(out)).equals(data), 'restored bytes');
    await rm(out);
    const r = await repair([], ar);
    assert.equal(r.status, 'healthy');
    const rebuilt = r.archives[0]!.actions.filter((a) => a.action === 'rebuild').map((a) => a.path);
    assert.deepEqual([...rebuilt].sort(), [...paths].sort());
    assert.equal((await verify([], ar)).status, 'healthy');
    // Byte-identical to the pristine archive; files that were never damaged were not touched.
    const after = await snapshot(adir);
    assert.deepEqual(
      rows(after).map((r) => r.split(' ').filter((_, i) => i !== 3).join(' ')),
      rows(pristineSnap).map((r) => r.split(' ').filter((_, i) => i !== 3).join(' ')),
    );
    for (const [p, e] of after) if (e.type === 'file' && !paths.includes(p) && p !== 'chunks.idx' && !p.startsWith('manifest')) assert.equal(e.mtimeMs, cloned.get(p)!.mtimeMs, p);
  } else {
    const before = rows(await snapshot(adir));
    const lost = [...oracleLost(new Set(paths))].sort();
    assert.deepEqual(v.archives[0]!.problems.filter((p) => !p.repairable).map((p) => p.path).sort(), lost);
    const dry = await repair([], { ...ar, dryRun: true });
    assert.equal(dry.archives[0]!.outcome, 'unrecoverable');
    const r = await repair([], ar);
    assert.equal(r.archives[0]!.outcome, 'unrecoverable');
    assert.deepEqual([...r.archives[0]!.lost].sort(), lost);
    await assert.rejects(restore('t4.bin', out, ar), (e) => isBlockFrameError(e, 'BF_UNRECOVERABLE'));
    await assert.rejects(stat(out), { code: 'ENOENT' });
    const s = segmentsOf(lost)[0];
    if (s) await assert.rejects(read('t4.bin', s.offset, s.size, ar), (e) => isBlockFrameError(e, 'BF_UNRECOVERABLE'));
    // Block 4's first segment is intact and its block lost nothing: it still reads.
    const ok = manifest.stripes[4]!.data[0]!;
    if (!lost.some((p) => p.startsWith('blocks/block_4/'))) assert.ok(Buffer.from(await read('t4.bin', ok.offset, ok.size, ar)).equals(data.subarray(ok.offset, ok.offset + ok.size)));
    assert.deepEqual(rows(await snapshot(adir)), before, 'nothing changed');
  }
  await rm(caseRoot, { recursive: true, force: true });
}

test('each level-2 parity file is the XOR of its column, computed here from the segment files', async () => {
  const adir = join(pristine, dir);
  const g = manifestGeometry(manifest);
  for (const st of g.level2) {
    const want = new Uint8Array(st.shardSize);
    for (const seg of st.members) {
      if (!seg) continue;
      const bytes = await readFile(join(adir, seg.path));
      for (let i = 0; i < bytes.length; i++) want[i]! ^= bytes[i]!;
    }
    assert.ok((await readFile(join(adir, st.parity[0]!.path))).equals(want), st.parity[0]!.path);
  }
  assert.equal(g.level2.length, 60);
});

describe('tier 4: beyond level 1, through level 2', () => {
  for (const n of [4, 5, 7]) {
    test(`block 0 loses ${n} shards (damage kinds mixed): read, restore and repair byte-exact`, async () => {
      const rand = prng(40 + n);
      await runCase(sample(rand, blockFiles(0), n), 400 + n, { expect: 'repairable' });
    });
  }
  test('a whole block lost (all 33 files) comes back from its group', () => runCase(blockFiles(3), 1, { deleteOnly: true, expect: 'repairable' }));
  test('a whole block directory removed (regression: repair crashed with ENOENT recreating it)', () =>
    runCase(blockFiles(3), 11, { deleteOnly: true, expect: 'repairable', extra: (adir) => rm(join(adir, 'blocks/block_3'), { recursive: true }) }));
  test('level2/ replaced by a file of that name: the file goes, every level-2 parity file comes back', () =>
    runCase(
      manifest.level2!.stripes.map((st) => st.parity[0]!.path),
      12,
      {
        deleteOnly: true,
        expect: 'repairable',
        extra: async (adir) => {
          await rm(join(adir, 'level2'), { recursive: true });
          await writeFile(join(adir, 'level2'), 'not a directory');
        },
      },
    ));
  test('the short last block lost entirely', () => runCase(blockFiles(4), 2, { deleteOnly: true, expect: 'repairable' }));
  test('chained: block 0 lost 1-4, block 1 lost 1 and 5-7 (level 2 frees block 0, which frees column 1)', () =>
    runCase([1, 2, 3, 4].map((p) => segPath(0, p)).concat([1, 5, 6, 7].map((p) => segPath(1, p))), 3, { expect: 'repairable' }));
  test('a three-hop chain in one group reads before repair (regression: the reader gave up after two hops)', () =>
    // Columns 5-6 free block 4, which frees column 0 for block 2, which frees columns 1-3 for block 3.
    runCase([...[0, 1, 2, 3].map((p) => segPath(2, p)), ...[1, 2, 3, 4].map((p) => segPath(3, p)), ...[0, 4, 5, 6].map((p) => segPath(4, p))], 13, { expect: 'repairable' }));
  test('chunks.idx gone and block 2 beyond level 1 with a parity shard lost (regression: intact segments failed to read)', () =>
    runCase([...[1, 2, 3, 4].map((p) => segPath(2, p)), parPath(2, 0)], 14, { expect: 'repairable', extra: (adir) => rm(join(adir, 'chunks.idx')) }));
  test('level-2 parity files damaged', () => runCase([l2Path(0, 0), l2Path(0, 29), l2Path(1, 3), l2Path(1, 8)], 4, { expect: 'repairable' }));
  test('4 shards of block 2 with chunks.idx and manifest.json gone', () =>
    runCase([0, 9, 17, 28].map((p) => segPath(2, p)), 5, {
      expect: 'repairable',
      extra: async (adir) => {
        await rm(join(adir, 'chunks.idx'));
        await rm(join(adir, 'manifest.json'));
      },
    }));
});

describe('tier 4: beyond the design, nothing changes', () => {
  test('the same 4 positions lost in both blocks of a group', () =>
    runCase([0, 1, 2, 3].flatMap((p) => [segPath(0, p), segPath(1, p)]), 6, { deleteOnly: true, expect: 'unrecoverable' }));
  test('4 segments of a block and the level-2 parity of each of their columns', () =>
    runCase([3, 4, 5, 6].flatMap((p) => [segPath(2, p), l2Path(1, p)]), 7, { deleteOnly: true, expect: 'unrecoverable' }));
  test('an unrecoverable group and a repairable shard elsewhere: still nothing is touched', () =>
    runCase([...[0, 1, 2, 3].flatMap((p) => [segPath(0, p), segPath(1, p)]), parPath(3, 1)], 8, { deleteOnly: true, expect: 'unrecoverable' }));
});

describe('tier 4: seeded random loss patterns agree with an independent oracle', () => {
  const all = () => [...manifest.stripes.flatMap((_, b) => blockFiles(b)), ...manifest.level2!.stripes.map((s) => s.parity[0]!.path)];
  for (let i = 0; i < 8; i++) {
    test(`pattern ${i}`, async () => {
      const rand = prng(9000 + i);
      // Clustered damage: most files from one group, so level 2 matters.
      const group = rand() % 2;
      const blocks = group === 0 ? [0, 1] : [2, 3, 4];
      const near = blocks.flatMap(blockFiles).concat(manifest.level2!.stripes.filter((s) => s.group === group).map((s) => s.parity[0]!.path));
      const paths = [...new Set([...sample(rand, near, 4 + (rand() % 9)), ...sample(rand, all(), rand() % 3)])];
      const expect = oracleLost(new Set(paths)).size === 0 ? 'repairable' : 'unrecoverable';
      await runCase(paths, 9100 + i, { deleteOnly: expect === 'unrecoverable', expect });
    });
  }
});

describe('tier 4: default geometry', () => {
  test('a committed archive with the default block and group sizes has 11-15% overhead (scaled segments)', async () => {
    // 1121 segments = 38 blocks in one group: the block and group counts of a 35 GiB file with 32 MiB segments.
    const size = 1120 * SEG + 1234;
    const src = join(root, 'default.bin');
    await writeRandomFile(src, size, 35);
    const r = await commit(src, { archive: join(root, 'default'), tier: 4, segmentSize: SEG, pool });
    const m = r.manifest;
    const parity = [...m.stripes.flatMap((s) => s.parity), ...m.level2!.stripes.flatMap((s) => s.parity)].reduce((n, p) => n + p.size, 0);
    const overhead = parity / m.size;
    assert.equal(m.level2!.group_blocks, DEFAULTS.groupBlocks);
    assert.equal(m.stripes.length, 38);
    assert.equal(m.level2!.stripes.length, 30);
    assert.equal(overhead, parityOverhead(manifestGeometry(m)));
    assert.ok(overhead >= 0.11 && overhead <= 0.15, `overhead ${overhead}`);
    // The same shape at full scale: 32 MiB segments, 35 GiB and a bit, chosen as Tier 4 by size.
    const full = 1120 * 32 * MiB + 1234 * (32 * MiB / SEG);
    assert.equal(chooseTier(full).tier, 4);
    const g = computeGeometry({ tier: 4, size: full, segmentSize: 32 * MiB });
    assert.equal(g.stripes.length, 38);
    assert.equal(g.level2.length, 30);
    assert.ok(Math.abs(parityOverhead(g) - overhead) < 0.001, `${parityOverhead(g)} vs ${overhead}`);
    assert.equal((await verify([], { archive: join(root, 'default'), pool })).status, 'healthy');
  });

  test('the manifest names a missing or stray level2 section', async () => {
    const text = serializeManifest(manifest);
    const without = JSON.parse(text);
    delete without.level2;
    assert.throws(() => parseManifest(JSON.stringify(without)), (e) => isBlockFrameError(e, 'BF_MANIFEST_INVALID') && /level2/.test(e.message));
    const moved = JSON.parse(text);
    moved.level2.stripes[3].parity[0].path = '../../escape.dat';
    assert.throws(() => parseManifest(JSON.stringify(moved)), (e) => isBlockFrameError(e, 'BF_MANIFEST_INVALID') && /level2\.stripes\.3\.parity\.0\.path/.test(e.message));
    // Regression: a huge size with a 1-byte segment made validation build a 2^52-segment geometry (a hang).
    const huge = JSON.parse(text);
    huge.size = 2 ** 52;
    huge.segment_size = 1;
    assert.throws(() => parseManifest(JSON.stringify(huge)), (e) => isBlockFrameError(e, 'BF_MANIFEST_INVALID') && /"stripes"/.test(e.message));
    const r2 = JSON.parse(text);
    r2.level2.parity_shards = 2;
    assert.throws(() => parseManifest(JSON.stringify(r2)), (e) => isBlockFrameError(e, 'BF_MANIFEST_INVALID') && /level2\.parity_shards/.test(e.message));
    const t3 = JSON.parse(text);
    t3.tier = 3;
    assert.throws(() => parseManifest(JSON.stringify(t3)), (e) => isBlockFrameError(e, 'BF_MANIFEST_INVALID') && /level2/.test(e.message));
  });

  test('CLI: --tier 4 commit, a block losing 5 segments, repair plan via level 2, exit codes', async () => {
    const src = join(root, 'cli.bin');
    const bytes = await writeRandomFile(src, 90 * SEG, 77);
    const archive = join(root, 'cli');
    const c = runCliRaw(['commit', '--archive', archive, '--tier', '4', '--segment-size', '4KiB', src]);
    assert.equal(c.status, 0, c.stderr);
    assert.match(c.stdout.toString(), /tier 4/);
    const adir = join(archive, (c.stdout.toString().match(/-> (\S+)/) ?? [])[1]!);
    for (const p of [1, 2, 3, 4, 5]) await rm(join(adir, segPath(1, p)));
    assert.equal(runCliRaw(['verify', '--archive', archive]).status, 3);
    const cat = runCliRaw(['cat', '--archive', archive, 'cli.bin']);
    assert.equal(cat.status, 0, cat.stderr);
    assert.deepEqual(new Uint8Array(cat.stdout), bytes);
    const dry = runCliRaw(['repair', '--dry-run', '--archive', archive]);
    assert.equal(dry.status, 3);
    assert.match(dry.stdout.toString(), /rebuild +blocks\/block_1\/segments\/segment_31\.dat \(from level-2 group 0 position 1\)/);
    assert.match(dry.stdout.toString(), /segment_35\.dat \(from block 1\)/);
    assert.equal(runCliRaw(['repair', '--archive', archive]).status, 0);
    assert.equal(runCliRaw(['verify', '--archive', archive]).status, 0);
    assert.equal(runCliRaw(['commit', '--archive', archive, '--tier', '5', src]).status, 2);
  });
});
