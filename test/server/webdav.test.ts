// Read-only WebDAV on `serve` (/dav/): rclone's webdav backend and curl PROPFIND byte-exact over a folder archive and
// a single-file archive, the writing methods refused with nothing changed, ranges, visibility, and damage beyond repair.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { commit } from '../../src/engine/commit.js';
import { commitTree } from '../../src/engine/commit-tree.js';
import { haveCommand, randomBytesSeeded, tempDir } from '../helpers/fixtures.js';
import { startServer } from './serve-helpers.js';

const rclone = haveCommand('rclone') ? 'rclone' : undefined;
const curl = haveCommand('curl') ? 'curl' : undefined;
const TOKEN = 'dav-test-token';
/** A client in a child process, asynchronously (the server under test runs in this process's event loop). */
const run = async (cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> => (await promisify(execFile)(cmd, args, { env, encoding: 'utf8', timeout: 30_000 })).stdout;

/** Every file under `dir` with its size and mtime: a fingerprint of the stores, to see that nothing changed. */
async function fingerprint(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const p = join(e.parentPath, e.name);
    const s = await stat(p);
    out.push(`${p} ${e.isDirectory() ? 'd' : s.size} ${s.mtimeMs}`);
  }
  return out.sort();
}

describe('WebDAV on serve', () => {
  let work: string;
  let archive: string;
  let server: { base: string; close(): Promise<void> };
  const files: Record<string, Uint8Array> = {
    'a/b/big.bin': randomBytesSeeded(1_300_000, 1),
    'a/small.txt': randomBytesSeeded(5000, 2),
    'h w é.bin': randomBytesSeeded(70_000, 3),
    zero: new Uint8Array(0),
  };
  const single = randomBytesSeeded(150_000, 4);
  const secret = randomBytesSeeded(1000, 5);

  before(async () => {
    work = (await tempDir('webdav')).dir;
    archive = join(work, 'archive');
    const src = join(work, 'photos');
    for (const [p, data] of Object.entries(files)) {
      await mkdir(join(src, p, '..'), { recursive: true });
      await writeFile(join(src, p), data);
    }
    await commitTree([src], { archive, name: 'photos' });
    await writeFile(join(work, 'notes.bin'), single);
    await commit(join(work, 'notes.bin'), { archive });
    await writeFile(join(work, 'secret.bin'), secret);
    await commit(join(work, 'secret.bin'), { archive });
    // An anonymous reader may not see secret.bin (as an S3 bucket's private archives are hidden from /files/).
    server = await startServer({ archive, token: TOKEN, visibility: (_dir, name) => name !== 'secret.bin' });
  });
  after(async () => {
    await server?.close();
    await rm(work, { recursive: true, force: true });
  });

  test('OPTIONS says DAV class 1 and allows only the reading methods', async () => {
    const r = await fetch(`${server.base}/dav/`, { method: 'OPTIONS' });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('dav'), '1');
    assert.equal(r.headers.get('allow'), 'OPTIONS, PROPFIND, GET, HEAD');
  });

  test('curl PROPFIND Depth 0 and 1: properties and percent-encoded hrefs; Depth infinity is 403 propfind-finite-depth', { skip: curl ? false : 'curl not installed' }, async () => {
    const propfind = (depth: string | undefined, path: string) => run(curl!, ['-s', '-X', 'PROPFIND', ...(depth === undefined ? [] : ['-H', `Depth: ${depth}`]), '-w', '\n%{http_code}', `${server.base}${path}`]);
    const zero = await propfind('0', '/dav/photos/a/small.txt');
    assert.match(zero, /\n207$/);
    assert.equal(zero.match(/<D:response>/g)?.length, 1);
    assert.match(zero, /<D:href>\/dav\/photos\/a\/small\.txt<\/D:href>/);
    assert.match(zero, /<D:getcontentlength>5000<\/D:getcontentlength>/);
    assert.match(zero, /<D:resourcetype><\/D:resourcetype>/);
    assert.match(zero, /<D:getetag>&quot;[0-9a-f]{64}&quot;<\/D:getetag>/);
    assert.match(zero, /<D:getcontenttype>text\/plain; charset=utf-8<\/D:getcontenttype>/);
    assert.match(zero, /<D:getlastmodified>\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT<\/D:getlastmodified>/);
    assert.match(zero, /<D:creationdate>\d{4}-\d\d-\d\dT[\d:.]+Z<\/D:creationdate>/);
    const one = await propfind('1', '/dav/photos/');
    assert.match(one, /\n207$/);
    const hrefs = [...one.matchAll(/<D:href>([^<]*)<\/D:href>/g)].map((m) => m[1]);
    assert.deepEqual(hrefs, ['/dav/photos/', '/dav/photos/a/', `/dav/photos/${encodeURIComponent('h w é.bin')}`, '/dav/photos/zero']);
    assert.match(one, /<D:displayname>h w é\.bin<\/D:displayname>/);
    assert.match(one, /<D:href>\/dav\/photos\/a\/<\/D:href><D:propstat><D:prop><D:resourcetype><D:collection\/><\/D:resourcetype>/);
    for (const depth of ['infinity', undefined]) {
      const inf = await propfind(depth, '/dav/');
      assert.match(inf, /<D:propfind-finite-depth\/>/);
      assert.match(inf, /\n403$/);
    }
    assert.match(await propfind('0', '/dav/nope'), /BF_FILE_NOT_FOUND[\s\S]*\n404$/);
  });

  test('rclone lsf and copy with the webdav backend: the folder archive and a single-file archive, byte-exact', { skip: rclone ? false : 'rclone not installed (apt-get install rclone)' }, async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, RCLONE_CONFIG: join(work, 'no-rclone.conf') };
    delete env.AWS_CA_BUNDLE;
    const r = (...args: string[]) => run(rclone!, ['--retries', '1', '--low-level-retries', '1', '--webdav-url', `${server.base}/dav/`, ...args], env);
    const top = (await r('lsf', ':webdav:')).split('\n').filter(Boolean).sort();
    assert.deepEqual(top, ['.snapshots/', 'notes.bin', 'photos/'], 'secret.bin is hidden from an anonymous reader');
    const tree = (await r('lsf', '-R', ':webdav:photos')).split('\n').filter(Boolean).sort();
    assert.deepEqual(tree, ['a/', 'a/b/', 'a/b/big.bin', 'a/small.txt', 'h w é.bin', 'zero']);
    const out = join(work, 'rclone-copy');
    (await r('copy', ':webdav:photos', out));
    for (const [p, data] of Object.entries(files)) assert.ok(Buffer.from(data).equals(await readFile(join(out, p))), p);
    (await r('copy', ':webdav:notes.bin', out));
    assert.ok(Buffer.from(single).equals(await readFile(join(out, 'notes.bin'))), 'the single-file archive');
    const snaps = (await r('lsf', ':webdav:.snapshots/photos')).split('\n').filter(Boolean);
    assert.equal(snaps.length, 1);
    assert.match(snaps[0]!, /^\d{4}-\d\d-\d\dT\d{6}\.\d{3}Z_[0-9a-f]{12}\/$/);
  });

  test('the bearer token shows what an anonymous reader may not see; anonymous gets 404', async () => {
    assert.equal((await fetch(`${server.base}/dav/secret.bin`)).status, 404);
    const r = await fetch(`${server.base}/dav/secret.bin`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    assert.equal(r.status, 200);
    assert.ok(Buffer.from(await r.arrayBuffer()).equals(secret));
  });

  test('GET and HEAD with Range: single, suffix, multipart, 416, If-None-Match 304', async () => {
    const url = `${server.base}/dav/photos/a/b/big.bin`;
    const big = Buffer.from(files['a/b/big.bin']!);
    const head = await fetch(url, { method: 'HEAD' });
    assert.equal(head.headers.get('content-length'), String(big.length));
    assert.equal(head.headers.get('accept-ranges'), 'bytes');
    const etag = head.headers.get('etag')!;
    assert.match(etag, /^"[0-9a-f]{64}"$/);
    const part = await fetch(url, { headers: { Range: 'bytes=1000000-1000099' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 1000000-1000099/${big.length}`);
    assert.ok(Buffer.from(await part.arrayBuffer()).equals(big.subarray(1_000_000, 1_000_100)));
    const suffix = await fetch(url, { headers: { Range: 'bytes=-10' } });
    assert.ok(Buffer.from(await suffix.arrayBuffer()).equals(big.subarray(big.length - 10)));
    const multi = await fetch(url, { headers: { Range: 'bytes=0-9,500000-500009' } });
    assert.equal(multi.status, 206);
    assert.match(multi.headers.get('content-type')!, /^multipart\/byteranges; boundary=/);
    const body = Buffer.from(await multi.arrayBuffer());
    assert.ok(body.includes(big.subarray(0, 10)) && body.includes(big.subarray(500_000, 500_010)));
    const bad = await fetch(url, { headers: { Range: `bytes=${big.length}-` } });
    assert.equal(bad.status, 416);
    assert.equal(bad.headers.get('content-range'), `bytes */${big.length}`);
    assert.equal((await fetch(url, { headers: { 'If-None-Match': etag } })).status, 304);
    const whole = await fetch(url);
    assert.ok(Buffer.from(await whole.arrayBuffer()).equals(big), 'the whole file through read-ahead');
    const empty = await fetch(`${server.base}/dav/photos/zero`);
    assert.equal(empty.status, 200);
    assert.equal((await empty.arrayBuffer()).byteLength, 0);
  });

  test('/files/TREE/PATH and /files/.snapshots/… serve packed files of folder archives with Range and ETag; /api/tree lists', async () => {
    const small = await fetch(`${server.base}/files/photos/a/small.txt`);
    assert.equal(small.status, 200);
    assert.ok(Buffer.from(await small.arrayBuffer()).equals(files['a/small.txt']!));
    const dav = await fetch(`${server.base}/dav/photos/a/small.txt`, { method: 'HEAD' });
    assert.equal(small.headers.get('etag'), dav.headers.get('etag'), 'one ETag: the blob hash');
    assert.match(small.headers.get('content-disposition')!, /^inline; filename="small.txt"/);
    const part = await fetch(`${server.base}/files/photos/${encodeURIComponent('h w é.bin')}`, { headers: { Range: 'bytes=100-199' } });
    assert.equal(part.status, 206);
    assert.ok(Buffer.from(await part.arrayBuffer()).equals(Buffer.from(files['h w é.bin']!.subarray(100, 200))));
    const top = (await (await fetch(`${server.base}/api/tree/`)).json()) as { entries: { name: string; kind: string }[] };
    assert.deepEqual(top.entries.map((e) => `${e.name}:${e.kind}`), ['.snapshots:dir', 'notes.bin:file', 'photos:dir'], 'anonymous: secret.bin hidden');
    const snaps = (await (await fetch(`${server.base}/api/tree/.snapshots/photos`)).json()) as { entries: { name: string }[] };
    assert.equal(snaps.entries.length, 1);
    const old = await fetch(`${server.base}/files/.snapshots/photos/${snaps.entries[0]!.name}/a/b/big.bin`);
    assert.ok(Buffer.from(await old.arrayBuffer()).equals(Buffer.from(files['a/b/big.bin']!)));
    const a = (await (await fetch(`${server.base}/api/tree/photos/a`)).json()) as { path: string; entries: { name: string; kind: string; size: number; hash?: string }[] };
    assert.equal(a.path, '/photos/a');
    assert.deepEqual(a.entries.map((e) => [e.name, e.kind, e.size]), [['b', 'dir', 0], ['small.txt', 'file', 5000]]);
    assert.match(a.entries[1]!.hash!, /^[0-9a-f]{64}$/);
    const code = async (r: Response) => ((await r.json()) as { error: { code: string } }).error.code;
    const dir = await fetch(`${server.base}/files/photos/a`);
    assert.equal(dir.status, 400);
    assert.equal(await code(dir), 'BF_NOT_A_FILE');
    const nope = await fetch(`${server.base}/files/photos/nope`);
    assert.equal(nope.status, 404);
    assert.equal(await code(nope), 'BF_FILE_NOT_FOUND');
    assert.equal((await fetch(`${server.base}/files/photos/a/small.txt`, { method: 'PUT', body: 'x' })).status, 405);
    // The single-file routes are unchanged: /files/NAME, and /files/NAME/repair is still POST only.
    assert.ok(Buffer.from(await (await fetch(`${server.base}/files/notes.bin`)).arrayBuffer()).equals(Buffer.from(single)));
    assert.equal((await fetch(`${server.base}/files/notes.bin/repair`)).status, 405);
    assert.equal((await fetch(`${server.base}/files/secret.bin`)).status, 404);
  });

  test('litmus-style: every writing method is 405 with Allow, with or without the token, and the stores do not change', async () => {
    const before = await fingerprint(archive);
    const targets = ['/dav/photos/a/small.txt', '/dav/photos/new.txt', '/dav/photos/', '/dav/newdir/'];
    for (const method of ['PUT', 'DELETE', 'MKCOL', 'COPY', 'MOVE', 'PROPPATCH', 'LOCK', 'UNLOCK', 'POST']) {
      for (const path of targets) {
        for (const auth of [{}, { Authorization: `Bearer ${TOKEN}` }] as Record<string, string>[]) {
          const r = await fetch(`${server.base}${path}`, {
            method,
            headers: { ...auth, Destination: `${server.base}/dav/photos/moved.txt`, 'Lock-Token': '<urn:x>', Depth: '0' },
            body: method === 'PUT' || method === 'PROPPATCH' || method === 'LOCK' ? 'x' : undefined,
          });
          assert.equal(r.status, 405, `${method} ${path}`);
          assert.equal(r.headers.get('allow'), 'OPTIONS, PROPFIND, GET, HEAD', `${method} ${path}`);
          assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'BF_METHOD_NOT_ALLOWED');
        }
      }
    }
    assert.deepEqual(await fingerprint(archive), before, 'nothing in the stores changed');
    const r = await fetch(`${server.base}/dav/photos/a/small.txt`);
    assert.ok(Buffer.from(await r.arrayBuffer()).equals(files['a/small.txt']!));
  });
});

describe('WebDAV: damage beyond repair', () => {
  test('a file whose packs are gone is a 5xx before any byte (or a cut connection), never wrong bytes', async () => {
    const work = (await tempDir('webdav-damage')).dir;
    const archive = join(work, 'archive');
    const src = join(work, 'tree');
    await mkdir(src);
    const data = randomBytesSeeded(600_000, 9);
    await writeFile(join(src, 'f.bin'), data);
    await commitTree([src], { archive, name: 'tree' });
    const server = await startServer({ archive });
    try {
      // List first (the snapshot body is read now), then remove every pack's blocks: no copy of the file is left.
      const list = await fetch(`${server.base}/dav/tree/`, { method: 'PROPFIND', headers: { Depth: '1' } });
      assert.equal(list.status, 207);
      const packs = join(archive, 'packs');
      for (const fan of await readdir(packs)) for (const p of await readdir(join(packs, fan))) await rm(join(packs, fan, p, 'blocks'), { recursive: true, force: true });
      const r = await fetch(`${server.base}/dav/tree/f.bin`);
      if (r.status >= 500) {
        const code = ((await r.json()) as { error: { code: string } }).error.code;
        assert.ok(code === 'BF_UNRECOVERABLE' || code === 'BF_BLOB_MISSING', code);
      } else {
        assert.equal(r.status, 200);
        await assert.rejects(r.arrayBuffer(), 'a response begun must be cut off, not completed');
      }
    } finally {
      await server.close();
      await rm(work, { recursive: true, force: true });
    }
  });
});
