// SigV4 verification: AWS's published examples, the SDK's own signer as a reference (fast-check), and chunk chains.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { SignatureV4 } from '@smithy/signature-v4';
import { authenticate, MAX_SKEW_MS } from '../../src/s3/auth.js';
import { decodeChunked } from '../../src/s3/chunked.js';
import { canonicalUri, chunkStringToSign, EMPTY_SHA256, parseQuery, sha256Hex, signHex, signingKey, uriEncode } from '../../src/s3/sigv4.js';
import { isBlockFrameError } from '../../src/errors.js';
import { prng } from '../helpers/fixtures.js';
import { NodeSha256, s3code } from './helpers.js';

/** AWS's example credentials from the SigV4 documentation. */
const EXAMPLE = { accessKey: 'AKIAIOSFODNN7EXAMPLE', secretKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const users = new Map([[EXAMPLE.accessKey, EXAMPLE]]);

/** A request as the auth code sees it: method, raw target and headers in wire order. */
function fakeReq(headers: [string, string][]): IncomingMessage {
  const h: Record<string, string> = {};
  for (const [k, v] of headers) h[k.toLowerCase()] = h[k.toLowerCase()] ? `${h[k.toLowerCase()]}, ${v}` : v;
  return { headers: h, rawHeaders: headers.flat() } as unknown as IncomingMessage;
}

function auth(method: string, target: string, headers: [string, string][], now: number) {
  const qi = target.indexOf('?');
  return authenticate({ method, rawPath: qi < 0 ? target : target.slice(0, qi), query: parseQuery(qi < 0 ? '' : target.slice(qi + 1)), req: fakeReq(headers) }, users, now);
}

/** AWS's "GET Object" example request (a Range header, signed at 20130524T000000Z). */
const getExample = (): [string, string][] => [
  ['Host', 'examplebucket.s3.amazonaws.com'],
  ['Range', 'bytes=0-9'],
  ['x-amz-content-sha256', EMPTY_SHA256],
  ['x-amz-date', '20130524T000000Z'],
  ['Authorization', 'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41'],
];

const T2013 = Date.UTC(2013, 4, 24);

test('AWS example: GET Object with a Range header (Authorization header)', () => {
  const headers = getExample();
  const caller = auth('GET', '/test.txt', headers, T2013);
  assert.equal(caller.user?.accessKey, EXAMPLE.accessKey);
  headers[1] = ['Range', 'bytes=0-10'];
  assert.equal(s3code(() => auth('GET', '/test.txt', headers, T2013)), 'SignatureDoesNotMatch');
});

test('AWS example: presigned GET, then the same URL after it expired and with an unknown key', () => {
  const q =
    'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404';
  const headers: [string, string][] = [['Host', 'examplebucket.s3.amazonaws.com']];
  assert.equal(auth('GET', `/test.txt?${q}`, headers, T2013 + 3600_000).user?.accessKey, EXAMPLE.accessKey);
  assert.equal(s3code(() => auth('GET', `/test.txt?${q}`, headers, T2013 + 86_401_000)), 'AccessDenied');
  assert.equal(s3code(() => auth('GET', `/test.txt?${q.replace('AKIAIOSFODNN7EXAMPLE', 'AKIAUNKNOWN00')}`, headers, T2013)), 'InvalidAccessKeyId');
  assert.equal(s3code(() => auth('GET', `/test.txt?${q.replace('86400', '604801')}`, headers, T2013)), 'AuthorizationQueryParametersError');
});

test('AWS example: chunked PUT: the seed signature, then the chunk chain through the decoder', async () => {
  const headers: [string, string][] = [
    ['Host', 's3.amazonaws.com'],
    ['x-amz-date', '20130524T000000Z'],
    ['x-amz-storage-class', 'REDUCED_REDUNDANCY'],
    ['x-amz-content-sha256', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD'],
    ['Content-Encoding', 'aws-chunked'],
    ['x-amz-decoded-content-length', '66560'],
    ['Content-Length', '66824'],
    ['Authorization', 'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9'],
  ];
  const caller = auth('PUT', '/examplebucket/chunkObject.txt', headers, T2013);
  assert.equal(caller.payload.kind, 'chunked');
  if (caller.payload.kind !== 'chunked') return;
  const chain = caller.payload;
  const sigs = ['ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648', '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497', 'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9'];
  const body = Buffer.concat([
    Buffer.from(`10000;chunk-signature=${sigs[0]}\r\n`),
    Buffer.alloc(65536, 'a'),
    Buffer.from(`\r\n400;chunk-signature=${sigs[1]}\r\n`),
    Buffer.alloc(1024, 'a'),
    Buffer.from(`\r\n0;chunk-signature=${sigs[2]}\r\n\r\n`),
  ]);
  assert.equal(body.length, 66824);
  // Delivered in awkward pieces: framing may split anywhere.
  const pieces = (b: Buffer) => Readable.from([b.subarray(0, 7), b.subarray(7, 40000), b.subarray(40000, 65600), b.subarray(65600)]);
  const out: Buffer[] = [];
  for await (const c of decodeChunked(pieces(body), chain, new Map())) out.push(c);
  assert.deepEqual(Buffer.concat(out), Buffer.alloc(66560, 'a'));
  // One flipped data byte breaks that chunk's signature.
  const bad = Buffer.from(body);
  bad[100] = 0x62;
  await assert.rejects(async () => {
    for await (const c of decodeChunked(pieces(bad), chain, new Map())) void c;
  }, (e: unknown) => isBlockFrameError(e) && e.context.s3 === 'SignatureDoesNotMatch');
});

test('clock skew: requests more than 15 minutes off are RequestTimeTooSkewed; a bad date or SigV2 is refused', () => {
  const headers = getExample();
  assert.equal(auth('GET', '/test.txt', headers, T2013 + MAX_SKEW_MS).user?.accessKey, EXAMPLE.accessKey);
  assert.equal(s3code(() => auth('GET', '/test.txt', headers, T2013 + MAX_SKEW_MS + 1000)), 'RequestTimeTooSkewed');
  assert.equal(s3code(() => auth('GET', '/test.txt', headers, T2013 - MAX_SKEW_MS - 1000)), 'RequestTimeTooSkewed');
  assert.equal(s3code(() => auth('GET', '/test.txt', [['Host', 'h'], ['Authorization', 'AWS AKIAIOSFODNN7EXAMPLE:abc=']], T2013)), 'InvalidRequest');
  assert.equal(s3code(() => auth('GET', '/test.txt', [['Host', 'h'], ['Authorization', 'AWS4-HMAC-SHA256 Credential=x']], T2013)), 'AuthorizationHeaderMalformed');
});

const segment = fc.string({ unit: fc.oneof(fc.constantFrom('a', 'Z', '0', '-', '_', '.', '~', ' ', '+', '%', '&', '=', '?', '#', '!', '*', "'", '(', ')', ',', ';', ':', '@', '$'), fc.constantFrom('é', 'ü', '日', '😀', '\u00a0')), minLength: 1, maxLength: 12 });

test('property: any request the SDK signer signs (header or presigned) verifies; a changed byte does not', async () => {
  const signer = new SignatureV4({ credentials: { accessKeyId: EXAMPLE.accessKey, secretAccessKey: EXAMPLE.secretKey }, region: 'eu-west-3', service: 's3', sha256: NodeSha256, uriEscapePath: false, applyChecksum: false });
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('GET', 'PUT', 'HEAD', 'DELETE', 'POST'),
      fc.array(segment, { minLength: 1, maxLength: 4 }),
      fc.dictionary(segment, fc.oneof(segment, fc.constant('')), { maxKeys: 4 }),
      fc.dictionary(fc.constantFrom('x-amz-meta-a', 'x-amz-meta-b', 'content-type', 'x-amz-acl'), fc.string({ unit: fc.constantFrom('a', ' ', 'b', '\t', ',', '1'), minLength: 1, maxLength: 10 }).filter((s) => s.trim() !== '')),
      fc.boolean(),
      async (method, segs, query, extra, presign) => {
        const path = `/bucket/${segs.map((s) => uriEncode(s)).join('/')}`;
        const now = Date.UTC(2024, 0, 2, 3, 4, 5);
        const request = { method, protocol: 'http:', hostname: '127.0.0.1', port: 9000, path, query: { ...query }, headers: { host: '127.0.0.1:9000', ...extra, 'x-amz-content-sha256': presign ? 'UNSIGNED-PAYLOAD' : EMPTY_SHA256 } as Record<string, string> };
        const signed = presign ? await signer.presign(request, { signingDate: new Date(now), expiresIn: 600 }) : await signer.sign(request, { signingDate: new Date(now) });
        const qs = Object.entries(signed.query ?? {}).map(([k, v]) => `${uriEncode(k)}=${uriEncode(String(v))}`).join('&');
        const target = qs ? `${path}?${qs}` : path;
        const headers = Object.entries(signed.headers).map(([k, v]) => [k, String(v)] as [string, string]);
        assert.equal(auth(method, target, headers, now + 1000).user?.accessKey, EXAMPLE.accessKey);
        // Tamper: another method, or another path.
        assert.equal(s3code(() => auth(method === 'GET' ? 'PUT' : 'GET', target, headers, now)), 'SignatureDoesNotMatch');
        assert.equal(s3code(() => auth(method, target.replace('/bucket/', '/bucket2/'), headers, now)), 'SignatureDoesNotMatch');
      },
    ),
    { numRuns: 150, seed: 0x5163 },
  );
});

test('canonical URI: a segment is decoded once and encoded the SigV4 way ("%2F" stays inside its segment)', () => {
  const table: [string, string][] = [
    ['/', '/'],
    ['/b/a%2Fb', '/b/a%2Fb'],
    ['/b/a b', '/b/a%20b'],
    ['/b/%7e%41', '/b/~A'],
    ['/b/x//y/./../z', '/b/x//y/./../z'],
    ['/b/%E6%97%A5', '/b/%E6%97%A5'],
    ['/b/(!*)', '/b/%28%21%2A%29'],
  ];
  for (const [raw, want] of table) assert.equal(canonicalUri(raw), want, raw);
});

test('property: a random chunking of a random body decodes to the body when signed, and fails when a signature is off', async () => {
  const key = signingKey('secret-key', '20240102', 'us-east-1', 's3');
  const scope = '20240102/us-east-1/s3/aws4_request';
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 1, max: 999 }), fc.integer({ min: 1, max: 1 << 30 }), async (size, chunk, split, seed) => {
      const next = prng(seed);
      const data = Buffer.from(Array.from({ length: size }, () => next() & 0xff));
      let prev = 'f'.repeat(64);
      const parts: Buffer[] = [];
      for (let off = 0; ; off += chunk) {
        const piece = data.subarray(off, Math.min(size, off + chunk));
        prev = signHex(key, chunkStringToSign('20240102T000000Z', scope, prev, piece.length ? sha256Hex(piece) : EMPTY_SHA256));
        parts.push(Buffer.from(`${piece.length.toString(16)};chunk-signature=${prev}\r\n`), piece, Buffer.from('\r\n'));
        if (piece.length === 0) break;
      }
      const body = Buffer.concat(parts);
      const feed = (b: Buffer) => Readable.from(Array.from({ length: Math.ceil(b.length / split) }, (_, i) => b.subarray(i * split, (i + 1) * split)));
      const chain = { signed: true, trailer: false, seed: 'f'.repeat(64), key, scope, amzDate: '20240102T000000Z' };
      const out: Buffer[] = [];
      for await (const c of decodeChunked(feed(body), chain, new Map())) out.push(Buffer.from(c));
      assert.deepEqual(Buffer.concat(out), data);
      await assert.rejects(async () => {
        for await (const c of decodeChunked(feed(body), { ...chain, seed: 'e'.repeat(64) }, new Map())) void c;
      });
    }),
    { numRuns: 60, seed: 0xc0de },
  );
});
