// Key order, listing pages against a brute-force model, key and bucket rules, and the XML parser (fast-check + tables).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkCompletion, multipartEtag } from '../../src/s3/multipart.js';
import { decodeToken, encodeToken, listPage } from '../../src/s3/listing.js';
import { checkBucketName, checkKey, compareUtf8 } from '../../src/s3/names.js';
import { el, parseXml } from '../../src/s3/xml.js';
import type { PartInfo } from '../../src/s3/uploads.js';
import { s3code } from './helpers.js';

const keyChar = fc.constantFrom('a', 'b', '/', '-', 'é', '\uffff', '\ue000', '😀', '𐍈', ' ');
const key = fc.string({ unit: keyChar, minLength: 1, maxLength: 6 });

test('property: compareUtf8 orders like the bytes of UTF-8 (S3 listing order)', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (a, b) => {
      assert.equal(Math.sign(compareUtf8(a, b)), Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
    }),
    { numRuns: 2000, seed: 11 },
  );
  fc.assert(
    fc.property(key, key, (a, b) => assert.equal(Math.sign(compareUtf8(a, b)), Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))))),
    { numRuns: 2000, seed: 12 },
  );
});

/** What a listing must return, computed the slow and obvious way. */
function model(keys: string[], prefix: string, delimiter: string): string[] {
  const out: string[] = [];
  for (const k of keys) {
    if (!k.startsWith(prefix)) continue;
    const d = delimiter === '' ? -1 : k.indexOf(delimiter, prefix.length);
    const e = d < 0 ? k : k.slice(0, d + delimiter.length);
    if (out[out.length - 1] !== e && !out.includes(e)) out.push(e);
  }
  return out;
}

test('property: paging with any max-keys through continuation tokens gives exactly the one-shot listing', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(key, { maxLength: 40 }),
      fc.string({ unit: keyChar, maxLength: 2 }),
      fc.constantFrom('', '/', 'b', '-/'),
      fc.integer({ min: 1, max: 7 }),
      (raw, prefix, delimiter, maxKeys) => {
        const keys = [...raw].sort(compareUtf8);
        const want = model(keys, prefix, delimiter);
        const got: string[] = [];
        let after = '';
        for (let guard = 0; guard < 100; guard++) {
          const page = listPage(keys, { prefix, delimiter, maxKeys, after });
          const entries = [...page.keys, ...page.commonPrefixes].sort(compareUtf8);
          assert.ok(entries.length <= maxKeys);
          got.push(...entries);
          if (!page.truncated) break;
          assert.ok(entries.length === maxKeys);
          after = decodeToken(encodeToken(page.last!));
        }
        assert.deepEqual(got, want);
      },
    ),
    { numRuns: 600, seed: 0x1157 },
  );
});

test('listing table: start-after inside a common prefix, max-keys 0, prefix past the end', () => {
  const keys = ['a/1', 'a/2', 'b', 'c/x/y'];
  assert.deepEqual(listPage(keys, { prefix: '', delimiter: '/', maxKeys: 10, after: 'a/1' }), { keys: ['b'], commonPrefixes: ['c/'], truncated: false, last: 'c/' });
  assert.deepEqual(listPage(keys, { prefix: '', delimiter: '', maxKeys: 0, after: '' }).truncated, true);
  assert.deepEqual(listPage(keys, { prefix: 'z', delimiter: '/', maxKeys: 10, after: '' }).keys, []);
  assert.deepEqual(listPage(keys, { prefix: 'c/', delimiter: '/', maxKeys: 10, after: '' }).commonPrefixes, ['c/x/']);
  assert.equal(s3code(() => decodeToken('not a token!')), 'InvalidArgument');
});

test('bucket names and keys: the S3 rules, and keys that would traverse paths are refused', () => {
  for (const good of ['abc', 'my-bucket.2', 'a'.repeat(63), '0-0']) assert.equal(s3code(() => checkBucketName(good)), undefined, good);
  for (const bad of ['ab', 'A-b', 'a'.repeat(64), '-ab', 'ab-', 'a..b', '192.168.1.1', 'xn--ab', '.s3', 'a_b', 'ab-s3alias']) assert.equal(s3code(() => checkBucketName(bad)), 'InvalidBucketName', bad);
  for (const good of ['a', 'a/b', 'x..y', '.hidden', 'a/.b/c', '日本/語', 'sp ace', 'a/b/']) assert.equal(s3code(() => checkKey(good)), undefined, good);
  for (const [bad, code] of [['', 'InvalidArgument'], ['..', 'InvalidArgument'], ['a/../b', 'InvalidArgument'], ['./a', 'InvalidArgument'], ['a/.', 'InvalidArgument'], ['a\0b', 'InvalidArgument'], ['é'.repeat(513), 'KeyTooLongError']] as const) {
    assert.equal(s3code(() => checkKey(bad)), code, JSON.stringify(bad));
  }
});

test('XML parser: well-formed documents parse; malformed, DOCTYPE and deep ones are MalformedXML', () => {
  const ok = parseXml('<?xml version="1.0"?>\n<!-- c --><a xmlns="x"><b>1 &amp; 2 &#x41;</b><b><![CDATA[<raw>]]></b><c/></a>');
  assert.equal(ok.name, 'a');
  assert.deepEqual(ok.children.map((c) => [c.name, c.text]), [['b', '1 & 2 A'], ['b', '<raw>'], ['c', '']]);
  const bad = [
    '',
    '<a>',
    '<a></b>',
    '<a><b></a></b>',
    '<a>&bogus;</a>',
    '<a>&</a>',
    '<a/><b/>',
    'text<a/>',
    '<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>',
    '<a><!DOCTYPE x></a>',
    '<a b=c/>',
    `${'<a>'.repeat(40)}${'</a>'.repeat(40)}`,
    '<a>&#xD800;</a>',
  ];
  for (const text of bad) assert.equal(s3code(() => parseXml(text)), 'MalformedXML', text);
});

test('property: any text survives el() then parseXml()', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme' }), (text) => {
      const clean = text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff\r]/g, '');
      assert.equal(parseXml(el('K', clean)).text, clean);
    }),
    { numRuns: 1000, seed: 5 },
  );
});

test('CompleteMultipartUpload checks: order, duplicates, unknown parts, ETags, sizes and counts', () => {
  const MiB = 1024 * 1024;
  const staged: PartInfo[] = [1, 2, 3].map((n) => ({ number: n, size: n === 3 ? 10 : 5 * MiB, md5: String(n).repeat(32), lastModified: '' }));
  const doc = (parts: [number, string][]) => `<CompleteMultipartUpload>${parts.map(([n, e]) => `<Part><PartNumber>${n}</PartNumber><ETag>"${e}"</ETag></Part>`).join('')}</CompleteMultipartUpload>`;
  const e = (n: number) => String(n).repeat(32);
  assert.equal(checkCompletion(doc([[1, e(1)], [2, e(2)], [3, e(3)]]), staged).length, 3);
  assert.equal(checkCompletion(doc([[1, e(1)], [3, e(3)]]), staged).length, 2);
  const table: [string, string][] = [
    [doc([[2, e(2)], [1, e(1)]]), 'InvalidPartOrder'],
    [doc([[1, e(1)], [1, e(1)]]), 'InvalidPartOrder'],
    [doc([[1, e(1)], [4, e(4)]]), 'InvalidPart'],
    [doc([[1, e(2)]]), 'InvalidPart'],
    [doc([[3, e(3)], [4, e(4)]]), 'InvalidPart'],
    [doc([[1, e(1)], [3, e(3)], [3, e(3)]]), 'InvalidPartOrder'],
    [doc([]), 'MalformedXML'],
    [doc([[0, e(1)]]), 'InvalidArgument'],
    [doc([[10001, e(1)]]), 'InvalidArgument'],
    ['<CompleteMultipartUpload><Part><ETag>"x"</ETag></Part></CompleteMultipartUpload>', 'MalformedXML'],
    ['<Other/>', 'MalformedXML'],
    ['<CompleteMultipartUpload><Part>', 'MalformedXML'],
    [doc(Array.from({ length: 10001 }, (_, i) => [i + 1, e(1)] as [number, string])), 'MalformedXML'],
  ];
  for (const [xml, code] of table) assert.equal(s3code(() => checkCompletion(xml, staged)), code, xml.slice(0, 120));
  const small: PartInfo[] = [1, 2].map((n) => ({ number: n, size: 5 * MiB - 1, md5: e(n), lastModified: '' }));
  assert.equal(s3code(() => checkCompletion(doc([[1, e(1)], [2, e(2)]]), small)), 'EntityTooSmall');
  assert.match(multipartEtag(staged), /^"[0-9a-f]{32}-3"$/);
});
