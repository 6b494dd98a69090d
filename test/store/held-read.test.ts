// LocalBackend.getHeld under a busy thread pool: the held descriptor's identity check (an lstat) and the read (a
// pread) are queued together, not one after the other, so a held read waits for the pool once (the file server's
// 16-client range row lost about a tenth of its throughput to the second wait); a file replaced before the call is
// still never read through the old descriptor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../helpers/fixtures.js';

const LOCAL = fileURLToPath(new URL('../../src/store/local.js', import.meta.url));

/**
 * In a child with a thread pool of 2, both threads blocked opening FIFOs (no writer yet): a getHeld() of a held
 * file is called, and the file-system requests it has queued are counted before the FIFOs are let go.
 */
const CHILD = `
import { open } from 'node:fs/promises';
import { closeSync, openSync } from 'node:fs';
import { LocalBackend } from ${JSON.stringify(LOCAL)};
const [root, replace] = process.argv.slice(1);
const b = new LocalBackend(root);
const buf = new Uint8Array(3);
await b.getHeld('x/one', buf, 0);
if (replace === 'yes') {
  const { rename, writeFile } = await import('node:fs/promises');
  await writeFile(root + '/x/tmp', 'xyz');
  await rename(root + '/x/tmp', root + '/x/one');
}
const fs = (x) => x === 'FSReqPromise' || x === 'FSReqCallback';
const blockers = [0, 1].map((i) => open(root + '/fifo' + i, 'r'));
await new Promise((r) => setTimeout(r, 200));
const before = process.getActiveResourcesInfo().filter(fs).length;
const p = b.getHeld('x/one', buf, 0);
await new Promise((r) => setTimeout(r, 200));
const queued = process.getActiveResourcesInfo().filter(fs).length - before;
for (const i of [0, 1]) closeSync(openSync(root + '/fifo' + i, 'w'));
for (const fh of await Promise.all(blockers)) await fh.close();
const n = await p;
await b.close();
console.log(JSON.stringify({ queued, n, text: Buffer.from(buf).toString() }));
`;

async function run(replace: boolean): Promise<{ queued: number; n: number; text: string }> {
  const { dir, cleanup } = await tempDir('bf-held-read-');
  try {
    await mkdir(join(dir, 'x'));
    await writeFile(join(dir, 'x', 'one'), 'abc');
    for (const i of [0, 1]) assert.equal(spawnSync('mkfifo', [join(dir, `fifo${i}`)]).status, 0, 'mkfifo');
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, dir, replace ? 'yes' : 'no'], {
      env: { ...process.env, UV_THREADPOOL_SIZE: '2' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').pop()!);
  } finally {
    await cleanup();
  }
}

test('a held read queues its identity check and its pread together (one wait for a busy thread pool, not two in a row)', async () => {
  const r = await run(false);
  assert.equal(r.queued, 2, 'lstat and pread both queued while the pool is busy');
  assert.equal(r.n, 3);
  assert.equal(r.text, 'abc');
});

test('a held file replaced before the call is read anew, even with the check beside the read', async () => {
  const r = await run(true);
  assert.equal(r.n, 3);
  assert.equal(r.text, 'xyz', 'never the old descriptor bytes');
});
