// Staging segment headers (docs/FORMAT.md §13.9): the exact spelling, offsets after the header line, strict refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockFrameError } from '../../src/errors.js';
import { stagingIdOf, stagingKey, s3ObjectBucket, s3ObjectKey } from '../../src/layout/keys.js';
import { encodeStagingHeader, parseStagingHeader } from '../../src/layout/staging.js';

const H1 = 'a'.repeat(64);
const H2 = 'b'.repeat(64);
const code = (c: string) => (e: unknown) => e instanceof BlockFrameError && e.code === c;

test('a staging header is one JSON line; offsets count from the byte after it, contiguous from 0', () => {
  const { header, entries } = encodeStagingHeader([{ hash: H1, size: 3 }, { hash: H2, size: 5 }]);
  const text = new TextDecoder().decode(header);
  assert.equal(text, `{"format_version":3,"kind":"staging","blobs":[{"hash":"${H1}","offset":0,"size":3},{"hash":"${H2}","offset":3,"size":5}]}\n`);
  const seg = Buffer.concat([header, Buffer.from('abcdefgh')]);
  const h = parseStagingHeader(seg, 'x');
  assert.deepEqual(h.blobs, entries);
  assert.equal(h.bodyStart, header.length);
  assert.equal(h.size, seg.length);
  assert.equal(seg.subarray(h.bodyStart + 3, h.bodyStart + 8).toString(), 'defgh');
  assert.equal(stagingIdOf(stagingKey(H1)), H1);
  assert.equal(stagingIdOf('.s3/staging/x.seg'), null);
  assert.equal(s3ObjectKey('bkt', H2), `.s3/objects/bkt/${H2}.json`);
  assert.equal(s3ObjectBucket(s3ObjectKey('bkt', H2)), 'bkt');
});

test('a staging header that breaks the format is BF_STAGING_INVALID', () => {
  const line = (o: unknown) => Buffer.from(`${JSON.stringify(o)}\n`);
  const ok = { format_version: 3, kind: 'staging', blobs: [{ hash: H1, offset: 0, size: 1 }] };
  for (const bad of [
    { ...ok, extra: 1 },
    { ...ok, format_version: 2 },
    { ...ok, kind: 'index' },
    { ...ok, blobs: [] },
    { ...ok, blobs: [{ hash: H1, offset: 1, size: 1 }] },
    { ...ok, blobs: [{ hash: H1, offset: 0, size: 0 }] },
    { ...ok, blobs: [{ hash: H1.toUpperCase(), offset: 0, size: 1 }] },
    { ...ok, blobs: [{ hash: H1, offset: 0, size: 1 }, { hash: H1, offset: 1, size: 1 }] },
    { ...ok, blobs: [{ hash: H1, offset: 0, size: 16 * 1024 * 1024 }] },
  ]) assert.throws(() => parseStagingHeader(line(bad), 'x'), code('BF_STAGING_INVALID'), JSON.stringify(bad));
  assert.throws(() => parseStagingHeader(Buffer.from('{"format_version":3'), 'x'), code('BF_STAGING_INVALID'));
  assert.throws(() => encodeStagingHeader([]), code('BF_USAGE'));
  assert.throws(() => encodeStagingHeader([{ hash: H1, size: 0 }]), code('BF_USAGE'));
});
