// Content-Disposition of GET /files/{name} over real HTTP: the exact name in filename* whatever its characters.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { contentDisposition } from '../../src/server/http-util.js';
import { makeArchive, startServer, type TestArchive } from './serve-helpers.js';

/** Names that once lost characters, or could break the header: backslash, quotes, ';', '%', controls, non-ASCII. */
const NAMES = ['back\\slash.txt', 'C:\\Users\\me\\report.pdf', 'say "hi"; now.txt', 'semi;colon=1.bin', '100%25 done.txt', 'tab\there\nline.txt', 'naïve ☃ 😀.txt', "it's (a) *star*.txt", 'trailing\\'];

/** filename*'s value decoded as RFC 8187 says (charset UTF-8, empty language). */
function starName(cd: string): string {
  const m = /; filename\*=UTF-8''([A-Za-z0-9!#$&+\-.^_`|~%]+)$/.exec(cd);
  assert.ok(m, `filename* is not a well-formed RFC 8187 ext-value: ${cd}`);
  return decodeURIComponent(m[1]!);
}

/** The quoted-string fallback, checked to be printable ASCII without '"' or '\\' inside. */
function asciiName(cd: string): string {
  const m = /^(?:inline|attachment); filename="([\x20-\x21\x23-\x5b\x5d-\x7e]*)"; /.exec(cd);
  assert.ok(m, `filename is not a plain quoted-string: ${cd}`);
  return m[1]!;
}

describe('Content-Disposition keeps the exact file name', () => {
  let a: TestArchive;
  let srv: { base: string; close(): Promise<void> };

  before(async () => {
    a = await makeArchive(NAMES.map((name, i) => ({ name, size: 100 + i, seed: 300 + i })));
    srv = await startServer({ archive: a.root });
  });
  after(async () => {
    await srv?.close();
    await a?.cleanup();
  });

  test('a backslash is not a path separator: back\\slash.txt is downloaded as back\\slash.txt, not slash.txt', async () => {
    for (const name of NAMES) {
      const r = await fetch(`${srv.base}/files/${encodeURIComponent(a.dirs.get(name)!)}?download=1`, { method: 'HEAD' });
      assert.equal(r.status, 200, name);
      const cd = r.headers.get('content-disposition')!;
      assert.match(cd, /^attachment; /);
      assert.equal(starName(cd), name, JSON.stringify(name));
      assert.equal(asciiName(cd).length, [...name].length, `the fallback keeps one character per character of ${JSON.stringify(name)}`);
    }
  });

  test('S3-style names keep the part after the last "/"; odd names still give a valid header', () => {
    assert.equal(starName(contentDisposition('bucket/dir/a\\b.txt', false)), 'a\\b.txt');
    assert.equal(starName(contentDisposition('bucket/dir/', false)), 'download');
    assert.equal(starName(contentDisposition('lone \ud800 surrogate', true)), 'lone \ufffd surrogate');
    assert.equal(asciiName(contentDisposition('\u0000\u001f\u007f"\\%', true)), '______');
  });
});
