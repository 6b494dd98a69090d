// Commit reads its input once and never reads its own staged segments back (issue 22); the whole-file hash merged
// from unit chaining values (archive/write/file-cvs.ts) equals BLAKE3 of the file.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ComputePool, commit, verify } from '../../src/index.js';
import { CvMerger } from '../../src/archive/write/file-cvs.js';
import { unitCount, unitCVs } from '../../src/integrity/blake3-cv.js';
import { blake3Hex } from '../../src/integrity/blake3.js';
import { randomBytesSeeded, tempDir, writeRandomFile } from '../helpers/fixtures.js';

const KiB = 1024;
const MiB = 1024 * KiB;

let root: string;
let cleanup: () => Promise<void>;
let pool: ComputePool;
before(async () => {
  ({ dir: root, cleanup } = await tempDir());
  pool = ComputePool.start();
});
after(async () => {
  await pool.close();
  await cleanup();
});

/** Bytes this process has read through read syscalls so far (every thread: libuv's pool and the workers). */
function rchar(): number {
  return Number(/^rchar:\s+(\d+)/m.exec(readFileSync('/proc/self/io', 'utf8'))![1]);
}

test('the whole-file hash merged from unit values in pieces equals BLAKE3 of the bytes', () => {
  const U = 64 * KiB;
  for (const size of [1, U, U + 1, 2 * U, 3 * U + 5, 8 * U, 8 * U + 1, 13 * U - 7, 33 * U]) {
    const data = randomBytesSeeded(size, size);
    const units = unitCount(size, U);
    const cvs = new Uint8Array(units * 32);
    unitCVs(data, 0, U, size, cvs);
    // Pushed in uneven pieces, as blocks finish.
    const m = new CvMerger(units);
    for (let u = 0; u < units; u += 3) m.push(cvs.subarray(u * 32, Math.min(units, u + 3) * 32));
    assert.equal(m.digestHex(), blake3Hex(data), `size ${size}`);
  }
  assert.throws(() => new CvMerger(2).digestHex(), { code: 'BF_INTERNAL' });
});

for (const c of [
  { tier: 3 as const, segmentSize: MiB, size: 40 * MiB + 12345, limit: 1.1 },
  // Level 2's accumulators live in its staged files: each block after a group's first reads them back to fold
  // into them (3/4 of the input with 4-block groups), and its hash pass reads them once (1/4): 2.0 in all.
  // Before the one-pass writer the segments were read back too (3.0).
  { tier: 4 as const, segmentSize: 256 * KiB, size: 40 * MiB + 777, limit: 2.1 },
]) {
  test(`commit Tier ${c.tier} reads the input once and no staged segment back (read bytes / input <= ${c.limit})`, async () => {
    const file = join(root, `one-pass-${c.tier}.bin`);
    await writeRandomFile(file, c.size, 22);
    const archive = join(root, `archive-${c.tier}`);
    const before = rchar();
    const r = await commit(file, { archive, pool, tier: c.tier, segmentSize: c.segmentSize, groupBlocks: 4 });
    const ratio = (rchar() - before) / c.size;
    assert.ok(ratio <= c.limit, `commit read ${ratio.toFixed(2)} × the input`);
    assert.equal(r.originalHash, blake3Hex(readFileSync(file)));
    assert.equal((await verify([r.dir], { archive, pool })).status, 'healthy');
  });
}
