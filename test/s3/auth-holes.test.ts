// Authentication holes found by attacking the endpoint: unsigned x-amz-* headers, stale credential dates, unsigned trailers, anonymous overrides.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, PutBucketAclCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { chunkStringToSign, EMPTY_SHA256, sha256Hex, signHex, signingKey, trailerStringToSign, uriEncode } from '../../src/s3/sigv4.js';
import { randomBytesSeeded } from '../helpers/fixtures.js';
import { ALICE, BOB, raw, signerFor, startS3, type RawResponse, type TestS3 } from './helpers.js';

let t: TestS3;
let alice: S3Client;

before(async () => {
  t = await startS3();
  alice = t.client(ALICE);
  await alice.send(new CreateBucketCommand({ Bucket: 'vault' }));
  await alice.send(new PutObjectCommand({ Bucket: 'vault', Key: 'secret.txt', Body: 'alice only' }));
  await alice.send(new CreateBucketCommand({ Bucket: 'drop' }));
});
after(async () => t.close());

const amzDateOf = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');

/** A presigned URL from the SDK's signer (signs only host; any x-amz-* header given is moved into the query). */
async function presign(method: string, path: string, query: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<string> {
  const url = new URL(t.endpoint);
  const p = await signerFor().presign({ method, protocol: 'http:', hostname: url.hostname, port: Number(url.port), path, query, headers: { host: url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...headers } }, { expiresIn: 600 });
  return `${t.endpoint}${p.path}?${Object.entries(p.query ?? {}).map(([k, v]) => `${uriEncode(k)}=${uriEncode(String(v))}`).join('&')}`;
}

/** Send to a full URL with exactly these headers (nothing signed here). */
function send(target: string, method: string, headers: Record<string, string>, body = ''): Promise<RawResponse> {
  const u = new URL(target);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path: `${u.pathname}${u.search}`, headers: { 'content-length': String(Buffer.byteLength(body)), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text, code: /<Code>([^<]+)<\/Code>/.exec(text)?.[1] }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('a presigned PUT URL cannot be turned into a copy, a metadata write or a public bucket by adding unsigned x-amz-* headers', async () => {
  // Alice hands out an upload URL for drop/upload.txt; its holder tries to make it copy her private object.
  const put = await presign('PUT', '/drop/upload.txt');
  const copy = await send(put, 'PUT', { 'x-amz-copy-source': '/vault/secret.txt' });
  assert.equal(copy.status, 403, copy.body);
  assert.equal(copy.code, 'AccessDenied');
  assert.match(copy.body, /<HeadersNotSigned>x-amz-copy-source<\/HeadersNotSigned>/);
  assert.equal(t.s3.context.catalog.get('drop', 'upload.txt'), undefined, 'nothing was copied');
  const meta = await send(put, 'PUT', { 'x-amz-meta-owner': 'mallory' }, 'data');
  assert.equal(meta.code, 'AccessDenied');
  assert.equal(t.s3.context.catalog.get('drop', 'upload.txt'), undefined);
  // The same URL used as issued still works.
  assert.equal((await send(put, 'PUT', {}, 'honest upload')).status, 200);
  // UploadPart URLs sign only host too: no UploadPartCopy through them.
  const { UploadId } = await alice.send(new CreateMultipartUploadCommand({ Bucket: 'drop', Key: 'big' }));
  const part = await presign('PUT', '/drop/big', { partNumber: '1', uploadId: UploadId! });
  const partCopy = await send(part, 'PUT', { 'x-amz-copy-source': '/vault/secret.txt' });
  assert.equal(partCopy.code, 'AccessDenied');
  assert.equal((await send(part, 'PUT', {}, 'part one')).status, 200);
  // A presigned CreateBucket cannot be made public by its holder.
  const mk = await presign('PUT', '/newbucket');
  const pub = await send(mk, 'PUT', { 'x-amz-acl': 'public-read' });
  assert.equal(pub.code, 'AccessDenied');
  assert.equal(t.s3.context.catalog.bucket('newbucket'), undefined, 'no bucket was created');
  assert.equal((await send(mk, 'PUT', {})).status, 200);
  assert.equal(t.s3.context.catalog.bucket('newbucket')?.publicRead, undefined);
  // An x-amz-* header the signer put into the (signed) query may also be sent as a header with the same value.
  const withMeta = await presign('PUT', '/drop/meta.txt', {}, { 'x-amz-meta-colour': 'blue' });
  assert.match(withMeta, /x-amz-meta-colour=blue/);
  assert.equal((await send(withMeta, 'PUT', { 'x-amz-meta-colour': 'blue' }, 'm')).status, 200);
  assert.equal((await send(withMeta, 'PUT', { 'x-amz-meta-colour': 'red' }, 'm')).code, 'AccessDenied');
});

test('x-amz-* headers a presigned URL carries in its signed query are obeyed (metadata kept, SSE refused), not silently ignored', async () => {
  const meta = await presign('PUT', '/drop/query-meta.txt', {}, { 'x-amz-meta-colour': 'blue' });
  assert.equal((await send(meta, 'PUT', {}, 'coloured')).status, 200);
  const head = await raw(t.endpoint, { method: 'HEAD', path: '/drop/query-meta.txt' });
  assert.equal(head.headers['x-amz-meta-colour'], 'blue');
  const sse = await presign('PUT', '/drop/query-sse.txt', {}, { 'x-amz-server-side-encryption': 'AES256' });
  const refused = await send(sse, 'PUT', {}, 'secret');
  assert.equal(refused.code, 'NotImplemented', refused.body);
  assert.equal(t.s3.context.catalog.get('drop', 'query-sse.txt'), undefined);
  // The signer may presign a copy: then x-amz-copy-source is the signer's, and it is honoured.
  const copy = await presign('PUT', '/vault/copy.txt', {}, { 'x-amz-copy-source': '/vault/secret.txt' });
  assert.equal((await send(copy, 'PUT', {})).status, 200);
  assert.equal((await raw(t.endpoint, { method: 'GET', path: '/vault/copy.txt' })).body, 'alice only');
});

test('a header-signed request with an x-amz-* header added after signing is refused, whatever the header', async () => {
  const url = new URL(t.endpoint);
  const body = 'signed body';
  const headers = { host: url.host, 'x-amz-content-sha256': sha256Hex(body), 'content-length': String(body.length) };
  const signed = await signerFor(BOB).sign({ method: 'PUT', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: '/bobs/x', query: {}, headers }, { signingDate: new Date() });
  await raw(t.endpoint, { method: 'PUT', path: '/bobs', user: BOB });
  const extras: Record<string, string>[] = [{ 'x-amz-copy-source': '/vault/secret.txt' }, { 'x-amz-meta-a': 'b' }, { 'x-amz-acl': 'public-read' }, { 'x-amz-anything-new': '1' }];
  for (const extra of extras) {
    const r = await send(`${t.endpoint}/bobs/x`, 'PUT', { ...(signed.headers as Record<string, string>), ...extra }, body);
    assert.equal(r.status, 403, JSON.stringify(extra));
    assert.equal(r.code, 'AccessDenied');
  }
  assert.equal(t.s3.context.catalog.get('bobs', 'x'), undefined);
  assert.equal((await send(`${t.endpoint}/bobs/x`, 'PUT', signed.headers as Record<string, string>, body)).status, 200);
});

/** A presigned GET signed by hand with credential scope date `credDate` while X-Amz-Date is now. */
function handPresign(path: string, credDate: string): string {
  const url = new URL(t.endpoint);
  const amzDate = amzDateOf(new Date());
  const q: [string, string][] = [
    ['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'],
    ['X-Amz-Credential', `${ALICE.accessKey}/${credDate}/us-east-1/s3/aws4_request`],
    ['X-Amz-Date', amzDate],
    ['X-Amz-Expires', '600'],
    ['X-Amz-SignedHeaders', 'host'],
  ];
  const query = q.map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`).join('&');
  const canonical = ['GET', path, query, `host:${url.host}\n`, 'host', 'UNSIGNED-PAYLOAD'].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', amzDate, `${credDate}/us-east-1/s3/aws4_request`, sha256Hex(canonical)].join('\n');
  return `${t.endpoint}${path}?${query}&X-Amz-Signature=${signHex(signingKey(ALICE.secretKey, credDate, 'us-east-1', 's3'), toSign)}`;
}

test('a presigned URL whose credential date is not the day of X-Amz-Date is refused (a URL scoped to 2020-01-01 does not work today)', async () => {
  const today = amzDateOf(new Date()).slice(0, 8);
  assert.equal((await send(handPresign('/vault/secret.txt', today), 'GET', {})).body, 'alice only', 'the hand signing is right');
  const old = await send(handPresign('/vault/secret.txt', '20200101'), 'GET', {});
  assert.equal(old.status, 400, old.body);
  assert.equal(old.code, 'AuthorizationQueryParametersError');
});

test('a signed-trailer aws-chunked upload without its x-amz-trailer-signature (or with a wrong one) writes nothing', async () => {
  const data = randomBytesSeeded(100_000, 3);
  const url = new URL(t.endpoint);
  const now = new Date();
  const amzDate = amzDateOf(now);
  const scope = `${amzDate.slice(0, 8)}/us-east-1/s3/aws4_request`;
  const key = signingKey(ALICE.secretKey, amzDate.slice(0, 8), 'us-east-1', 's3');
  const sum = createHash('sha256').update(data).digest('base64');
  const encode = (seed: string, trailer: 'signed' | 'none' | 'wrong' | 'absent') => {
    let prev = seed;
    const parts: Buffer[] = [];
    for (let off = 0; ; off += 65536) {
      const piece = Buffer.from(data.subarray(off, Math.min(data.length, off + 65536)));
      prev = signHex(key, chunkStringToSign(amzDate, scope, prev, piece.length ? sha256Hex(piece) : EMPTY_SHA256));
      parts.push(Buffer.from(`${piece.length.toString(16)};chunk-signature=${prev}\r\n`));
      if (piece.length === 0) break;
      parts.push(piece, Buffer.from('\r\n'));
    }
    const line = `x-amz-checksum-sha256:${sum}`;
    const sig = signHex(key, trailerStringToSign(amzDate, scope, prev, sha256Hex(`${line}\n`)));
    if (trailer === 'signed') parts.push(Buffer.from(`${line}\r\nx-amz-trailer-signature:${sig}\r\n\r\n`));
    if (trailer === 'wrong') parts.push(Buffer.from(`${line}\r\nx-amz-trailer-signature:${'0'.repeat(64)}\r\n\r\n`));
    if (trailer === 'none') parts.push(Buffer.from(`${line}\r\n\r\n`));
    if (trailer === 'absent') parts.push(Buffer.from('\r\n'));
    return Buffer.concat(parts);
  };
  for (const trailer of ['none', 'absent', 'wrong', 'signed'] as const) {
    const path = `/drop/trailer-${trailer}`;
    const length = encode('0'.repeat(64), trailer).length;
    const extra = { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(data.length), 'x-amz-trailer': 'x-amz-checksum-sha256', 'content-length': String(length) };
    const signed = await signerFor().sign({ method: 'PUT', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path, query: {}, headers: { host: url.host, 'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', ...extra } }, { signingDate: now });
    const seed = /Signature=([0-9a-f]{64})/.exec(String(signed.headers.authorization))![1]!;
    const r = await raw(t.endpoint, { method: 'PUT', path, headers: extra, payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', body: encode(seed, trailer), signingDate: now });
    if (trailer === 'signed') {
      assert.equal(r.status, 200, r.body);
      assert.equal(t.s3.context.catalog.get('drop', 'trailer-signed')?.checksums?.['x-amz-checksum-sha256'], sum);
    } else {
      assert.ok(r.status === 400 || r.status === 403, `${trailer}: ${r.status} ${r.body}`);
      assert.ok(r.code === 'IncompleteBody' || r.code === 'SignatureDoesNotMatch', `${trailer}: ${r.code}`);
      assert.equal(t.s3.context.catalog.get('drop', `trailer-${trailer}`), undefined, `${trailer}: nothing written`);
    }
  }
});

test('anonymous GETs may not override response headers (a public object is never served as text/html); signed GETs may', async () => {
  await alice.send(new CreateBucketCommand({ Bucket: 'public' }));
  await alice.send(new PutObjectCommand({ Bucket: 'public', Key: 'page', Body: '<script>alert(1)</script>', ContentType: 'text/plain' }));
  await alice.send(new PutBucketAclCommand({ Bucket: 'public', ACL: 'public-read' }));
  const plain = await fetch(`${t.endpoint}/public/page`);
  assert.equal(plain.headers.get('content-type'), 'text/plain');
  for (const q of ['response-content-type=text%2Fhtml', 'response-content-disposition=inline', 'response-cache-control=public', 'response-content-encoding=gzip']) {
    const r = await fetch(`${t.endpoint}/public/page?${q}`);
    assert.equal(r.status, 400, q);
    assert.match(await r.text(), /<Code>InvalidRequest<\/Code>/);
  }
  const head = await fetch(`${t.endpoint}/public/page?response-content-type=text%2Fhtml`, { method: 'HEAD' });
  assert.equal(head.status, 400);
  const signed = await alice.send(new GetObjectCommand({ Bucket: 'public', Key: 'page', ResponseContentType: 'text/html' }));
  assert.equal(signed.ContentType, 'text/html');
  await signed.Body!.transformToString();
});
