// Server memory under many commits: slabs are reused across commits (not left to the GC) and commits queue in slots.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { commit, ComputePool, restore } from '../../src/index.js';
import { SlabPool, spareSlabBytes } from '../../src/compute/pool.js';
import { Slots } from '../../src/slots.js';
import { tempDir, writeRandomFile } from '../helpers/fixtures.js';

test('a disposed slab pool hands its free slabs to the next pool of that size, zeroed', async () => {
  const a = new SlabPool(2, 12_345);
  const s = await a.acquire();
  s.fill(7);
  a.release(s);
  const before = spareSlabBytes();
  a.dispose();
  assert.ok(spareSlabBytes() >= before + 2 * 12_345 || spareSlabBytes() >= 64 * 1024 * 1024 - 2 * 12_345);
  const b = new SlabPool(2, 12_345);
  for (const x of [await b.acquire(), await b.acquire()]) assert.ok(x.every((v) => v === 0), 'a reused slab reads as zeros');
  // A straggler acquiring from a disposed pool gets a slab of its own instead of waiting forever.
  const late = await a.acquire();
  assert.equal(late.length, 12_345);
});

test('sequential commits in one process reuse their slabs and stay byte-exact', async () => {
  const t = await tempDir();
  const pool = ComputePool.start();
  try {
    const archive = join(t.dir, 'archive');
    const files: Uint8Array[] = [];
    for (let i = 0; i < 4; i++) {
      files.push(await writeRandomFile(join(t.dir, `in${i}`), 5 * 1024 * 1024 + i, 60 + i));
      await commit(join(t.dir, `in${i}`), { archive, name: `obj${i}`, pool });
      assert.ok(spareSlabBytes() > 0, 'the commit gave its slabs back');
      assert.ok(spareSlabBytes() <= 64 * 1024 * 1024, 'the spares are bounded');
    }
    for (let i = 0; i < 4; i++) {
      await restore(`obj${i}`, join(t.dir, `out${i}`), { archive, pool });
      assert.deepEqual(new Uint8Array(await readFile(join(t.dir, `out${i}`))), files[i]);
    }
  } finally {
    await pool.close();
    await t.cleanup();
  }
});

test('Slots runs at most `size` at once, the rest in arrival order', async () => {
  const slots = new Slots(2);
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  await Promise.all(
    Array.from({ length: 6 }, (_, i) =>
      slots.run(async () => {
        running++;
        peak = Math.max(peak, running);
        order.push(i);
        await sleep(5);
        running--;
      }),
    ),
  );
  assert.equal(peak, 2);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5]);
  await assert.rejects(slots.run(async () => Promise.reject(new Error('boom'))), /boom/);
  await slots.run(async () => undefined); // a failure gives its slot back
});
