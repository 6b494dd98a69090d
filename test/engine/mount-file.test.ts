// MountFile (engine/mount-file.ts) under a kernel's read pattern: FUSE read-ahead sends several reads of one
// sequential stream at once and they arrive slightly out of order; they must still be served from windows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MountFile, PrefetchBudget, type FileSource } from '../../src/engine/mount-file.js';
import { randomBytesSeeded } from '../helpers/fixtures.js';

test('sequential reads that arrive out of order (FUSE read-ahead) are read ahead in windows, not taken for seeks', async () => {
  const bytes = Buffer.from(randomBytesSeeded(16 * 1024 * 1024, 31));
  let calls = 0;
  let read = 0;
  const src: FileSource = {
    async read(start, end) {
      calls++;
      read += end - start;
      await new Promise((r) => setTimeout(r, 1));
      return bytes.subarray(start, end);
    },
    close: async () => {},
  };
  const budget = new PrefetchBudget();
  const f = new MountFile(src, bytes.length, budget);
  const piece = 128 * 1024;
  const reads = bytes.length / piece;
  // Groups of four reads in flight, each group's order shuffled the way several FUSE threads deliver them.
  for (let g = 0; g < reads; g += 4) {
    const order = [1, 0, 3, 2].map((i) => g + i);
    const got = await Promise.all(order.map((i) => f.read(i * piece, piece)));
    order.forEach((i, k) => assert.ok(got[k]!.equals(bytes.subarray(i * piece, (i + 1) * piece)), `read ${i}`));
  }
  await f.close();
  assert.ok(calls <= reads / 8, `${calls} source reads for ${reads} reads of 128 KiB (a window each few MiB expected)`);
  assert.ok(read <= bytes.length * 1.5, `${read} bytes read from the source for a ${bytes.length}-byte file`);
  assert.equal(budget.free, 64 * 1024 * 1024, 'the read-ahead budget is given back');
});

test('regression: windows a reader asked for count against the shared budget (many files read at once stayed outside it)', async () => {
  // Before: only windows read ahead were counted, and a sequential reader's own window grew to 8 MiB with up to 6
  // kept per file, so 8 files read at once held ~64 MiB beside a 16 MiB budget.
  const size = 32 * 1024 * 1024;
  const bytes = Buffer.from(randomBytesSeeded(size, 37));
  const src: FileSource = {
    async read(start, end) {
      await new Promise((r) => setImmediate(r));
      return bytes.subarray(start, end);
    },
    close: async () => {},
  };
  const total = 16 * 1024 * 1024;
  const budget = new PrefetchBudget(total);
  const files = Array.from({ length: 8 }, () => new MountFile(src, size, budget));
  const piece = 128 * 1024;
  let most = 0;
  for (let off = 0; off < size; off += piece) {
    const got = await Promise.all(files.map((f) => f.read(off, piece)));
    got.forEach((g, i) => assert.ok(g.equals(bytes.subarray(off, off + piece)), `file ${i} at ${off}`));
    most = Math.max(
      most,
      files.reduce((s, f) => s + f.keptBytes, 0),
    );
  }
  // The budget, plus each file's windows of exactly what was asked (at most 6 kept per file).
  const bound = total + files.length * 6 * piece;
  assert.ok(most <= bound, `the open files kept ${most} bytes of windows at once (budget ${total}, bound ${bound})`);
  await Promise.all(files.map((f) => f.close()));
  assert.equal(budget.free, total, 'the budget is given back');
});
