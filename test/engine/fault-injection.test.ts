// Fault injection on real archives of every tier: damaged shards (every subset up to m for Tiers 1-2, seeded samples
// for Tier 3), junk files and manifest damage are found by verify, healed by reads, fixed by repair; beyond m nothing changes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, copyFile, mkdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ComputePool, commit, read, repair, restore, verify, type Damage } from '../../src/index.js';
import { prng, tempDir, writeRandomFile } from '../helpers/fixtures.js';
import {
  addJunk,
  between,
  cloneRoot,
  damageManifest,
  DAMAGE_KINDS,
  injure,
  MANIFEST_DAMAGES,
  pick,
  rows,
  runCliRaw,
  sample,
  shardsByStripe,
  snapshot,
  subsets,
  swapFiles,
  type DamageKind,
  type Entry,
  type Injury,
  type ManifestDamage,
} from '../helpers/faults.js';

interface Setup {
  tier: 1 | 2 | 3;
  /** Pristine archive root (never modified) and the archive's directory name. */
  pristine: string;
  dir: string;
  data: Uint8Array;
  shards: string[][];
  dataCount: number[];
  pristineSnap: Map<string, Entry>;
}

interface Plan {
  stripe: number;
  /** Shard positions within the stripe (data first, then parity). */
  positions: number[];
  kinds: DamageKind[];
  /** Swap the files at the first two positions instead of damaging them (only where their bytes differ). */
  swap?: boolean;
  junk?: boolean;
  manifest?: ManifestDamage;
}

const M = 3;
let root: string;
let cleanup: () => Promise<void>;
let pool: ComputePool;
const setups = new Map<number, Setup>();
let caseNo = 0;

// Geometry of the three archives (checked against the manifests in before()).
const T1 = { size: 150_000 }; // one stripe, 3 chunks per shard
const T2 = { size: 50_000, segmentSize: 8192 }; // 7 stripes, the last one 848 bytes
const T3 = { size: 200_000, segmentSize: 4096 }; // 49 segments: block 0 = 30 + 3 parity, block 1 = 19 + 3 (short)

before(async () => {
  ({ dir: root, cleanup } = await tempDir('bf-faults-'));
  pool = ComputePool.start();
  const specs = [
    { tier: 1 as const, size: T1.size, segmentSize: undefined, stripes: 1 },
    { tier: 2 as const, size: T2.size, segmentSize: T2.segmentSize, stripes: 7 },
    { tier: 3 as const, size: T3.size, segmentSize: T3.segmentSize, stripes: 2 },
  ];
  for (const s of specs) {
    const src = join(root, `t${s.tier}.bin`);
    const data = await writeRandomFile(src, s.size, 1000 + s.tier);
    const pristine = join(root, `pristine-t${s.tier}`);
    const r = await commit(src, { archive: pristine, tier: s.tier, segmentSize: s.segmentSize, pool });
    assert.equal(r.tier, s.tier);
    assert.equal(r.manifest.stripes.length, s.stripes);
    // The archive root also holds .staging; the snapshot is of the archive directory itself.
    setups.set(s.tier, {
      tier: s.tier,
      pristine,
      dir: r.dir,
      data,
      shards: shardsByStripe(r.manifest),
      dataCount: r.manifest.stripes.map((st) => st.data.length),
      pristineSnap: await snapshot(join(pristine, r.dir)),
    });
  }
  const t3 = setups.get(3)!;
  assert.deepEqual(t3.shards.map((s) => s.length), [33, 22]);
});

after(async () => {
  await pool.close();
  await cleanup();
});

function setup(tier: number): Setup {
  return setups.get(tier)!;
}

/** A fresh copy of the pristine archive root for one case. */
async function freshCase(s: Setup): Promise<{ caseRoot: string; adir: string; out: string }> {
  const caseRoot = join(root, `case-${++caseNo}`);
  await cloneRoot(s.pristine, caseRoot);
  return { caseRoot, adir: join(caseRoot, s.dir), out: join(root, `out-${caseNo}`) };
}

interface Applied {
  shards: Injury[];
  junk: string[];
  manifest: string[];
}

async function applyPlan(s: Setup, adir: string, p: Plan, rand: () => number): Promise<Applied> {
  const paths = p.positions.map((n) => s.shards[p.stripe]![n]!);
  const shards: Injury[] = [];
  let rest = paths.map((path, i) => ({ path, kind: p.kinds[i]! }));
  if (p.swap && paths.length >= 2) {
    const [a, b] = paths as [string, string];
    const sa = s.pristineSnap.get(a)!;
    const sb = s.pristineSnap.get(b)!;
    assert.notEqual(sa.sha256, sb.sha256, 'swap needs two shards with different bytes');
    await swapFiles(join(adir, a), join(adir, b));
    const expectAt = (path: string, nowSize: number) => {
      const want = s.pristineSnap.get(path)!.size;
      return nowSize < want ? ('truncated' as const) : ('corrupt' as const);
    };
    shards.push({ path: a, kind: 'flip', expect: expectAt(a, sb.size) }, { path: b, kind: 'flip', expect: expectAt(b, sa.size) });
    rest = rest.slice(2);
  }
  for (const r of rest) shards.push(await injure(adir, r.path, r.kind, rand));
  const shardDir = paths.length && dirname(paths[0]!) !== '.' ? dirname(paths[0]!) : '';
  const junk = p.junk ? await addJunk(adir, shardDir) : [];
  const manifest = p.manifest ? [await damageManifest(adir, p.manifest, rand)] : [];
  return { shards, junk, manifest };
}

function expectedProblems(a: Applied): string[] {
  return [
    ...a.shards.map((i) => `${i.expect} ${i.path}`),
    ...a.junk.map((j) => `unexpected ${j}`),
    ...a.manifest.map((m) => `manifest ${m}`),
  ].sort();
}

/** Random ranges, plus one covering each damaged data segment, read with read() and compared with the original. */
async function checkReads(s: Setup, archive: string, a: Applied, rand: () => number): Promise<Damage[]> {
  const size = s.data.length;
  const seen: Damage[] = [];
  const ranges: [number, number][] = [];
  for (let i = 0; i < 3; i++) {
    const off = rand() % size;
    ranges.push([off, rand() % (size - off + 1)]);
  }
  if (s.tier !== 1) {
    const seg = s.tier === 2 ? T2.segmentSize : T3.segmentSize;
    for (const inj of a.shards) {
      const m = /segment_(\d+)\.dat$/.exec(inj.path);
      if (m) ranges.push([Number(m[1]) * seg, Math.min(seg, size - Number(m[1]) * seg)]);
    }
  }
  for (const [off, len] of ranges) {
    const got = await read(s.dir, off, len, { archive, pool, onDamage: (d) => seen.push(d) });
    assert.equal(got.length, len, `read(${off}, ${len}) length`);
    assert.ok(Buffer.from(s.data.subarray(off, off + len)).equals(got), `read(${off}, ${len}) bytes`);
  }
  return seen;
}

async function restoreExact(s: Setup, archive: string, out: string): Promise<Damage[]> {
  const seen: Damage[] = [];
  await rm(out, { force: true });
  await restore(s.dir, out, { archive, pool, onDamage: (d) => seen.push(d) });
  assert.ok(Buffer.from(s.data).equals(await readFile(out)), 'restored bytes equal the original');
  await rm(out, { force: true });
  return seen;
}

/** The whole repairable cycle for one plan. */
async function repairableCase(s: Setup, p: Plan, seed: number): Promise<void> {
  const rand = prng(seed);
  const { caseRoot, adir, out } = await freshCase(s);
  try {
    const a = await applyPlan(s, adir, p, rand);
    const before = await snapshot(adir);

    // verify names every damaged file, all repairable, and changes nothing.
    const v = await verify([s.dir], { archive: caseRoot, pool });
    assert.equal(v.status, 'repairable', JSON.stringify(v.archives[0]?.problems));
    const problems = v.archives[0]!.problems;
    assert.deepEqual(problems.map((x) => `${x.kind} ${x.path}`).sort(), expectedProblems(a));
    for (const x of problems) {
      assert.equal(x.repairable, true, `${x.path} repairable`);
      if (x.kind !== 'unexpected' && x.kind !== 'manifest') assert.equal(x.stripe, p.stripe, `${x.path} stripe`);
    }
    assert.deepEqual(rows(await snapshot(adir)), rows(before), 'verify changed nothing');

    // Self-healing reads before any repair: restore and ranges are byte-exact, damage is reported, nothing is written.
    const damaged = new Map(a.shards.map((i) => [i.path, i.expect]));
    const seen = await restoreExact(s, caseRoot, out);
    for (const d of seen) {
      assert.ok(damaged.has(d.path), `onDamage reported ${d.path}, which is intact`);
      assert.equal(d.kind, damaged.get(d.path), `onDamage kind for ${d.path}`);
      assert.equal(d.stripe, p.stripe);
    }
    const dataPaths = new Set(s.shards[p.stripe]!.slice(0, s.dataCount[p.stripe]));
    for (const i of a.shards) {
      if (dataPaths.has(i.path)) assert.ok(seen.some((d) => d.path === i.path), `restore reported damaged data shard ${i.path}`);
    }
    for (const d of await checkReads(s, caseRoot, a, rand)) assert.ok(damaged.has(d.path), `read reported intact ${d.path}`);
    assert.deepEqual(rows(await snapshot(adir)), rows(before), 'reads changed nothing');

    // repair fixes everything it planned, and nothing else.
    const r = await repair([s.dir], { archive: caseRoot, pool });
    assert.equal(r.status, 'healthy');
    const ar = r.archives[0]!;
    assert.equal(ar.outcome, 'repaired');
    assert.deepEqual(ar.lost, []);
    for (const i of a.shards) assert.ok(ar.actions.some((x) => x.action === 'rebuild' && x.path === i.path), `rebuild ${i.path} planned`);
    for (const j of a.junk) assert.ok(ar.actions.some((x) => x.action === 'remove' && x.path === j), `remove ${j} planned`);
    for (const m of a.manifest) assert.ok(ar.actions.some((x) => x.action === 'rewrite' && x.path === m), `rewrite ${m} planned`);

    const afterSnap = await snapshot(adir);
    assert.deepEqual([...afterSnap.keys()].sort(), [...s.pristineSnap.keys()].sort(), 'exactly the files of the format, no junk or temp files');
    for (const [path, e] of afterSnap) {
      const want = s.pristineSnap.get(path)!;
      assert.equal(e.sha256, want.sha256, `${path} content restored`);
      assert.equal(e.size, want.size, `${path} size`);
      if (e.type === 'file' && !path.startsWith('manifest')) assert.equal(e.mode & 0o777, want.mode & 0o777, `${path} mode`);
      const touched = damaged.has(path) || path.startsWith('manifest') || e.type === 'dir';
      if (!touched) assert.equal(e.mtimeMs, before.get(path)!.mtimeMs, `good file ${path} was not rewritten`);
    }

    const v2 = await verify([s.dir], { archive: caseRoot, pool });
    assert.equal(v2.status, 'healthy', JSON.stringify(v2.archives[0]?.problems));
    assert.deepEqual(v2.archives[0]!.problems, []);
    assert.deepEqual(await restoreExact(s, caseRoot, out), [], 'no damage left to report');
  } finally {
    await rm(caseRoot, { recursive: true, force: true });
  }
}

function kindsFor(rand: () => number, n: number): DamageKind[] {
  return Array.from({ length: n }, () => pick(rand, DAMAGE_KINDS));
}

describe('Tier 1: every subset of up to m damaged shards', () => {
  const rand = prng(101);
  for (const [i, positions] of subsets([0, 1, 2, 3], M).entries()) {
    const p: Plan = {
      stripe: 0,
      positions,
      kinds: kindsFor(rand, positions.length),
      junk: i % 3 === 1,
      manifest: i % 2 === 0 ? MANIFEST_DAMAGES[(i / 2) % MANIFEST_DAMAGES.length] : undefined,
    };
    const seed = rand();
    test(`shards ${positions.join(',')} ${p.kinds.join(',')}${p.junk ? ' +junk' : ''}${p.manifest ? ` +${p.manifest}` : ''}`, () => repairableCase(setup(1), p, seed));
  }
});

describe('Tier 2: every subset of up to m damaged shards of one segment stripe', () => {
  const rand = prng(202);
  for (const [i, positions] of subsets([0, 1, 2, 3], M).entries()) {
    // Half the cases hit the short last stripe, the rest a seeded one.
    const stripe = i % 2 ? 6 : between(rand, 0, 5);
    const p: Plan = {
      stripe,
      positions,
      kinds: kindsFor(rand, positions.length),
      junk: i % 3 === 0,
      manifest: i % 4 === 1 ? MANIFEST_DAMAGES[i % MANIFEST_DAMAGES.length] : undefined,
    };
    const seed = rand();
    test(`stripe ${stripe} shards ${positions.join(',')} ${p.kinds.join(',')}${p.junk ? ' +junk' : ''}${p.manifest ? ` +${p.manifest}` : ''}`, () =>
      repairableCase(setup(2), p, seed),
    );
  }
});

describe('Tier 3: seeded samples of up to m damaged shards of one RS(30,3) block', () => {
  const rand = prng(303);
  const sizes = [33, 22];
  for (let i = 0; i < 25; i++) {
    const stripe = i % 2;
    const total = sizes[stripe]!;
    const data = total - M;
    const n = 1 + (i % M);
    let positions = sample(rand, Array.from({ length: total }, (_, x) => x), n);
    // Make sure parity and the short last segment are hit regularly.
    if (i % 4 === 0 && !positions.some((x) => x >= data)) positions[0] = data + (rand() % M);
    if (i % 5 === 1 && stripe === 1 && !positions.includes(data - 1)) positions[positions.length - 1] = data - 1;
    positions = [...new Set(positions)];
    const p: Plan = {
      stripe,
      positions,
      kinds: kindsFor(rand, positions.length),
      swap: positions.length >= 2 && i % 3 === 0,
      junk: i % 4 === 2,
      manifest: i % 3 === 1 ? MANIFEST_DAMAGES[i % MANIFEST_DAMAGES.length] : undefined,
    };
    const seed = rand();
    const what = `${p.swap ? 'swap,' : ''}${p.kinds.slice(p.swap ? 2 : 0).join(',')}`;
    test(`#${i} block ${stripe} shards ${positions.join(',')} ${what}${p.junk ? ' +junk' : ''}${p.manifest ? ` +${p.manifest}` : ''}`, () =>
      repairableCase(setup(3), p, seed),
    );
  }
});

describe('damage in several stripes at once', () => {
  test('Tier 3: 3 shards of block 0 and 3 of block 1 (with parity, the short last segment, junk and a manifest) are repairable', async () => {
    const s = setup(3);
    const { caseRoot, adir, out } = await freshCase(s);
    const rand = prng(404);
    try {
      const injuries: Injury[] = [];
      for (const [stripe, positions] of [
        [0, [2, 17, 31]],
        [1, [5, 18, 21]],
      ] as const) {
        for (const n of positions) injuries.push(await injure(adir, s.shards[stripe]![n]!, pick(rand, DAMAGE_KINDS), rand));
      }
      const junk = await addJunk(adir, 'blocks/block_1/parity');
      const m = await damageManifest(adir, 'corrupt-primary', rand);
      const v = await verify([s.dir], { archive: caseRoot, pool });
      assert.equal(v.status, 'repairable');
      assert.deepEqual(
        v.archives[0]!.problems.map((x) => `${x.kind} ${x.path}`).sort(),
        expectedProblems({ shards: injuries, junk, manifest: [m] }),
      );
      await restoreExact(s, caseRoot, out);
      const r = await repair([], { archive: caseRoot, pool });
      assert.equal(r.archives[0]!.outcome, 'repaired');
      assert.equal((await verify([s.dir], { archive: caseRoot, pool })).status, 'healthy');
      const snap = await snapshot(adir);
      assert.deepEqual(
        [...snap.values()].map((e) => `${e.path} ${e.sha256}`).sort(),
        [...s.pristineSnap.values()].map((e) => `${e.path} ${e.sha256}`).sort(),
      );
      await restoreExact(s, caseRoot, out);
    } finally {
      await rm(caseRoot, { recursive: true, force: true });
    }
  });

  test('Tier 2: 3 of 4 shards lost in every stripe at once is repairable', async () => {
    const s = setup(2);
    const { caseRoot, adir, out } = await freshCase(s);
    const rand = prng(405);
    try {
      const injuries: Injury[] = [];
      for (const shards of s.shards) {
        for (const n of sample(rand, [0, 1, 2, 3], 3)) injuries.push(await injure(adir, shards[n]!, pick(rand, DAMAGE_KINDS), rand));
      }
      const v = await verify([s.dir], { archive: caseRoot, pool });
      assert.equal(v.status, 'repairable');
      assert.deepEqual(v.archives[0]!.problems.map((x) => `${x.kind} ${x.path}`).sort(), expectedProblems({ shards: injuries, junk: [], manifest: [] }));
      await restoreExact(s, caseRoot, out);
      assert.equal((await repair([s.dir], { archive: caseRoot, pool })).archives[0]!.outcome, 'repaired');
      assert.equal((await verify([s.dir], { archive: caseRoot, pool })).status, 'healthy');
      await restoreExact(s, caseRoot, out);
    } finally {
      await rm(caseRoot, { recursive: true, force: true });
    }
  });

  test('Tier 2: swapping the same shard role of two different stripes is found and repaired', async () => {
    const s = setup(2);
    const { caseRoot, adir, out } = await freshCase(s);
    try {
      const a = s.shards[1]![2]!;
      const b = s.shards[3]![2]!;
      await swapFiles(join(adir, a), join(adir, b));
      const v = await verify([s.dir], { archive: caseRoot, pool });
      assert.equal(v.status, 'repairable');
      assert.deepEqual(v.archives[0]!.problems.map((x) => `${x.kind} ${x.path} ${x.stripe}`).sort(), [`corrupt ${a} 1`, `corrupt ${b} 3`]);
      await restoreExact(s, caseRoot, out);
      assert.equal((await repair([s.dir], { archive: caseRoot, pool })).archives[0]!.outcome, 'repaired');
      assert.equal((await verify([s.dir], { archive: caseRoot, pool })).status, 'healthy');
    } finally {
      await rm(caseRoot, { recursive: true, force: true });
    }
  });

  test('Tiers 1 and 2: swapping two shards of the same k=1 stripe changes no bytes, so the archive stays healthy', async () => {
    for (const tier of [1, 2]) {
      const s = setup(tier);
      const { caseRoot, adir } = await freshCase(s);
      try {
        const [a, b] = [s.shards[0]![0]!, s.shards[0]![2]!];
        // With k = 1 every parity file is a copy of its segment (docs/FORMAT.md section 5).
        assert.equal(s.pristineSnap.get(a)!.sha256, s.pristineSnap.get(b)!.sha256);
        await swapFiles(join(adir, a), join(adir, b));
        const v = await verify([s.dir], { archive: caseRoot, pool });
        assert.equal(v.status, 'healthy');
      } finally {
        await rm(caseRoot, { recursive: true, force: true });
      }
    }
  });
});

/** Beyond tolerance: verify and repair name exactly the lost shards, and nothing in the archive changes. */
async function unrecoverableCase(s: Setup, lostPlan: { stripe: number; positions: number[] }, extra: Plan | null, seed: number): Promise<void> {
  const rand = prng(seed);
  const { caseRoot, adir } = await freshCase(s);
  try {
    const lost: Injury[] = [];
    for (const n of lostPlan.positions) lost.push(await injure(adir, s.shards[lostPlan.stripe]![n]!, pick(rand, DAMAGE_KINDS), rand));
    const other = extra ? await applyPlan(s, adir, extra, rand) : { shards: [], junk: [], manifest: [] };
    const lostPaths = lost.map((i) => i.path).sort();
    const before = rows(await snapshot(caseRoot));

    const v = await verify([s.dir], { archive: caseRoot, pool });
    assert.equal(v.status, 'unrecoverable');
    const problems = v.archives[0]!.problems;
    assert.deepEqual(problems.map((x) => `${x.kind} ${x.path}`).sort(), expectedProblems({ shards: [...lost, ...other.shards], junk: other.junk, manifest: other.manifest }));
    assert.deepEqual(problems.filter((x) => !x.repairable).map((x) => x.path).sort(), lostPaths, 'exactly the lost stripe is not repairable');
    for (const x of problems.filter((x) => !x.repairable)) assert.equal(x.stripe, lostPlan.stripe);
    assert.deepEqual(rows(await snapshot(caseRoot)), before, 'verify changed nothing');

    const r = await repair([s.dir], { archive: caseRoot, pool });
    assert.equal(r.status, 'unrecoverable');
    assert.equal(r.archives[0]!.outcome, 'unrecoverable');
    assert.deepEqual([...r.archives[0]!.lost].sort(), lostPaths);
    assert.deepEqual(rows(await snapshot(caseRoot)), before, 'unrecoverable repair changed nothing');

    const dry = await repair([s.dir], { archive: caseRoot, pool, dryRun: true });
    assert.equal(dry.archives[0]!.outcome, 'unrecoverable');
    assert.deepEqual(rows(await snapshot(caseRoot)), before, 'dry run changed nothing');
  } finally {
    await rm(caseRoot, { recursive: true, force: true });
  }
}

describe('m+1 damaged shards in one stripe: unrecoverable, nothing changes', () => {
  test('Tier 1: all four files damaged', () => unrecoverableCase(setup(1), { stripe: 0, positions: [0, 1, 2, 3] }, null, 501));
  test('Tier 1: all four files damaged, plus junk and a damaged manifest copy', () =>
    unrecoverableCase(setup(1), { stripe: 0, positions: [0, 1, 2, 3] }, { stripe: 0, positions: [], kinds: [], junk: true, manifest: 'corrupt-copy' }, 502));
  test('Tier 2: a whole segment stripe lost, while another stripe has repairable damage', () =>
    unrecoverableCase(setup(2), { stripe: 4, positions: [0, 1, 2, 3] }, { stripe: 6, positions: [0, 3], kinds: ['delete', 'flip'], junk: true }, 503));
  const rand = prng(504);
  for (let i = 0; i < 4; i++) {
    const stripe = i % 2;
    const total = [33, 22][stripe]!;
    const positions = sample(rand, Array.from({ length: total }, (_, x) => x), M + 1);
    if (i === 2) positions[0] = total - 1; // a parity shard among them
    const uniq = [...new Set(positions)];
    for (let x = 0; uniq.length < M + 1; x++) if (!uniq.includes(x)) uniq.push(x);
    const extra: Plan | null = i >= 2 ? { stripe: 1 - stripe, positions: [total === 33 ? 0 : 32, 1], kinds: ['zero', 'truncate'], manifest: 'delete-b3', junk: i === 3 } : null;
    const seed = rand();
    test(`Tier 3: block ${stripe} shards ${uniq.join(',')} lost${extra ? ' + repairable damage elsewhere' : ''}`, () => unrecoverableCase(setup(3), { stripe, positions: uniq }, extra, seed));
  }
  test('Tier 3: m+1 in block 0 and m+1 in block 1: both named, nothing changes', async () => {
    const s = setup(3);
    const { caseRoot, adir } = await freshCase(s);
    try {
      const lost = [...s.shards[0]!.slice(10, 14), ...s.shards[1]!.slice(18, 22)];
      for (const p of lost) await injure(adir, p, 'delete', prng(1));
      const before = rows(await snapshot(caseRoot));
      const r = await repair([], { archive: caseRoot, pool });
      assert.equal(r.archives[0]!.outcome, 'unrecoverable');
      assert.deepEqual([...r.archives[0]!.lost].sort(), [...lost].sort());
      assert.deepEqual(rows(await snapshot(caseRoot)), before);
    } finally {
      await rm(caseRoot, { recursive: true, force: true });
    }
  });
});

describe('manifest damage', () => {
  for (const how of MANIFEST_DAMAGES) {
    test(`Tier 3: ${how} alone is repairable and repaired`, async () => {
      const s = setup(3);
      const { caseRoot, adir, out } = await freshCase(s);
      try {
        const file = await damageManifest(adir, how, prng(how.length * 31));
        const v = await verify([s.dir], { archive: caseRoot, pool });
        assert.equal(v.status, 'repairable');
        assert.deepEqual(v.archives[0]!.problems.map((x) => `${x.kind} ${x.path} ${x.repairable}`), [`manifest ${file} true`]);
        await restoreExact(s, caseRoot, out);
        const r = await repair([s.dir], { archive: caseRoot, pool });
        assert.equal(r.archives[0]!.outcome, 'repaired');
        for (const f of ['manifest.json', 'manifest.copy.json', 'manifest.b3']) {
          assert.equal((await snapshot(adir)).get(f)?.sha256, s.pristineSnap.get(f)!.sha256, `${f} restored`);
        }
        assert.equal((await verify([s.dir], { archive: caseRoot, pool })).status, 'healthy');
      } finally {
        await rm(caseRoot, { recursive: true, force: true });
      }
    });
  }

  test('manifest.json deleted: the archive is still found by file name and restores', async () => {
    const s = setup(2);
    const { caseRoot, adir, out } = await freshCase(s);
    try {
      await damageManifest(adir, 'delete-primary', prng(7));
      await rm(out, { force: true });
      await restore('t2.bin', out, { archive: caseRoot, pool });
      assert.ok(Buffer.from(s.data).equals(await readFile(out)));
    } finally {
      await rm(caseRoot, { recursive: true, force: true });
    }
  });

  test('both manifest.json and manifest.copy.json destroyed: unrecoverable, and repair changes nothing', async () => {
    const s = setup(1);
    const { caseRoot, adir } = await freshCase(s);
    try {
      await damageManifest(adir, 'delete-primary', prng(8));
      await damageManifest(adir, 'corrupt-copy', prng(9));
      const before = rows(await snapshot(caseRoot));
      const v = await verify([s.dir], { archive: caseRoot, pool });
      assert.equal(v.status, 'unrecoverable');
      assert.ok(v.archives[0]!.problems.some((x) => x.kind === 'manifest' && !x.repairable));
      const r = await repair([s.dir], { archive: caseRoot, pool });
      assert.equal(r.archives[0]!.outcome, 'unrecoverable');
      assert.deepEqual(rows(await snapshot(caseRoot)), before);
    } finally {
      await rm(caseRoot, { recursive: true, force: true });
    }
  });
});

describe('chunks.idx damage', () => {
  // The reader recomputes a damaged chunks.idx section from the stripe's shards; a shard that has the right size but
  // wrong bytes must then be rebuilt, not hashed as it is.
  for (const kind of ['delete', 'flip', 'zero'] as const) {
    test(`Tier 3: chunks.idx section of block 0 damaged and segment 2 ${kind}: restore and read are byte-exact`, async () => {
      const s = setup(3);
      const { caseRoot, adir, out } = await freshCase(s);
      try {
        const idx = await readFile(join(adir, 'chunks.idx'));
        idx[100]! ^= 0x10; // inside block 0's section (33 shards x 32 bytes)
        await writeFile(join(adir, 'chunks.idx'), idx);
        await injure(adir, s.shards[0]![2]!, kind, prng(77));
        const v = await verify([s.dir], { archive: caseRoot, pool });
        assert.equal(v.status, 'repairable');
        assert.deepEqual(v.archives[0]!.problems.map((x) => x.path).sort(), ['blocks/block_0/segments/segment_2.dat', 'chunks.idx']);
        const got = await read(s.dir, 0, 30 * T3.segmentSize, { archive: caseRoot, pool });
        assert.ok(Buffer.from(s.data.subarray(0, 30 * T3.segmentSize)).equals(got));
        await restoreExact(s, caseRoot, out);
      } finally {
        await rm(caseRoot, { recursive: true, force: true });
      }
    });
  }

  test('Tier 3: chunks.idx section damaged and a corrupt shard in that stripe: repair fixes both', async () => {
    const s = setup(3);
    const { caseRoot, adir, out } = await freshCase(s);
    try {
      const idx = await readFile(join(adir, 'chunks.idx'));
      idx[100]! ^= 0x10;
      await writeFile(join(adir, 'chunks.idx'), idx);
      await injure(adir, s.shards[0]![2]!, 'flip', prng(78));
      assert.equal((await repair([s.dir], { archive: caseRoot, pool })).archives[0]!.outcome, 'repaired');
      assert.equal((await verify([s.dir], { archive: caseRoot, pool })).status, 'healthy');
      assert.equal((await snapshot(adir)).get('chunks.idx')!.sha256, s.pristineSnap.get('chunks.idx')!.sha256);
      await restoreExact(s, caseRoot, out);
    } finally {
      await rm(caseRoot, { recursive: true, force: true });
    }
  });
});

describe('junk in odd places', () => {
  // A directory in place of a shard: once where the shard's size (4096) equals a directory's st_size on ext4/overlayfs,
  // once for the short last segment (3392 bytes). verify, reads and repair are checked separately.
  for (const [label, stripe, n] of [
    ['a 4096-byte segment', 0, 4],
    ['the short last segment', 1, 18],
  ] as const) {
    const withDir = async (fn: (s: Setup, caseRoot: string, adir: string, out: string, p: string) => Promise<void>) => {
      const s = setup(3);
      const { caseRoot, adir, out } = await freshCase(s);
      try {
        const p = s.shards[stripe]![n]!;
        await rm(join(adir, p));
        await mkdir(join(adir, p));
        await fn(s, caseRoot, adir, out, p);
      } finally {
        await rm(caseRoot, { recursive: true, force: true });
      }
    };
    test(`Tier 3: a directory where ${label} should be: verify reports it as repairable`, () =>
      withDir(async (s, caseRoot, _adir, _out, p) => {
        const v = await verify([s.dir], { archive: caseRoot, pool });
        assert.equal(v.status, 'repairable', JSON.stringify(v.archives[0]?.problems));
        assert.ok(v.archives[0]!.problems.some((x) => x.path === p && x.repairable), 'the shard path is named');
      }));
    test(`Tier 3: a directory where ${label} should be: restore heals around it`, () =>
      withDir(async (s, caseRoot, _adir, out) => {
        await restoreExact(s, caseRoot, out);
      }));
    test(`Tier 3: a directory where ${label} should be: repair replaces it with the shard`, () =>
      withDir(async (s, caseRoot, adir, _out, p) => {
        const r = await repair([s.dir], { archive: caseRoot, pool });
        assert.equal(r.archives[0]!.outcome, 'repaired');
        assert.equal((await stat(join(adir, p))).isFile(), true);
        assert.equal((await verify([s.dir], { archive: caseRoot, pool })).status, 'healthy');
      }));
  }

  // A shard replaced by a symlink (here to its own intact bytes outside the archive). Links are never followed, so
  // nothing outside the archive is ever read or trusted: a linked shard counts as corrupt. Within tolerance repair
  // replaces the links with real files; beyond it, repair reports the block unrecoverable and changes nothing.
  for (const count of [1, M + 1]) {
    test(`Tier 3: ${count} shard(s) of block 0 replaced by symlinks: never followed, counted as corrupt`, async () => {
      const s = setup(3);
      const { caseRoot, adir, out } = await freshCase(s);
      try {
        const links = s.shards[0]!.slice(3, 3 + count);
        for (const p of links) {
          const outside = join(caseRoot, `outside-${p.replace(/\//g, '_')}`);
          await copyFile(join(adir, p), outside);
          await rm(join(adir, p));
          await symlink(outside, join(adir, p));
        }
        const v = await verify([s.dir], { archive: caseRoot, pool });
        assert.deepEqual(v.archives[0]!.problems.map((x) => `${x.kind} ${x.path}`).sort(), links.map((p) => `corrupt ${p}`).sort());
        if (count <= M) {
          assert.equal(v.status, 'repairable');
          await repair([s.dir], { archive: caseRoot, pool });
          for (const p of links) assert.equal((await lstat(join(adir, p))).isFile(), true, `${p} is a real file again`);
          assert.equal((await verify([s.dir], { archive: caseRoot, pool })).status, 'healthy');
          await restoreExact(s, caseRoot, out);
        } else {
          assert.equal(v.status, 'unrecoverable');
          const before = await snapshot(adir);
          const r = await repair([s.dir], { archive: caseRoot, pool });
          assert.equal(r.archives[0]!.outcome, 'unrecoverable');
          assert.deepEqual([...r.archives[0]!.lost].sort(), [...links].sort());
          assert.deepEqual(await snapshot(adir), before);
        }
      } finally {
        await rm(caseRoot, { recursive: true, force: true });
      }
    });
  }

  test('Tier 3: an extra block directory and an extra segment file are unexpected and removed', async () => {
    const s = setup(3);
    const { caseRoot, adir } = await freshCase(s);
    try {
      await mkdir(join(adir, 'blocks', 'block_2', 'segments'), { recursive: true });
      await copyFile(join(adir, 'blocks/block_0/segments/segment_0.dat'), join(adir, 'blocks/block_0/segments/segment_49.dat'));
      const v = await verify([s.dir], { archive: caseRoot, pool });
      assert.equal(v.status, 'repairable');
      assert.deepEqual(v.archives[0]!.problems.map((x) => `${x.kind} ${x.path}`).sort(), ['unexpected blocks/block_0/segments/segment_49.dat', 'unexpected blocks/block_2']);
      assert.equal((await repair([s.dir], { archive: caseRoot, pool })).archives[0]!.outcome, 'repaired');
      assert.deepEqual([...(await snapshot(adir)).keys()].sort(), [...s.pristineSnap.keys()].sort());
    } finally {
      await rm(caseRoot, { recursive: true, force: true });
    }
  });
});

describe('CLI exit codes', () => {
  for (const tier of [1, 3] as const) {
    test(`Tier ${tier}: verify 3 / repair --dry-run 3 (no change) / repair 0 / verify 0 for repairable damage`, async () => {
      const s = setup(tier);
      const { caseRoot, adir } = await freshCase(s);
      try {
        const rand = prng(600 + tier);
        const lostStripe = s.shards.length - 1;
        for (const n of sample(rand, s.shards[lostStripe]!.map((_, i) => i), M)) await injure(adir, s.shards[lostStripe]![n]!, pick(rand, DAMAGE_KINDS), rand);
        await addJunk(adir, '');
        const before = rows(await snapshot(caseRoot));
        const v = runCliRaw(['verify', s.dir, '--archive', caseRoot]);
        assert.equal(v.status, 3, v.stderr);
        const dry = runCliRaw(['repair', s.dir, '--dry-run', '--archive', caseRoot]);
        assert.equal(dry.status, 3, dry.stderr);
        assert.match(dry.stdout.toString(), /would repair/);
        assert.deepEqual(rows(await snapshot(caseRoot)), before, 'repair --dry-run changed nothing');
        const r = runCliRaw(['repair', s.dir, '--archive', caseRoot]);
        assert.equal(r.status, 0, r.stderr);
        const v2 = runCliRaw(['verify', '--archive', caseRoot]);
        assert.equal(v2.status, 0, v2.stdout.toString() + v2.stderr);
      } finally {
        await rm(caseRoot, { recursive: true, force: true });
      }
    });

    test(`Tier ${tier}: verify 4 / repair 4 (names the lost shards, changes nothing) beyond tolerance`, async () => {
      const s = setup(tier);
      const { caseRoot, adir } = await freshCase(s);
      try {
        const rand = prng(700 + tier);
        const lost = sample(rand, s.shards[0]!, M + 1);
        for (const p of lost) await injure(adir, p, pick(rand, DAMAGE_KINDS), rand);
        const before = rows(await snapshot(caseRoot));
        const v = runCliRaw(['verify', s.dir, '--archive', caseRoot]);
        assert.equal(v.status, 4, v.stderr);
        const r = runCliRaw(['repair', s.dir, '--archive', caseRoot]);
        assert.equal(r.status, 4, r.stderr);
        for (const p of lost) assert.ok(r.stdout.toString().includes(p), `repair output names ${p}`);
        const dry = runCliRaw(['repair', s.dir, '--dry-run', '--archive', caseRoot]);
        assert.equal(dry.status, 4, dry.stderr);
        const j = runCliRaw(['repair', s.dir, '--json', '--archive', caseRoot]);
        assert.equal(j.status, 4);
        assert.deepEqual([...JSON.parse(j.stdout.toString()).archives[0].lost].sort(), [...lost].sort());
        assert.deepEqual(rows(await snapshot(caseRoot)), before, 'nothing changed');
      } finally {
        await rm(caseRoot, { recursive: true, force: true });
      }
    });
  }
});
