// The library's and CLI's reads run through the one ReadAhead: a restore of a framed archive draws its windows from
// the budget it reads through and stays within it, a cancelled restore gives every byte back, and `cat --range`
// reads only the segments under its frames (a stripe lost beyond repair elsewhere does not matter).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ComputePool, commit, read, restore } from '../../src/index.js';
import { ReadAhead } from '../../src/archive/read/read-ahead.js';
import { prng, randomBytesSeeded, tempDir } from '../helpers/fixtures.js';
import { cloneRoot, injure, runCliRaw, shardsByStripe } from '../helpers/faults.js';

const MiB = 1024 * 1024;
let root: string;
let cleanup: () => Promise<void>;
let pool: ComputePool;
let data: Uint8Array;
let archive: string;
let dir: string;
let stripes: string[][];

/** Text-like bytes (zstd shrinks them) with random runs between. */
function compressible(size: number, seed: number): Uint8Array {
  const out = randomBytesSeeded(size, seed);
  const words = ['erasure ', 'coded ', 'archive ', 'stripe\n', 'frame '];
  const next = prng(seed);
  for (let i = 0; i < size; ) {
    if (i % (256 * 1024) >= 192 * 1024) {
      i++;
      continue;
    }
    for (const ch of words[next() % words.length]!) if (i < size) out[i++] = ch.charCodeAt(0);
  }
  return out;
}

before(async () => {
  ({ dir: root, cleanup } = await tempDir('bf-readahead-'));
  pool = ComputePool.start();
  const src = join(root, 'text.bin');
  data = compressible(24 * MiB + 12_345, 77);
  await writeFile(src, data);
  archive = join(root, 'archive');
  // Tier 3 with small segments and 256 KiB frames: many frames, many stripes.
  const r = await commit(src, { archive, tier: 3, segmentSize: 64 * 1024, compress: 3, frameSize: 256 * 1024, pool });
  dir = r.dir;
  stripes = shardsByStripe(r.manifest);
  assert.ok(stripes.length >= 3, `${stripes.length} stripes`);
});

after(async () => {
  await pool.close();
  await cleanup();
});

test('restore of a compressed archive draws every window from the read-ahead budget it reads through, stays within it, and gives it all back', async () => {
  const ra = new ReadAhead(12 * MiB);
  const out = join(root, 'restored.bin');
  await restore(dir, out, { archive, pool, readAhead: ra });
  assert.ok(Buffer.from(data).equals(await readFile(out)), 'byte-exact');
  // Before the one read-ahead, restore decoded into private slabs outside any budget: the peak stayed 0.
  assert.ok(ra.budget.peakUsed > 0, 'restore windows came from the budget');
  assert.ok(ra.budget.peakUsed <= ra.budgetTotal, `peak ${ra.budget.peakUsed} within ${ra.budgetTotal}`);
  assert.equal(ra.budgetFree, ra.budgetTotal, 'all memory back');
  await rm(out);
});

test('a restore cancelled midway rejects with BF_ABORTED, leaves no output and gives its budget back', async () => {
  const ra = new ReadAhead(12 * MiB);
  const out = join(root, 'cancelled.bin');
  const ac = new AbortController();
  await assert.rejects(
    restore(dir, out, {
      archive,
      pool,
      readAhead: ra,
      signal: ac.signal,
      onProgress: (done) => {
        if (done >= 4 * MiB) ac.abort();
      },
    }),
    { code: 'BF_ABORTED' },
  );
  await assert.rejects(readFile(out), { code: 'ENOENT' });
  assert.equal(ra.budgetFree, ra.budgetTotal, 'all memory back');
});

test('read() of a compressed archive through a given read-ahead is byte-exact and counted against its budget', async () => {
  const ra = new ReadAhead(4 * MiB);
  const got = await read(dir, 5 * MiB + 3, 3 * MiB, { archive, pool, readAhead: ra });
  assert.ok(Buffer.from(data.subarray(5 * MiB + 3, 8 * MiB + 3)).equals(got));
  assert.ok(ra.budget.peakUsed > 0);
  assert.equal(ra.budgetFree, ra.budgetTotal);
});

test('CLI cat --range of a compressed archive reads only the segments under its frames: a stripe lost beyond repair elsewhere does not matter', async () => {
  const lost = join(root, 'lost');
  await cloneRoot(archive, lost);
  // Every shard of the first stripe goes: its frames are gone for good.
  for (const p of stripes[0]!) await injure(join(lost, dir), p, 'delete', prng(1));
  // The last 1 MiB of the file lies in frames stored in later stripes.
  const from = data.length - MiB;
  const good = runCliRaw(['cat', dir, '--range', `${from}-`, '--archive', lost]);
  assert.equal(good.status, 0, good.stderr);
  assert.ok(Buffer.from(data.subarray(from)).equals(good.stdout), 'byte-exact');
  const bad = runCliRaw(['cat', dir, '--range', '0-99', '--archive', lost]);
  assert.equal(bad.status, 4, bad.stderr);
  assert.equal(bad.stdout.length, 0);
  assert.match(bad.stderr, /BF_UNRECOVERABLE/);
});
