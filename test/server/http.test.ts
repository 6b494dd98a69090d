// GET/HEAD /files/{name} over real HTTP (fetch and curl): ranges (single, open, suffix, multipart), 416, If-Range,
// ETag/304, Last-Modified, HEAD, content types and Content-Disposition, whole downloads byte-exact.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { curl, eqBytes, makeArchive, parseMultipart, startServer, type TestArchive } from './serve-helpers.js';

const MP4 = 'clip.mp4';
const SIZE = 9 * 1024 * 1024 + 12_345; // crosses the 4 MiB read window and several segments

describe('blockframe serve: files', () => {
  let a: TestArchive;
  let srv: { base: string; close(): Promise<void> };
  let data: Uint8Array;
  const url = (name: string) => `${srv.base}/files/${encodeURIComponent(name)}`;

  before(async () => {
    a = await makeArchive([
      { name: MP4, size: SIZE, seed: 11, tier: 2, segmentSize: 3_000_000 },
      { name: 'notes.txt', size: 1000, seed: 12 },
      { name: 'page.html', size: 200, seed: 13 },
      { name: 'pic.JPG', size: 300, seed: 14 },
      { name: 'blob', size: 10, seed: 15 },
      { name: 'empty.bin', size: 0, seed: 16 },
      { name: 'ünï "cödé".flac', size: 500, seed: 17 },
      { name: 'tier3.bin', size: 700_000, seed: 18, tier: 3, segmentSize: 50_000 },
    ]);
    data = a.data.get(MP4)!;
    srv = await startServer({ archive: a.root });
  });
  after(async () => {
    await srv?.close();
    await a?.cleanup();
  });

  test('whole file: 200, validators, byte-exact', async () => {
    const r = await fetch(url(MP4));
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('accept-ranges'), 'bytes');
    assert.equal(r.headers.get('content-type'), 'video/mp4');
    assert.equal(r.headers.get('content-length'), String(SIZE));
    assert.match(r.headers.get('etag')!, /^"[0-9a-f]{64}"$/);
    assert.ok(Date.parse(r.headers.get('last-modified')!) > 0);
    assert.ok(eqBytes(new Uint8Array(await r.arrayBuffer()), data));
  });

  test('single, open-ended, suffix and clamped ranges', async () => {
    const cases: [string, number, number][] = [
      ['bytes=0-0', 0, 0],
      ['bytes=100-199', 100, 199],
      [`bytes=${SIZE - 10}-`, SIZE - 10, SIZE - 1],
      ['bytes=-500', SIZE - 500, SIZE - 1],
      [`bytes=-${SIZE + 100}`, 0, SIZE - 1],
      [`bytes=4194300-${4194300 + 3_000_000}`, 4194300, 4194300 + 3_000_000],
      [`bytes=5-${SIZE * 2}`, 5, SIZE - 1],
    ];
    for (const [h, s, e] of cases) {
      const r = await fetch(url(MP4), { headers: { Range: h } });
      assert.equal(r.status, 206, h);
      assert.equal(r.headers.get('content-range'), `bytes ${s}-${e}/${SIZE}`, h);
      assert.equal(r.headers.get('content-length'), String(e - s + 1));
      assert.ok(eqBytes(new Uint8Array(await r.arrayBuffer()), data.subarray(s, e + 1)), h);
    }
  });

  test('several ranges: multipart/byteranges, parsed and byte-exact', async () => {
    const r = await fetch(url(MP4), { headers: { Range: `bytes=0-99, 5000000-5000999,-10, 4194303-4194305` } });
    assert.equal(r.status, 206);
    const ct = r.headers.get('content-type')!;
    const m = /^multipart\/byteranges; boundary=(.+)$/.exec(ct);
    assert.ok(m, ct);
    const body = Buffer.from(await r.arrayBuffer());
    assert.equal(Number(r.headers.get('content-length')), body.length);
    const parts = parseMultipart(body, m[1]!);
    assert.equal(parts.length, 4);
    const want: [number, number][] = [[0, 99], [5000000, 5000999], [SIZE - 10, SIZE - 1], [4194303, 4194305]];
    parts.forEach((p, i) => {
      const [s, e] = want[i]!;
      assert.equal(p.headers['content-type'], 'video/mp4');
      assert.equal(p.headers['content-range'], `bytes ${s}-${e}/${SIZE}`);
      assert.ok(eqBytes(p.body, data.subarray(s, e + 1)));
    });
  });

  test('overlapping ranges are coalesced; a single result is a plain 206', async () => {
    const r = await fetch(url(MP4), { headers: { Range: 'bytes=50-150,0-100,120-130' } });
    assert.equal(r.status, 206);
    assert.equal(r.headers.get('content-range'), `bytes 0-150/${SIZE}`);
    assert.ok(eqBytes(new Uint8Array(await r.arrayBuffer()), data.subarray(0, 151)));
    const r2 = await fetch(url(MP4), { headers: { Range: 'bytes=1000-2000,0-10,1500-3000' } });
    const parts = parseMultipart(Buffer.from(await r2.arrayBuffer()), /boundary=(.+)$/.exec(r2.headers.get('content-type')!)![1]!);
    assert.deepEqual(parts.map((p) => p.headers['content-range']), [`bytes 0-10/${SIZE}`, `bytes 1000-3000/${SIZE}`]);
    assert.ok(eqBytes(parts[1]!.body, data.subarray(1000, 3001)));
  });

  test('416 when no range is satisfiable, with Content-Range: bytes */SIZE', async () => {
    for (const h of [`bytes=${SIZE}-`, `bytes=${SIZE + 5}-${SIZE + 9}`, 'bytes=-0', `bytes=${SIZE}-, ${SIZE + 1}-`]) {
      const r = await fetch(url(MP4), { headers: { Range: h } });
      assert.equal(r.status, 416, h);
      assert.equal(r.headers.get('content-range'), `bytes */${SIZE}`);
      assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'BF_RANGE_NOT_SATISFIABLE');
    }
    const e = await fetch(url('empty.bin'), { headers: { Range: 'bytes=0-' } });
    assert.equal(e.status, 416);
    assert.equal(e.headers.get('content-range'), 'bytes */0');
    await e.arrayBuffer();
    const full = await fetch(url('empty.bin'));
    assert.equal(full.status, 200);
    assert.equal((await full.arrayBuffer()).byteLength, 0);
  });

  test('syntactically invalid Range headers are ignored (200, whole file)', async () => {
    for (const h of ['bytes=abc', 'bytes=5-1', 'items=0-5', 'bytes=', 'bytes=1-2-3', 'bytes 0-5', `bytes=${'9'.repeat(30)}-`, `bytes=${Array.from({ length: 101 }, (_, i) => `${i * 10}-${i * 10 + 1}`).join(',')}`]) {
      const r = await fetch(url('notes.txt'), { headers: { Range: h } });
      assert.equal(r.status, 200, h);
      assert.ok(eqBytes(new Uint8Array(await r.arrayBuffer()), a.data.get('notes.txt')!), h);
    }
  });

  test('If-Range: matching ETag or date gives 206, anything else 200', async () => {
    const h = await fetch(url(MP4), { method: 'HEAD' });
    const etag = h.headers.get('etag')!;
    const lm = h.headers.get('last-modified')!;
    const get = async (ifRange: string) => {
      const r = await fetch(url(MP4), { headers: { Range: 'bytes=0-9', 'If-Range': ifRange } });
      const n = (await r.arrayBuffer()).byteLength;
      return [r.status, n];
    };
    assert.deepEqual(await get(etag), [206, 10]);
    assert.deepEqual(await get(lm), [206, 10]);
    assert.deepEqual(await get(`"${'0'.repeat(64)}"`), [200, SIZE]);
    assert.deepEqual(await get(`W/${etag}`), [200, SIZE]);
    assert.deepEqual(await get(new Date(Date.parse(lm) - 60_000).toUTCString()), [200, SIZE]);
  });

  test('ETag / If-None-Match and If-Modified-Since give 304 without a body', async () => {
    const h = await fetch(url('notes.txt'), { method: 'HEAD' });
    const etag = h.headers.get('etag')!;
    const lm = h.headers.get('last-modified')!;
    const conds: Record<string, string>[] = [{ 'If-None-Match': etag }, { 'If-None-Match': `"x", W/${etag}` }, { 'If-None-Match': '*' }, { 'If-Modified-Since': lm }];
    for (const headers of conds) {
      const r = await fetch(url('notes.txt'), { headers });
      assert.equal(r.status, 304, JSON.stringify(headers));
      assert.equal(r.headers.get('etag'), etag);
      assert.equal((await r.arrayBuffer()).byteLength, 0);
    }
    const r = await fetch(url('notes.txt'), { headers: { 'If-None-Match': '"other"', 'If-Modified-Since': lm } });
    assert.equal(r.status, 200); // If-None-Match wins over If-Modified-Since
    await r.arrayBuffer();
    const old = await fetch(url('notes.txt'), { headers: { 'If-Modified-Since': 'Thu, 01 Jan 1998 00:00:00 GMT' } });
    assert.equal(old.status, 200);
    await old.arrayBuffer();
  });

  test('HEAD: the GET headers and no body', async () => {
    const r = await curl(['-I', url(MP4)]);
    assert.equal(r.status, 0, r.stderr);
    const text = r.stdout.toString();
    assert.match(text, /^HTTP\/1\.1 200/);
    assert.match(text, new RegExp(`content-length: ${SIZE}\\r\\n`, 'i'));
    assert.match(text, /accept-ranges: bytes/i);
    const ranged = await fetch(url(MP4), { method: 'HEAD', headers: { Range: 'bytes=0-1' } });
    assert.equal(ranged.status, 200); // Range is defined for GET only
  });

  test('content types, nosniff, archived HTML is never served as HTML', async () => {
    const types: [string, string][] = [
      ['notes.txt', 'text/plain; charset=utf-8'],
      ['page.html', 'text/plain; charset=utf-8'],
      ['pic.JPG', 'image/jpeg'],
      ['blob', 'application/octet-stream'],
      ['ünï "cödé".flac', 'audio/flac'],
    ];
    for (const [name, type] of types) {
      const r = await fetch(url(name), { method: 'HEAD' });
      assert.equal(r.status, 200, name);
      assert.equal(r.headers.get('content-type'), type, name);
      assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
      assert.match(r.headers.get('content-security-policy')!, /sandbox/);
    }
  });

  test('Content-Disposition: inline by default, attachment with ?download=1, RFC 6266 filename*', async () => {
    const name = 'ünï "cödé".flac';
    const inline = await fetch(url(name), { method: 'HEAD' });
    const cd = inline.headers.get('content-disposition')!;
    assert.match(cd, /^inline; filename="[\x20-\x7e]+"; filename\*=UTF-8''/);
    assert.ok(!/[^\x20-\x7e]/.test(cd));
    const star = /filename\*=UTF-8''(.+)$/.exec(cd)![1]!;
    assert.equal(decodeURIComponent(star), name);
    const att = await fetch(`${url(name)}?download=1`, { method: 'HEAD' });
    assert.match(att.headers.get('content-disposition')!, /^attachment; /);
  });

  test('curl -o downloads byte-exact, curl -r ranges, curl -C - resumes', async () => {
    const out = join(a.work, 'curl-out.bin');
    let r = await curl(['-f', '-o', out, url(MP4)]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(eqBytes(await readFile(out), data));
    r = await curl(['-f', '-o', join(a.work, 't3.bin'), url('tier3.bin')]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(eqBytes(await readFile(join(a.work, 't3.bin')), a.data.get('tier3.bin')!));
    r = await curl(['-f', '-r', '1000-1999', url(MP4)]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(eqBytes(r.stdout, data.subarray(1000, 2000)));
    r = await curl(['-f', '-r', '-4096', url(MP4)]);
    assert.ok(eqBytes(r.stdout, data.subarray(SIZE - 4096)));
    r = await curl(['-f', '-r', `${SIZE - 5}-`, url(MP4)]);
    assert.ok(eqBytes(r.stdout, data.subarray(SIZE - 5)));
    // Resume a partial download the way curl does it.
    const part = join(a.work, 'resume.bin');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(part, data.subarray(0, 3_333_333));
    r = await curl(['-f', '-C', '-', '-o', part, url(MP4)]);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(eqBytes(await readFile(part), data));
  });

  test('names resolve like the CLI: directory name and hash prefix; unknown → 404 JSON', async () => {
    const dir = a.dirs.get('notes.txt')!;
    for (const q of [dir, dir.slice(-64, -52)]) {
      const r = await fetch(url(q));
      assert.equal(r.status, 200, q);
      assert.ok(eqBytes(new Uint8Array(await r.arrayBuffer()), a.data.get('notes.txt')!));
    }
    const r = await fetch(url('no-such-file'));
    assert.equal(r.status, 404);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'BF_ARCHIVE_NOT_FOUND');
  });
});
