// XML request bodies (CompleteMultipartUpload, DeleteObjects) under load: bounded in size, in number held at once, and in time.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createBlockFrameServer } from '../../src/index.js';
import { MAX_COMPLETE_BODY } from '../../src/s3/multipart.js';
import { MAX_DELETE_BODY } from '../../src/s3/object-write.js';
import { createS3Server, type S3Server } from '../../src/s3/server.js';
import { tempDir } from '../helpers/fixtures.js';
import { ALICE, raw, signerFor } from './helpers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let work: { dir: string; cleanup(): Promise<void> };
let bf: ReturnType<typeof createBlockFrameServer>;
let s3: S3Server;
let endpoint: string;

before(async () => {
  work = await tempDir('bf-s3-limits-');
  bf = createBlockFrameServer({ archive: join(work.dir, 'archive') });
  s3 = await createS3Server({ users: [ALICE], shared: bf.shared, bodyDeadlineMs: 1500, log: () => undefined });
  await new Promise<void>((resolve) => s3.server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(s3.server.address() as AddressInfo).port}`;
  assert.equal((await raw(endpoint, { method: 'PUT', path: '/limbkt' })).status, 200);
});
after(async () => {
  await s3.close();
  await bf.close();
  await work.cleanup();
});

/** A signed request (UNSIGNED-PAYLOAD) on a raw socket: the headers, then `first` bytes of a `length`-byte body; the rest later. */
async function stalledPost(path: string, query: Record<string, string>, length: number, first: Buffer): Promise<{ socket: Socket; reply: Promise<string>; finish(rest: Buffer): void }> {
  const url = new URL(endpoint);
  const headers = { host: url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-length': String(length) };
  const signed = await signerFor(ALICE).sign({ method: 'POST', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path, query, headers }, { signingDate: new Date() });
  const qs = Object.entries(query).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  const socket = connect(Number(url.port), url.hostname);
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (d) => (text += d));
  const reply = new Promise<string>((resolve) => {
    socket.on('close', () => resolve(text));
    socket.on('error', () => resolve(text));
  });
  socket.write(`POST ${path}?${qs} HTTP/1.1\r\n${Object.entries(signed.headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\nconnection: close\r\n\r\n`);
  socket.write(first);
  return { socket, reply, finish: (rest) => socket.end(rest) };
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('limits come from the AWS counts: a Complete over 10,000 parts x 400 B, a DeleteObjects over 1000 keys x 2 KiB, are refused unread', async () => {
  assert.equal(MAX_COMPLETE_BODY, 4_000_000);
  assert.equal(MAX_DELETE_BODY, 2_048_000);
  const c = await raw(endpoint, { method: 'POST', path: '/limbkt/k', query: { uploads: '' } });
  const uploadId = /<UploadId>(\w+)</.exec(c.body)![1]!;
  const big = await raw(endpoint, { method: 'POST', path: '/limbkt/k', query: { uploadId }, body: Buffer.alloc(MAX_COMPLETE_BODY + 1, 32), payloadHash: 'UNSIGNED-PAYLOAD' }).catch(() => undefined);
  if (big) assert.equal(big.code, 'MaxMessageLengthExceeded');
  const del = await raw(endpoint, { method: 'POST', path: '/limbkt', query: { delete: '' }, body: Buffer.alloc(MAX_DELETE_BODY + 1, 32), payloadHash: 'UNSIGNED-PAYLOAD' }).catch(() => undefined);
  if (del) assert.equal(del.code, 'MaxMessageLengthExceeded');
});

test('many large XML bodies at once: at most two are held in memory, the rest wait unread, and every one is answered', async () => {
  const N = 12;
  const length = 2_000_000;
  const head = Buffer.from('<Delete><Object><Key>nothing-here</Key></Object>');
  const first = Buffer.concat([head, Buffer.alloc(1_000_000 - head.length, 32)]);
  gc();
  const base = process.memoryUsage().arrayBuffers;
  const reqs = await Promise.all(Array.from({ length: N }, () => stalledPost('/limbkt', { delete: '' }, length, first)));
  await settle(600);
  gc();
  const held = process.memoryUsage().arrayBuffers - base;
  // Before the fix every one of the 12 was read at once (12 MB held); now two are (2 MB) and the rest wait in TCP.
  assert.ok(held < 6 * 1024 * 1024, `held ${(held / 1048576).toFixed(1)} MiB of request bodies with ${N} half-sent`);
  assert.ok(s3.context.bodies.running <= 2 && s3.context.bodies.waiting >= N - 2, `${s3.context.bodies.running} running, ${s3.context.bodies.waiting} waiting`);
  const rest = Buffer.concat([Buffer.alloc(length - first.length - '</Delete>'.length, 32), Buffer.from('</Delete>')]);
  for (const r of reqs) r.finish(rest);
  const replies = await Promise.all(reqs.map((r) => r.reply));
  for (const text of replies) assert.match(text, /^HTTP\/1\.1 200 .*<Deleted><Key>nothing-here<\/Key><\/Deleted>/s);
});

test('a body that does not arrive in time once its turn has come is RequestTimeout, and frees its slot', async () => {
  const slow = await stalledPost('/limbkt', { delete: '' }, 1000, Buffer.from('<Delete>'));
  const text = await slow.reply;
  assert.match(text, /^HTTP\/1\.1 400 .*<Code>RequestTimeout<\/Code>/s);
  slow.socket.destroy();
  assert.equal(s3.context.bodies.running, 0);
  const ok = await raw(endpoint, { method: 'POST', path: '/limbkt', query: { delete: '' }, body: '<Delete><Object><Key>x</Key></Object></Delete>' });
  assert.equal(ok.status, 200);
});
