// manifest.json validation: schema errors name the field; geometry and Merkle root are enforced.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computeGeometry } from '../../src/layout/geometry.js';
import { FORMAT_VERSION, MERKLE_ALGORITHM, merkleLeaves, parseManifest, serializeManifest, type Manifest } from '../../src/layout/manifest.js';
import { merkleRootHex } from '../../src/integrity/merkle.js';
import { isBlockFrameError } from '../../src/errors.js';

function sample(): Manifest {
  const g = computeGeometry({ tier: 3, size: 3100, segmentSize: 100 });
  let n = 0;
  const h = () => (n++).toString(16).padStart(64, '0');
  const stripes = g.stripes.map((st) => ({
    index: st.index,
    shard_size: st.shardSize,
    data: st.segments.map((s) => ({ index: s.index, path: s.path, offset: s.offset, size: s.size, hash: h() })),
    parity: st.parity.map((p) => ({ index: p.index, path: p.path, size: p.size, hash: h() })),
    chunks_hash: h(),
  }));
  const leaves = merkleLeaves({ stripes });
  return {
    format_version: FORMAT_VERSION,
    name: 'x.bin',
    size: 3100,
    original_hash: 'f'.repeat(64),
    tier: 3,
    segment_size: 100,
    erasure_coding: { type: 'reed-solomon', field: 'gf(2^8)/0x11d', matrix: 'test', data_shards: 30, parity_shards: 3 },
    chunk_index: { path: 'chunks.idx', chunk_size: 65536 },
    stripes,
    merkle: { algorithm: MERKLE_ALGORITHM, leaf_count: leaves.length, root: merkleRootHex(leaves) },
    created_at: '2026-11-25T12:00:00.000Z',
    generator: 'test',
  };
}

function expectField(text: string, field: RegExp): void {
  assert.throws(
    () => parseManifest(text),
    (e) => isBlockFrameError(e, 'BF_MANIFEST_INVALID') && field.test(String(e.context.field)) && !e.message.includes('\n'),
  );
}

test('a well-formed manifest round-trips', () => {
  const m = sample();
  assert.deepEqual(parseManifest(serializeManifest(m)), m);
});

test('errors name the bad field', () => {
  const edit = (f: (m: any) => void): string => {
    const m: any = sample();
    f(m);
    return JSON.stringify(m);
  };
  expectField('{not json', /./);
  expectField(edit((m) => (m.format_version = 99)), /^format_version$/);
  expectField(edit((m) => (m.size = -1)), /^size$/);
  expectField(edit((m) => (m.original_hash = 'xyz')), /^original_hash$/);
  expectField(edit((m) => (m.stripes[1].data[0].hash = 'ABC')), /^stripes\.1\.data\.0\.hash$/);
  expectField(edit((m) => (m.stripes[0].data[3].path = '../../../etc/passwd')), /^stripes\.0\.data\.3\.path$/);
  expectField(edit((m) => (m.stripes[0].parity[0].path = '/etc/passwd')), /^stripes\.0\.parity\.0\.path$/);
  expectField(edit((m) => (m.stripes[0].data[1].size = 5)), /^stripes\.0\.data\.1\.size$/);
  expectField(edit((m) => m.stripes.pop()), /^stripes$/);
  expectField(edit((m) => (m.tier = 7)), /^tier$/);
  expectField(edit((m) => (m.chunk_index.chunk_size = 3000)), /^chunk_index\.chunk_size$/);
  expectField(edit((m) => (m.chunk_index.path = '../x')), /^chunk_index\.path$/);
  expectField(edit((m) => (m.extra = 1)), /^\(root\)$/);
  expectField(edit((m) => delete m.created_at), /^created_at$/);
  expectField(edit((m) => (m.stripes[0].parity[2].hash = '0'.repeat(64))), /^merkle\.root$/);
});
