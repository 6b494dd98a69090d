// The heal cache: by-products of a stripe-row rebuild are kept on local disk and handed to the reads that ask for
// them, so a sequential read over a dead store rebuilds each row once (it rebuilt it once per lost data segment).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, rm, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { HealCache } from '../../src/archive/read/heal-cache.js';
import { commit } from '../../src/index.js';
import { openArchive } from '../../src/engine/read.js';
import { randomBytesSeeded, tempDir, writeRandomFile } from '../helpers/fixtures.js';

const KiB = 1024;

/** Run `fn` with BLOCKFRAME_SPOOL (the scratch area) set to `dir`. */
async function withScratch<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const was = process.env.BLOCKFRAME_SPOOL;
  process.env.BLOCKFRAME_SPOOL = dir;
  try {
    return await fn();
  } finally {
    if (was === undefined) delete process.env.BLOCKFRAME_SPOOL;
    else process.env.BLOCKFRAME_SPOOL = was;
  }
}

test('HealCache: bytes come back once, only for a batch an entry covers; the oldest go first at the limit; the file is removed on close', async () => {
  const { dir, cleanup } = await tempDir('bf-heal-');
  try {
    await withScratch(dir, async () => {
      const C = 4 * KiB;
      // Slots of 4 chunks, room for 3.
      const cache = new HealCache(4 * C, 12 * C, 4);
      const bytes = [0, 1, 2, 3].map((i) => randomBytesSeeded(4 * C - i * 100, 70 + i));
      for (const [i, b] of bytes.entries()) await cache.put(10 + i, 0, 4, b);
      assert.equal(cache.size, 3, 'the fourth put evicted the oldest');
      const into = new Uint8Array(4 * C);
      assert.equal(await cache.take(10, 0, 4, C, into), -1, 'shard 10 (the oldest) was evicted');
      assert.equal(await cache.take(11, 0, 5, C, into), -1, 'an entry covering chunks 0-3 does not serve 0-4');
      assert.equal(await cache.take(11, 1, 3, C, into), 2 * C, 'chunks 1-2 of chunks 0-3');
      assert.deepEqual(into.subarray(0, 2 * C), bytes[1]!.subarray(C, 3 * C));
      assert.equal(await cache.take(11, 0, 4, C, into), -1, 'taken once');
      const n = await cache.take(13, 0, 4, C, into);
      assert.equal(n, bytes[3]!.length, 'a short shard comes back with its own bytes only');
      assert.deepEqual(into.subarray(0, n), bytes[3]);
      assert.equal(cache.size, 1);
      assert.equal((await readdir(dir)).length, 1, 'one scratch directory while open');
      await cache.close();
      assert.deepEqual(await readdir(dir), [], 'removed on close');
      assert.equal(await cache.take(12, 0, 4, C, into), -1, 'nothing after close');
    });
  } finally {
    await cleanup();
  }
});

test('HealCache: a scratch area it cannot use turns it off without failing anything', async () => {
  const { dir, cleanup } = await tempDir('bf-heal-off-');
  try {
    const notADir = join(dir, 'file');
    await writeFile(notADir, 'x');
    await withScratch(notADir, async () => {
      const cache = new HealCache(4096, 1 << 20, 1);
      await cache.put(1, 0, 1, new Uint8Array(4096).fill(7));
      assert.equal(cache.size, 0);
      assert.equal(await cache.take(1, 0, 1, 4096, new Uint8Array(4096)), -1);
      await cache.close();
    });
  } finally {
    await cleanup();
  }
});

test('a sequential read over a dead store rebuilds each stripe row once and serves the other lost segments from the heal cache; a damaged cache entry is rebuilt again', async () => {
  const { dir, cleanup } = await tempDir('bf-heal-read-');
  try {
    await withScratch(join(dir, 'scratch'), async () => {
      const file = join(dir, 'big.bin');
      const segmentSize = 64 * KiB;
      const data = await writeRandomFile(file, 2 * 23 * segmentSize - 999, 4242);
      const stores = [1, 2, 3, 4].map((i) => join(dir, `disk${i}`));
      await commit(file, { stores, tier: 3, segmentSize });
      await rm(stores[1]!, { recursive: true, force: true });
      for (const damageCache of [false, true]) {
        const a = await openArchive('big.bin', { stores });
        try {
          const parts: Buffer[] = [];
          let corrupted = false;
          for (let off = 0; off < data.length; off += segmentSize) {
            parts.push(await a.read(off, Math.min(segmentSize, data.length - off)));
            if (damageCache && !corrupted && a.reader.healing.rows > 0) {
              // Overwrite every kept by-product with zeros: the next reads must not take them.
              const [spool] = await readdir(join(dir, 'scratch'));
              const heal = join(dir, 'scratch', spool!, 'heal');
              await chmod(heal, 0o600);
              await writeFile(heal, new Uint8Array(2 * 1024 * 1024));
              corrupted = true;
            }
          }
          assert.ok(Buffer.concat(parts).equals(data), 'byte-exact');
          const lostData = [...a.reader.damage.values()].filter((d) => d.path.includes('/segments/')).length;
          const { rows, fromCache, cacheRejected } = a.reader.healing;
          assert.ok(lostData >= 4, `the dead store held data segments of both stripes (${lostData} seen)`);
          if (!damageCache) {
            // Before the cache: one row rebuild per lost data segment.
            assert.equal(rows, 2, `one row rebuild per stripe (segments fit one batch): ${JSON.stringify(a.reader.healing)}`);
            assert.equal(fromCache, lostData - rows);
            assert.equal(cacheRejected, 0);
          } else {
            assert.ok(cacheRejected >= 1, `zeroed entries were refused: ${JSON.stringify(a.reader.healing)}`);
            assert.equal(rows + fromCache, lostData);
          }
        } finally {
          await a.close();
        }
      }
      assert.deepEqual(await readdir(join(dir, 'scratch')), [], 'no scratch left after close');
    });
  } finally {
    await cleanup();
  }
});
