// Range reads: read() and createReadStream() return exactly original[offset, offset + length) for any range, on intact
// and damaged archives (reporting the damage they heal), reject ranges outside the file and never return unverified
// bytes when a stripe is lost beyond repair; `blockframe cat --range` through the real CLI agrees.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { ComputePool, commit, createReadStream, read, restore, type Damage } from '../../src/index.js';
import { prng, tempDir, writeRandomFile } from '../helpers/fixtures.js';
import { between, cloneRoot, DAMAGE_KINDS, injure, pick, runCliRaw, sample, shardsByStripe, type DamageKind } from '../helpers/faults.js';

const C = 65536; // chunk_index.chunk_size
const M = 3;

interface Arch {
  label: string;
  tier: 1 | 2 | 3;
  size: number;
  segmentSize?: number;
  root: string;
  dir: string;
  data: Uint8Array;
  shards: string[][];
  dataCount: number[];
  /** File offsets worth hitting: segment, block, chunk and read-window boundaries, EOF. */
  points: number[];
  /** Segment n covers [segOffset[n], segOffset[n] + segSize[n]). */
  segOffset: number[];
  segSize: number[];
  /** Data shard path -> global segment index. */
  segOf: Map<string, number>;
}

const SPECS: Omit<Arch, 'root' | 'dir' | 'data' | 'shards' | 'dataCount' | 'points' | 'segOffset' | 'segSize' | 'segOf'>[] = [
  // Crosses the reader's 4 MiB window and many chunk boundaries in one shard.
  { label: 'tier1', tier: 1, size: 4 * 1024 * 1024 + 300_001 },
  // Segments not aligned to chunks; the last segment is 3 bytes long.
  { label: 'tier2', tier: 2, size: 700_003, segmentSize: 100_000 },
  // Three blocks of 20 000-byte segments; the last block has 6 segments, the last one 777 bytes.
  { label: 'tier3-small', tier: 3, size: 1_300_777, segmentSize: 20_000 },
  // Segments of 3 chunks (the last one short); the last block has 2 segments.
  { label: 'tier3-chunky', tier: 3, size: 4_700_000, segmentSize: 150_000 },
];

let root: string;
let cleanup: () => Promise<void>;
let pool: ComputePool;
const archs: Arch[] = [];
let caseNo = 0;

before(async () => {
  ({ dir: root, cleanup } = await tempDir('bf-range-'));
  pool = ComputePool.start();
  for (const [i, s] of SPECS.entries()) {
    const src = join(root, `${s.label}.bin`);
    const data = await writeRandomFile(src, s.size, 9000 + i);
    const archive = join(root, `pristine-${s.label}`);
    const r = await commit(src, { archive, tier: s.tier, segmentSize: s.segmentSize, pool });
    assert.equal(r.tier, s.tier);
    const segOffset: number[] = [];
    const segSize: number[] = [];
    const segOf = new Map<string, number>();
    const points = new Set([0, 1, s.size - 1, s.size]);
    for (const st of r.manifest.stripes) {
      points.add(st.data[0]!.offset); // block (stripe) boundary
      for (const d of st.data) {
        segOffset[d.index] = d.offset;
        segSize[d.index] = d.size;
        segOf.set(d.path, d.index);
        for (let c = 0; c <= d.size; c += C) points.add(d.offset + c); // chunk boundaries inside the segment
        points.add(d.offset + d.size);
      }
    }
    for (let w = 4 * 1024 * 1024; w < s.size; w += 4 * 1024 * 1024) points.add(w);
    const around = [...points].flatMap((p) => [p - 1, p, p + 1]).filter((p) => p >= 0 && p <= s.size);
    archs.push({
      ...s,
      root: archive,
      dir: r.dir,
      data,
      shards: shardsByStripe(r.manifest),
      dataCount: r.manifest.stripes.map((st) => st.data.length),
      points: [...new Set(around)].sort((a, b) => a - b),
      segOffset,
      segSize,
      segOf,
    });
  }
  assert.deepEqual(archs.map((a) => a.shards.length), [1, 8, 3, 2]);
});

after(async () => {
  await pool.close();
  await cleanup();
});

/** (offset, length) within the file, biased to boundaries: empty, 1 byte, whole file, to EOF, across segments/blocks. */
function rangeArb(a: Arch): fc.Arbitrary<[number, number]> {
  const offset = fc.oneof(fc.constantFrom(...a.points), fc.integer({ min: 0, max: a.size }));
  return offset.chain((off) => {
    const rest = a.size - off;
    const ends = a.points.filter((p) => p >= off).map((p) => p - off);
    const len = fc.oneof(
      fc.constantFrom(0, Math.min(1, rest), rest),
      fc.constantFrom(...ends),
      fc.integer({ min: 0, max: rest }),
      fc.integer({ min: 0, max: Math.min(rest, 2 * C + 7) }),
    );
    return len.map((l): [number, number] => [off, l]);
  });
}

function slice(a: Arch, off: number, len: number): Buffer {
  return Buffer.from(a.data.subarray(off, off + len));
}

async function streamBytes(a: Arch, archive: string, range: { start?: number; end?: number }): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of createReadStream(a.dir, range, { archive, pool })) parts.push(b as Buffer);
  return Buffer.concat(parts);
}

describe('read() of intact archives: property over (offset, length)', () => {
  for (const [i, spec] of SPECS.entries()) {
    test(`${spec.label}: read(offset, length) equals the original slice`, async () => {
      const a = archs[i]!;
      // Explicit must-haves first, then the property.
      for (const [off, len] of [
        [0, 0],
        [0, 1],
        [0, a.size],
        [a.size - 1, 1],
        [a.size, 0],
      ] as const) {
        assert.ok(slice(a, off, len).equals(await read(a.dir, off, len, { archive: a.root, pool })), `read(${off}, ${len})`);
      }
      // Lengths past EOF are clamped to the end of the file.
      assert.ok(slice(a, a.size - 10, 10).equals(await read(a.dir, a.size - 10, 1000, { archive: a.root, pool })));
      await fc.assert(
        fc.asyncProperty(rangeArb(a), async ([off, len]) => {
          const got = await read(a.dir, off, len, { archive: a.root, pool, onDamage: (d) => assert.fail(`intact archive reported ${d.path}`) });
          assert.equal(got.length, len);
          assert.ok(slice(a, off, len).equals(got), `read(${off}, ${len})`);
        }),
        { seed: 4242 + i, numRuns: spec.size > 4_000_000 ? 40 : 80 },
      );
    });
  }
});

describe('createReadStream({start, end}) equals the slice', () => {
  for (const [i, spec] of SPECS.entries()) {
    test(`${spec.label}: property over [start, end]`, async () => {
      const a = archs[i]!;
      assert.ok(Buffer.from(a.data).equals(await streamBytes(a, a.root, {})), 'whole file by default');
      assert.ok(slice(a, 5, a.size - 5).equals(await streamBytes(a, a.root, { start: 5 })), 'start only');
      assert.ok(slice(a, 0, 1001).equals(await streamBytes(a, a.root, { end: 1000 })), 'end only (inclusive)');
      assert.ok(slice(a, a.size - 3, 3).equals(await streamBytes(a, a.root, { start: a.size - 3, end: a.size + 50 })), 'end clamped to EOF');
      await fc.assert(
        fc.asyncProperty(
          rangeArb(a).filter(([off, len]) => len > 0 && off < a.size),
          async ([off, len]) => {
            assert.ok(slice(a, off, len).equals(await streamBytes(a, a.root, { start: off, end: off + len - 1 })), `stream [${off}, ${off + len - 1}]`);
          },
        ),
        { seed: 777 + i, numRuns: 25 },
      );
    });
  }
});

describe('ranges outside the file', () => {
  test('read() at or past EOF with a length rejects with BF_RANGE_NOT_SATISFIABLE; bad numbers with BF_INVALID_RANGE', async () => {
    for (const a of archs) {
      for (const [off, len] of [
        [a.size, 1],
        [a.size + 1, 1],
        [a.size + 1_000_000, 10],
      ]) {
        await assert.rejects(read(a.dir, off!, len!, { archive: a.root, pool }), { code: 'BF_RANGE_NOT_SATISFIABLE' }, `${a.label} read(${off}, ${len})`);
      }
      for (const [off, len] of [
        [-1, 1],
        [0, -1],
        [0.5, 1],
        [Number.NaN, 1],
      ]) {
        await assert.rejects(read(a.dir, off!, len!, { archive: a.root, pool }), { code: 'BF_INVALID_RANGE' }, `${a.label} read(${off}, ${len})`);
      }
    }
  });

  test('read() with an offset strictly beyond EOF rejects even for length 0', async () => {
    const a = archs[1]!;
    await assert.rejects(read(a.dir, a.size + 1, 0, { archive: a.root, pool }), { code: 'BF_RANGE_NOT_SATISFIABLE' });
  });

  test('createReadStream() starting at or past EOF errors with BF_RANGE_NOT_SATISFIABLE, like read() and cat --range', async () => {
    const a = archs[1]!;
    await assert.rejects(streamBytes(a, a.root, { start: a.size }), { code: 'BF_RANGE_NOT_SATISFIABLE' });
    await assert.rejects(streamBytes(a, a.root, { start: a.size + 100, end: a.size + 200 }), { code: 'BF_RANGE_NOT_SATISFIABLE' });
  });
});

interface Damaged {
  archive: string;
  /** Damaged shard path -> kind verify would report, and the chunks whose bytes differ from the original. */
  injuries: Map<string, { kind: 'missing' | 'truncated' | 'corrupt'; badChunks: Set<number> | 'all'; stripe: number }>;
}

/** A copy of `a` with up to m shards damaged in every stripe (random kinds), described chunk by chunk. */
async function damageArchive(a: Arch, seed: number, perStripe: (si: number) => number): Promise<Damaged> {
  const rand = prng(seed);
  const archive = join(root, `damaged-${a.label}-${++caseNo}`);
  await cloneRoot(a.root, archive);
  const adir = join(archive, a.dir);
  const injuries: Damaged['injuries'] = new Map();
  for (const [si, shards] of a.shards.entries()) {
    for (const p of sample(rand, shards, perStripe(si))) {
      const before = await readFile(join(adir, p));
      const kind: DamageKind = pick(rand, DAMAGE_KINDS);
      const inj = await injure(adir, p, kind, rand);
      let badChunks: Set<number> | 'all' = 'all';
      if (inj.expect === 'corrupt') {
        const now = await readFile(join(adir, p));
        badChunks = new Set();
        for (let c = 0; c * C < before.length; c++) if (!before.subarray(c * C, (c + 1) * C).equals(now.subarray(c * C, (c + 1) * C))) badChunks.add(c);
        assert.ok(badChunks.size > 0);
      }
      injuries.set(p, { kind: inj.expect, badChunks, stripe: si });
    }
  }
  return { archive, injuries };
}

/** Damage onDamage must name for a read of [off, off + len): damaged data segments whose damaged chunks it touches. */
function mustReport(a: Arch, d: Damaged, off: number, len: number): string[] {
  const out: string[] = [];
  if (len === 0) return out;
  for (const [p, inj] of d.injuries) {
    const seg = a.segOf.get(p);
    if (seg === undefined) continue; // parity: only seen when it is needed for a rebuild
    const s0 = a.segOffset[seg]!;
    const from = Math.max(off, s0) - s0;
    const to = Math.min(off + len, s0 + a.segSize[seg]!) - s0;
    if (from >= to) continue;
    if (inj.badChunks === 'all') {
      out.push(p);
      continue;
    }
    for (let c = Math.floor(from / C); c < Math.ceil(to / C); c++) {
      if (inj.badChunks.has(c)) {
        out.push(p);
        break;
      }
    }
  }
  return out.sort();
}

describe('read() of damaged archives (up to m shards per stripe): correct bytes, damage reported', () => {
  for (const [i, spec] of SPECS.entries()) {
    test(`${spec.label}: property over (offset, length) with shards damaged in every stripe`, async () => {
      const a = archs[i]!;
      const d = await damageArchive(a, 31337 + i, () => 1 + (i % M));
      // Also the full m in the first stripe.
      try {
        await fc.assert(
          fc.asyncProperty(rangeArb(a), async ([off, len]) => {
            const seen: Damage[] = [];
            const got = await read(a.dir, off, len, { archive: d.archive, pool, onDamage: (x) => seen.push(x) });
            assert.ok(slice(a, off, len).equals(got), `read(${off}, ${len})`);
            for (const x of seen) {
              const inj = d.injuries.get(x.path);
              assert.ok(inj, `reported ${x.path}, which is intact`);
              assert.equal(x.kind, inj.kind, `kind of ${x.path}`);
              assert.equal(x.stripe, inj.stripe, `stripe of ${x.path}`);
            }
            const reported = new Set(seen.map((x) => x.path));
            for (const p of mustReport(a, d, off, len)) assert.ok(reported.has(p), `read(${off}, ${len}) healed ${p} without reporting it`);
          }),
          { seed: 99 + i, numRuns: spec.size > 4_000_000 ? 30 : 60 },
        );
      } finally {
        await rm(d.archive, { recursive: true, force: true });
      }
    });
  }

  test('tier3-small: exactly m shards damaged in every block; streams and whole-file restore still exact', async () => {
    const a = archs[2]!;
    const d = await damageArchive(a, 5150, () => M);
    try {
      const rand = prng(5151);
      for (let n = 0; n < 10; n++) {
        const off = rand() % a.size;
        const end = Math.min(a.size - 1, off + (rand() % 200_000));
        const parts: Buffer[] = [];
        for await (const b of createReadStream(a.dir, { start: off, end }, { archive: d.archive, pool })) parts.push(b as Buffer);
        assert.ok(slice(a, off, end - off + 1).equals(Buffer.concat(parts)), `stream [${off}, ${end}]`);
      }
      const out = join(root, `restored-${++caseNo}`);
      const seen: Damage[] = [];
      await restore(a.dir, out, { archive: d.archive, pool, onDamage: (x) => seen.push(x) });
      assert.ok(Buffer.from(a.data).equals(await readFile(out)));
      const dataDamaged = [...d.injuries.keys()].filter((p) => a.segOf.has(p)).sort();
      assert.deepEqual(seen.map((x) => x.path).filter((p) => a.segOf.has(p)).sort(), dataDamaged, 'restore names every damaged segment');
      await rm(out);
    } finally {
      await rm(d.archive, { recursive: true, force: true });
    }
  });

  test('tier2: a damaged chunks.idx is recomputed on the fly and reported', async () => {
    const a = archs[1]!;
    const archive = join(root, `idx-${++caseNo}`);
    await cloneRoot(a.root, archive);
    try {
      await injure(join(archive, a.dir), 'chunks.idx', 'flip', prng(12));
      const seen: Damage[] = [];
      const got = await read(a.dir, 0, a.size, { archive, pool, onDamage: (x) => seen.push(x) });
      assert.ok(Buffer.from(a.data).equals(got));
      assert.ok(seen.some((x) => x.path === 'chunks.idx'), JSON.stringify(seen));
    } finally {
      await rm(archive, { recursive: true, force: true });
    }
  });
});

describe('beyond tolerance: m+1 shards of one stripe destroyed', () => {
  let a: Arch;
  let archive: string;
  // tier3-small, block 1 (segments 30..59): segments 33 and 40, and parity rows 0 and 2 are deleted.
  const LOST_SEGS = [33, 40];
  before(async () => {
    a = archs[2]!;
    archive = join(root, 'lost');
    await cloneRoot(a.root, archive);
    const adir = join(archive, a.dir);
    const block = a.shards[1]!;
    const victims = [...LOST_SEGS.map((s) => block[s - 30]!), block[30]!, block[32]!];
    for (const p of victims) await injure(adir, p, 'delete', prng(1));
  });

  test('a range inside a lost segment rejects with BF_UNRECOVERABLE', async () => {
    for (const seg of LOST_SEGS) {
      const s0 = a.segOffset[seg]!;
      for (const [off, len] of [
        [s0, 1],
        [s0 + 100, 5000],
        [s0, a.segSize[seg]!],
      ]) {
        await assert.rejects(read(a.dir, off!, len!, { archive, pool }), { code: 'BF_UNRECOVERABLE' }, `read(${off}, ${len})`);
      }
    }
  });

  test('a range that starts in good data and runs into the lost region rejects and returns nothing', async () => {
    const s0 = a.segOffset[LOST_SEGS[0]!]!;
    await assert.rejects(read(a.dir, s0 - 50_000, 60_000, { archive, pool }), { code: 'BF_UNRECOVERABLE' });
    await assert.rejects(read(a.dir, 0, a.size, { archive, pool }), { code: 'BF_UNRECOVERABLE' });
    // A stream may deliver the verified bytes before the lost region, but only correct ones, then it errors.
    const parts: Buffer[] = [];
    await assert.rejects(
      (async () => {
        for await (const b of createReadStream(a.dir, { start: s0 - 50_000, end: s0 + 10 }, { archive, pool })) parts.push(b as Buffer);
      })(),
      { code: 'BF_UNRECOVERABLE' },
    );
    const got = Buffer.concat(parts);
    assert.ok(got.length <= 50_000, 'no byte of the lost segment was streamed');
    assert.ok(slice(a, s0 - 50_000, got.length).equals(got));
  });

  test('ranges in intact stripes, and in intact segments of the broken stripe, still read fine', async () => {
    const rand = prng(2468);
    const blockStarts = [0, a.segOffset[30]!, a.segOffset[60]!];
    const ranges: [number, number][] = [
      [0, blockStarts[1]!], // all of block 0
      [blockStarts[2]!, a.size - blockStarts[2]!], // all of block 2
      [a.segOffset[34]!, 3 * 20_000], // segments 34-36 of the broken block
      [a.segOffset[40]! + 20_000, 1], // first byte after a lost segment
    ];
    for (let n = 0; n < 6; n++) {
      const off = between(rand, 0, blockStarts[1]! - 2);
      ranges.push([off, between(rand, 1, blockStarts[1]! - off)]);
    }
    for (const [off, len] of ranges) assert.ok(slice(a, off, len).equals(await read(a.dir, off, len, { archive, pool })), `read(${off}, ${len})`);
  });

  test('restore fails with BF_UNRECOVERABLE and leaves no output file', async () => {
    const out = join(root, 'lost-restore.bin');
    await assert.rejects(restore(a.dir, out, { archive, pool }), { code: 'BF_UNRECOVERABLE' });
    await assert.rejects(readFile(out), { code: 'ENOENT' });
  });

  test('CLI: cat --range inside the lost region exits 4 with nothing on stdout; an intact range exits 0', () => {
    const s0 = a.segOffset[LOST_SEGS[1]!]!;
    const bad = runCliRaw(['cat', a.dir, '--range', `${s0 + 10}-${s0 + 20}`, '--archive', archive]);
    assert.equal(bad.status, 4, bad.stderr);
    assert.equal(bad.stdout.length, 0);
    assert.match(bad.stderr, /BF_UNRECOVERABLE/);
    const good = runCliRaw(['cat', a.dir, '--range', '100-199999', '--archive', archive]);
    assert.equal(good.status, 0, good.stderr);
    assert.ok(slice(a, 100, 199_900).equals(good.stdout));
  });
});

describe('CLI cat --range', () => {
  test('START-END, START-, -SUFFIX through the real CLI equal the original bytes', () => {
    const cases: [number, string, number, number][] = [];
    // [archive, spec, offset, length]
    const a1 = archs[1]!; // tier 2, 100 000-byte segments
    const a2 = archs[2]!; // tier 3, blocks of 600 000 bytes
    cases.push(
      [1, '0-0', 0, 1],
      [1, `99990-100009`, 99_990, 20], // across a segment boundary
      [1, `${a1.size - 5}-`, a1.size - 5, 5], // into the 3-byte last segment
      [1, '-4', a1.size - 4, 4],
      [1, `0-${a1.size + 1000}`, 0, a1.size], // END clamped
      [2, `599000-601000`, 599_000, 2001], // across a block boundary
      [2, `-${a2.size + 5}`, 0, a2.size], // suffix longer than the file: the whole file
      [2, '1200000-', 1_200_000, a2.size - 1_200_000], // last block to EOF
    );
    for (const [ai, spec, off, len] of cases) {
      const a = archs[ai]!;
      const r = runCliRaw(['cat', a.dir, '--range', spec, '--archive', a.root]);
      assert.equal(r.status, 0, `${a.label} --range ${spec}: ${r.stderr}`);
      assert.equal(r.stdout.length, len, `${a.label} --range ${spec} length`);
      assert.ok(slice(a, off, len).equals(r.stdout), `${a.label} --range ${spec} bytes`);
    }
  });

  test('malformed ranges exit 2 with nothing on stdout', () => {
    const a = archs[1]!;
    for (const spec of ['abc', '5-3', '1-2-3', '-', 'x-5', '0x10-20']) {
      const r = runCliRaw(['cat', a.dir, '--range', spec, '--archive', a.root]);
      assert.equal(r.status, 2, `--range ${spec}: ${r.stderr}`);
      assert.match(r.stderr, /BF_INVALID_RANGE|BF_USAGE/);
      assert.equal(r.stdout.length, 0);
    }
  });

  test('START-END and -0 outside the file exit 1 with BF_RANGE_NOT_SATISFIABLE', () => {
    const a = archs[1]!;
    for (const spec of [`${a.size}-${a.size}`, `${a.size + 10}-${a.size + 20}`, '-0']) {
      const r = runCliRaw(['cat', a.dir, '--range', spec, '--archive', a.root]);
      assert.equal(r.status, 1, `--range ${spec}: ${r.stderr}`);
      assert.match(r.stderr, /BF_RANGE_NOT_SATISFIABLE/);
      assert.equal(r.stdout.length, 0);
    }
  });

  test('START- with START at or past EOF is BF_RANGE_NOT_SATISFIABLE (exit 1), not a malformed range', () => {
    const a = archs[1]!;
    for (const spec of [`${a.size}-`, `${a.size + 500}-`]) {
      const r = runCliRaw(['cat', a.dir, '--range', spec, '--archive', a.root]);
      assert.equal(r.status, 1, `--range ${spec}: ${r.stderr}`);
      assert.match(r.stderr, /BF_RANGE_NOT_SATISFIABLE/);
    }
  });

  test('with damaged shards, cat --range still prints the right bytes and warns about the damage', async () => {
    const a = archs[2]!;
    const archive = join(root, `cli-damaged-${++caseNo}`);
    await cloneRoot(a.root, archive);
    try {
      const seg = a.shards[0]![7]!; // segment 7: bytes 140 000 .. 159 999
      await injure(join(archive, a.dir), seg, 'zero', prng(3));
      await injure(join(archive, a.dir), a.shards[0]![31]!, 'delete', prng(4));
      const r = runCliRaw(['cat', a.dir, '--range', '130000-170000', '--archive', archive]);
      assert.equal(r.status, 0, r.stderr);
      assert.ok(slice(a, 130_000, 40_001).equals(r.stdout));
      assert.ok(r.stderr.includes(seg), r.stderr);
    } finally {
      await rm(archive, { recursive: true, force: true });
    }
  });
});
