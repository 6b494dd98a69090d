// Conditional writes under concurrency: If-None-Match: * and If-Match on PutObject and CompleteMultipartUpload, exactly one winner.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { archiveDirs, raw, startS3, type RawResponse, type TestS3 } from './helpers.js';

let t: TestS3;

before(async () => {
  // These races are about archives (retired when no key names them): objects from 0 bytes are archives here.
  t = await startS3({ archiveFrom: 0 });
  assert.equal((await raw(t.endpoint, { method: 'PUT', path: '/condbkt' })).status, 200);
});
after(() => t.close());

const md5 = (s: string) => `"${createHash('md5').update(s).digest('hex')}"`;
const put = (key: string, body: string, headers: Record<string, string> = {}) => raw(t.endpoint, { method: 'PUT', path: `/condbkt/${key}`, body, headers });

/** Exactly one 200; every other reply is 412 PreconditionFailed or 409 ConditionalRequestConflict. */
function oneWinner(replies: RawResponse[]): number {
  const winners = replies.flatMap((r, i) => (r.status === 200 ? [i] : []));
  assert.equal(winners.length, 1, `winners: ${replies.map((r) => r.status).join(',')}`);
  for (const r of replies) if (r.status !== 200) assert.ok((r.status === 412 && r.code === 'PreconditionFailed') || (r.status === 409 && r.code === 'ConditionalRequestConflict'), `${r.status} ${r.code}`);
  return winners[0]!;
}

async function assertNoOrphans(prefix: string, keys: number): Promise<void> {
  assert.equal((await archiveDirs(t.root, prefix)).length, keys, 'one archive per key: the losers committed nothing that stays');
}

test('20 concurrent PUTs with If-None-Match: * to a new key: exactly one wins, its body is stored, the rest get 412', async () => {
  const bodies = Array.from({ length: 20 }, (_, i) => `racer ${i}`);
  const replies = await Promise.all(bodies.map((b) => put('fresh', b, { 'if-none-match': '*' })));
  const w = oneWinner(replies);
  const got = await raw(t.endpoint, { method: 'GET', path: '/condbkt/fresh' });
  assert.equal(got.body, bodies[w]);
  assert.equal(got.headers.etag, md5(bodies[w]!));
  await assertNoOrphans('condbkt_fresh_', 1);
  // Later ones fail at once.
  assert.equal((await put('fresh', 'late', { 'if-none-match': '*' })).status, 412);
});

test('5 concurrent If-Match writers over the same ETag: exactly one wins, with different bodies and with identical ones', async () => {
  for (const same of [false, true]) {
    const key = same ? 'im-same' : 'im-diff';
    assert.equal((await put(key, 'version 0')).status, 200);
    const bodies = Array.from({ length: 5 }, (_, i) => (same ? 'version 1' : `version 1.${i}`));
    const replies = await Promise.all(bodies.map((b) => put(key, b, { 'if-match': md5('version 0') })));
    const w = oneWinner(replies);
    assert.equal((await raw(t.endpoint, { method: 'GET', path: `/condbkt/${key}` })).body, bodies[w]);
    await assertNoOrphans(`condbkt_${key}_`, 1);
  }
  assert.equal((await put('im-missing', 'x', { 'if-match': md5('x') })).code, 'NoSuchKey');
});

async function upload(key: string, body: string): Promise<{ complete(headers?: Record<string, string>): Promise<RawResponse> }> {
  const c = await raw(t.endpoint, { method: 'POST', path: `/condbkt/${key}`, query: { uploads: '' } });
  const uploadId = /<UploadId>(\w+)<\/UploadId>/.exec(c.body)![1]!;
  const p = await raw(t.endpoint, { method: 'PUT', path: `/condbkt/${key}`, query: { uploadId, partNumber: '1' }, body });
  assert.equal(p.status, 200);
  const xml = `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${p.headers.etag}</ETag></Part></CompleteMultipartUpload>`;
  return { complete: (headers = {}) => raw(t.endpoint, { method: 'POST', path: `/condbkt/${key}`, query: { uploadId }, body: xml, headers }) };
}

test('CompleteMultipartUpload with If-None-Match: *: of concurrent completes of one new key one wins; a failed one leaves its upload intact', async () => {
  const ups = await Promise.all(Array.from({ length: 4 }, (_, i) => upload('mp-fresh', `multipart ${i}`)));
  const replies = await Promise.all(ups.map((u) => u.complete({ 'if-none-match': '*' })));
  const w = oneWinner(replies);
  assert.equal((await raw(t.endpoint, { method: 'GET', path: '/condbkt/mp-fresh' })).body, `multipart ${w}`);
  await assertNoOrphans('condbkt_mp-fresh_', 1);
  // A loser's upload is still there: completed without the condition, it replaces the object.
  const loser = ups[(w + 1) % ups.length]!;
  const again = await loser.complete();
  assert.equal(again.status, 200);
  assert.equal((await raw(t.endpoint, { method: 'GET', path: '/condbkt/mp-fresh' })).body, `multipart ${(w + 1) % ups.length}`);
  // If-Match against a stale ETag: 412 before anything is committed.
  const u = await upload('mp-fresh', 'other');
  assert.equal((await u.complete({ 'if-match': md5('nothing like it') })).status, 412);
});
