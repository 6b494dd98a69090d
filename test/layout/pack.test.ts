// Format v3 layout (docs/FORMAT.md §13.1, §13.2, §13.5): size rules, blob tables and index files round-trip, and every corruption is refused naming the line; manifests take `pack` in v3 only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isBlockFrameError } from '../../src/errors.js';
import { blake3Hex, initBlake3 } from '../../src/integrity/blake3.js';
import { blobDir, indexIdOf, indexKey, packDir, packIdOf } from '../../src/layout/keys.js';
import { parseManifest, serializeManifest, type Manifest } from '../../src/layout/manifest.js';
import { buildManifest, planLargeBlob, planPack, type ShardHashes } from '../../src/layout/plan.js';
import {
  encodeBlobTable,
  encodeIndexFile,
  largeBlobSegmentSize,
  PACK_MAX_BLOBS,
  PACK_THRESHOLD,
  packFacts,
  packSegmentSize,
  parseBlobTable,
  parseIndexFile,
  type BlobEntry,
} from '../../src/layout/pack.js';

const MiB = 1024 * 1024;
const hexArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));

/** Contiguous entries with distinct hashes from a list of sizes. */
const entriesArb = fc
  .uniqueArray(hexArb, { minLength: 1, maxLength: 40 })
  .chain((hashes) => fc.tuple(fc.constant(hashes), fc.array(fc.integer({ min: 1, max: PACK_THRESHOLD - 1 }), { minLength: hashes.length, maxLength: hashes.length })))
  .map(([hashes, sizes]) => {
    let offset = 0;
    return hashes.map((hash, i): BlobEntry => {
      const e = { hash, offset, size: sizes[i]! };
      offset += e.size;
      return e;
    });
  });

function end(es: BlobEntry[]): number {
  const last = es[es.length - 1]!;
  return last.offset + last.size;
}

test('pack segment size: one stripe of 4 KiB multiples, at least 4 KiB (FORMAT.md §13.2)', () => {
  assert.equal(packSegmentSize(1, 30), 4096);
  assert.equal(packSegmentSize(30 * 4096, 30), 4096);
  assert.equal(packSegmentSize(30 * 4096 + 1, 30), 8192);
  assert.equal(packSegmentSize(64 * MiB, 30), Math.ceil(64 * MiB / 30 / 4096) * 4096);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 64 * MiB }), fc.integer({ min: 1, max: 60 }), (n, k) => {
      const s = packSegmentSize(n, k);
      assert.ok(s % 4096 === 0 && s >= 4096 && s * k >= n && (s - 4096) * k < Math.max(n, 1) + 4096 * k);
      const p = planPack(n, 1, 0);
      assert.equal(p.geometry.stripes.length, 1);
      assert.equal(p.tier, 3);
    }),
    { numRuns: 200 },
  );
  // Four stores, one failure: RS(23,9), still one stripe.
  const p4 = planPack(10 * MiB, 4, 1);
  assert.equal(p4.geometry.stripes.length, 1);
  assert.equal(p4.geometry.stripes[0]!.dataShards, 23);
});

test('large blob segment size: full blocks (FORMAT.md §13.1)', () => {
  // 100 MiB, k = 30: one block, S = ceil(100 MiB / 30) rounded to 4 KiB.
  assert.equal(largeBlobSegmentSize(100 * MiB, 30), Math.ceil(100 * MiB / 30 / 4096) * 4096);
  const p = planLargeBlob(100 * MiB, 1, 0);
  assert.equal(p.tier, 3);
  assert.equal(p.geometry.stripes.length, 1);
  assert.equal(p.geometry.stripes[0]!.segments.length, 30);
  // 2 GiB, k = 30: B = ceil(2 GiB / (30 × 32 MiB)) = 3 blocks, all full but for the rounding.
  const big = planLargeBlob(2048 * MiB, 1, 0);
  assert.equal(big.geometry.stripes.length, 3);
  assert.ok(big.geometry.stripes.every((s) => s.segments.length === 30));
});

test('keys: packs and blobs fan out by two hex digits; index files by their hash', () => {
  const h = 'ab'.padEnd(64, '0');
  assert.equal(packDir(h), `packs/ab/pack_${h}`);
  assert.equal(blobDir(h), `blobs/ab/blob_${h}`);
  assert.equal(indexKey(h), `index/${h}.jsonl`);
  assert.equal(indexIdOf(indexKey(h)), h);
  assert.equal(packIdOf(packDir(h)), h);
  assert.equal(packIdOf(`packs/cd/pack_${h}`), null);
  assert.equal(indexIdOf('index/x.jsonl'), null);
});

test('blob table: encode then parse is the identity (property)', async () => {
  await initBlake3();
  fc.assert(
    fc.property(entriesArb, (es) => {
      const table = encodeBlobTable(es);
      const facts = packFacts(table, end(es), es.length);
      assert.deepEqual(parseBlobTable(table, facts, 'p'), es);
    }),
    { numRuns: 200 },
  );
});

/** Parse `lines` (rewritten with a matching table_hash and size, so only the line rules can refuse it). */
function parseLines(lines: string[], blobs: number, tableOffset: number): BlobEntry[] {
  const table = new TextEncoder().encode(lines.map((l) => `${l}\n`).join(''));
  return parseBlobTable(table, packFacts(table, tableOffset, blobs), 'packs/ab/pack_x');
}

function refusedAt(fn: () => unknown, line: number | null): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isBlockFrameError(err, 'BF_MANIFEST_INVALID'), String(err));
    if (line !== null) {
      assert.equal(err.context.line, line);
      assert.match(err.message, new RegExp(`line ${line}\\b`));
    }
    return true;
  });
}

test('blob table: every corruption of a line is refused, naming the line (property)', async () => {
  await initBlake3();
  const mutations: ((o: Record<string, unknown>, prev: BlobEntry[]) => string)[] = [
    (o) => JSON.stringify({ ...o, extra: 1 }),
    (o) => JSON.stringify({ hash: o.hash, offset: o.offset }),
    (o) => JSON.stringify({ ...o, hash: String(o.hash).toUpperCase() }),
    (o) => JSON.stringify({ ...o, hash: String(o.hash).slice(1) }),
    (o) => JSON.stringify({ ...o, size: 0 }),
    (o) => JSON.stringify({ ...o, size: 1.5 }),
    (o) => JSON.stringify({ ...o, size: String(o.size) }),
    (o) => JSON.stringify({ ...o, offset: (o.offset as number) + 1 }),
    (o) => JSON.stringify({ ...o, offset: -1 }),
    (o) => JSON.stringify({ ...o, size: 2 ** 60 }),
    (o) => `${JSON.stringify(o).slice(0, -1)}`,
    () => '[1,2,3]',
    () => 'null',
    () => '',
    (o, prev) => (prev.length ? JSON.stringify({ ...o, hash: prev[0]!.hash }) : JSON.stringify({ ...o, extra: 1 })),
  ];
  fc.assert(
    fc.property(entriesArb, fc.nat(), fc.integer({ min: 0, max: mutations.length - 1 }), (es, at, which) => {
      const i = at % es.length;
      const lines = es.map((e) => JSON.stringify(e));
      lines[i] = mutations[which]!(JSON.parse(lines[i]!) as Record<string, unknown>, es.slice(0, i));
      refusedAt(() => parseLines(lines, es.length, end(es)), i + 1);
    }),
    { numRuns: 300 },
  );
});

test('blob table: whole-table corruptions are refused (count, end, hash, size, newline)', async () => {
  await initBlake3();
  const es: BlobEntry[] = [
    { hash: 'a'.repeat(64), offset: 0, size: 10 },
    { hash: 'b'.repeat(64), offset: 10, size: 5 },
  ];
  const table = encodeBlobTable(es);
  const facts = packFacts(table, 15, 2);
  refusedAt(() => parseBlobTable(table, { ...facts, blobs: 3 }, 'p'), null);
  refusedAt(() => parseBlobTable(table, { ...facts, table_offset: 16 }, 'p'), null);
  refusedAt(() => parseBlobTable(table, { ...facts, table_hash: 'c'.repeat(64) }, 'p'), null);
  refusedAt(() => parseBlobTable(table, { ...facts, table_size: table.length + 1 }, 'p'), null);
  const flipped = Uint8Array.from(table);
  flipped[20] ^= 1;
  refusedAt(() => parseBlobTable(flipped, facts, 'p'), null);
  const noNewline = table.subarray(0, -1);
  refusedAt(() => parseBlobTable(noNewline, packFacts(noNewline, 15, 2), 'p'), 2);
});

test('index file: encode then parse is the identity (property); every bad line is refused naming it', async () => {
  fc.assert(
    fc.property(fc.array(entriesArb, { maxLength: 5 }), fc.array(fc.tuple(hexArb, fc.integer({ min: PACK_THRESHOLD, max: 2 ** 40 })), { maxLength: 3 }), hexArb, (packs, archives, p) => {
      const f = { createdAt: '2026-12-03T15:20:00.000Z', packs: packs.map((blobs, i) => ({ pack: i === 0 ? p : blake3Hex(Buffer.from(String(i))), blobs })), archives: archives.map(([archive, size]) => ({ archive, size })) };
      assert.deepEqual(parseIndexFile(encodeIndexFile(f), 'i'), f);
    }),
    { numRuns: 100 },
  );
  const good = encodeIndexFile({ createdAt: '2026-12-03T15:20:00.000Z', packs: [{ pack: 'a'.repeat(64), blobs: [{ hash: 'b'.repeat(64), offset: 0, size: 3 }] }], archives: [{ archive: 'c'.repeat(64), size: PACK_THRESHOLD }] });
  const lines = new TextDecoder().decode(good).split('\n').slice(0, -1);
  const bad: [number, string][] = [
    [1, '{"format_version":2,"kind":"index","created_at":"2026-12-03T15:20:00.000Z"}'],
    [1, '{"format_version":3,"kind":"index"}'],
    [2, `{"pack":"${'a'.repeat(64)}","blobs":[["${'b'.repeat(64)}",1,3]]}`],
    [2, `{"pack":"${'a'.repeat(64)}","blobs":[]}`],
    [2, `{"pack":"${'a'.repeat(64)}","blobs":[["${'b'.repeat(64)}",0,${PACK_THRESHOLD}]]}`],
    [2, `{"pack":"${'a'.repeat(64)}","blobs":[["${'b'.repeat(64)}",0,3]],"x":1}`],
    [3, `{"archive":"${'c'.repeat(64)}","size":${PACK_THRESHOLD - 1}}`],
    [3, `{"archive":"${'c'.repeat(63)}","size":${PACK_THRESHOLD}}`],
    [3, 'not json'],
  ];
  for (const [n, line] of bad) {
    const ls = [...lines];
    ls[n - 1] = line;
    assert.throws(() => parseIndexFile(new TextEncoder().encode(ls.map((l) => `${l}\n`).join('')), 'index/x.jsonl'), (err: unknown) => isBlockFrameError(err, 'BF_INDEX_INVALID') && err.context.line === n, line);
  }
  assert.ok(PACK_MAX_BLOBS === 65_536);
});

/** A pack manifest as the writer builds it, with made-up shard hashes (parseManifest checks only their Merkle root). */
function packManifest(streamBytes: number, blobs: number): Manifest {
  const plan = planPack(streamBytes, 1, 0);
  let n = 0;
  const h = () => (n++).toString(16).padStart(64, '0');
  const hashes: ShardHashes = {
    data: plan.geometry.stripes.map((s) => s.segments.map(h)),
    parity: plan.geometry.stripes.map((s) => s.parity.map(h)),
    chunks: plan.geometry.stripes.map(h),
    level2Parity: [],
    level2Chunks: [],
    original: 'e'.repeat(64),
  };
  const tableSize = 60;
  return buildManifest(plan, hashes, {
    name: 'pack',
    size: streamBytes,
    source: undefined,
    transformed: null,
    createdAt: '2026-12-03T15:20:00.000Z',
    generator: 'test',
    pack: { blobs, table_offset: streamBytes - tableSize, table_size: tableSize, table_hash: 'f'.repeat(64) },
  });
}

test('manifest: format_version 3 requires `pack`, and v1/v2 refuse it (FORMAT.md §13.2)', async () => {
  await initBlake3();
  const m = packManifest(100_000, 3);
  assert.equal(m.format_version, 3);
  assert.equal(m.source, undefined);
  assert.deepEqual(parseManifest(serializeManifest(m)), m);
  const refused = (mm: unknown, field: string) =>
    assert.throws(() => parseManifest(`${JSON.stringify(mm)}\n`), (err: unknown) => isBlockFrameError(err, 'BF_MANIFEST_INVALID') && err.context.field === field, field);
  const { pack, ...noPack } = m;
  refused(noPack, 'pack');
  refused({ ...m, format_version: 2 }, 'pack');
  refused({ ...m, format_version: 1 }, 'pack');
  refused({ ...m, pack: { ...pack!, table_size: pack!.table_size + 1 } }, 'pack.table_size');
  refused({ ...m, pack: { ...pack!, blobs: 0 } }, 'pack.blobs');
  refused({ ...m, pack: { ...pack!, blobs: PACK_MAX_BLOBS + 1 } }, 'pack.blobs');
  refused({ ...m, pack: { ...pack!, extra: 1 } }, 'pack');
  refused({ ...m, name: 'other' }, 'name');
  refused({ ...m, source: { mode: 0o644, mtime: '2026-12-03T15:20:00.000Z' } }, 'source');
});
