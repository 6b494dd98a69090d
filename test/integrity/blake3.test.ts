// Tests for src/integrity/blake3.ts: official BLAKE3 vectors, b3sum cross-check, streaming vs one-shot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fc from 'fast-check';
import { OFFICIAL, vectorInput } from '../helpers/blake3-vectors.js';
import { blake3, blake3Hex, createBlake3Stream, initBlake3, isBlake3Ready } from '../../src/integrity/blake3.js';
import { toHex } from '../../src/integrity/hex.js';


/** Extra lengths for the b3sum cross-check only (no official vector). */
const EXTRA_LENGTHS = [63, 64, 65, 1 << 20, (1 << 20) + 7];

const B3SUM = '/usr/bin/b3sum';


test('initBlake3 is idempotent and concurrent-safe', async () => {
  await Promise.all([initBlake3(), initBlake3(), initBlake3()]);
  await initBlake3();
  assert.equal(isBlake3Ready(), true);
});

test('official BLAKE3 test vectors (one-shot and streamed)', async () => {
  await initBlake3();
  for (const [len, want] of OFFICIAL) {
    const input = vectorInput(len);
    assert.equal(blake3Hex(input), want, `one-shot, length ${len}`);
    const out = blake3(input);
    assert.ok(out instanceof Uint8Array && out.length === 32);
    const s = await createBlake3Stream();
    for (let off = 0, step = 1; off < len; off += step, step = (step * 3 + 1) % 1500) s.update(input.subarray(off, off + step));
    assert.equal(s.digestHex(), want, `streamed, length ${len}`);
  }
});

test('cross-check every vector length (and a few more) against /usr/bin/b3sum', async (t) => {
  if (!existsSync(B3SUM)) {
    t.skip(`b3sum not found at ${B3SUM} (Debian package "b3sum"); external cross-check skipped`);
    return;
  }
  await initBlake3();
  for (const len of [...OFFICIAL.map(([l]) => l), ...EXTRA_LENGTHS]) {
    const input = vectorInput(len);
    const r = spawnSync(B3SUM, ['--no-names'], { input, encoding: 'utf8' });
    assert.equal(r.status, 0, `b3sum failed: ${r.stderr}`);
    assert.equal(blake3Hex(input), r.stdout.trim(), `length ${len}`);
  }
});

test('streaming with many uneven updates equals one-shot (property)', async () => {
  await initBlake3();
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ maxLength: 20_000 }),
      fc.array(fc.nat({ max: 5000 }), { maxLength: 40 }),
      async (data, cuts) => {
        const s = await createBlake3Stream();
        let off = 0;
        for (const c of cuts) {
          s.update(data.subarray(off, Math.min(data.length, off + c)));
          off = Math.min(data.length, off + c);
        }
        s.update(data.subarray(off));
        assert.equal(s.digestHex(), blake3Hex(data));
      },
    ),
    { numRuns: 150 },
  );
});

test('large input: 3 MiB + 5 in uneven chunks equals one-shot', async () => {
  await initBlake3();
  const data = vectorInput(3 * 1024 * 1024 + 5);
  const s = await createBlake3Stream();
  let off = 0;
  for (let i = 0; off < data.length; i++) {
    const n = [1, 1023, 65536, 7, 300_001][i % 5]!;
    s.update(data.subarray(off, off + n));
    off += n;
  }
  assert.equal(s.digestHex(), blake3Hex(data));
});

test('streams are independent and interleave safely with one-shot hashing', async () => {
  await initBlake3();
  const a = await createBlake3Stream();
  const b = await createBlake3Stream();
  a.update(new TextEncoder().encode('hello '));
  b.update(new TextEncoder().encode('other'));
  blake3(new Uint8Array(5000)); // must not disturb either stream
  a.update(new TextEncoder().encode('world'));
  assert.equal(a.digestHex(), blake3Hex(new TextEncoder().encode('hello world')));
  assert.equal(b.digestHex(), blake3Hex(new TextEncoder().encode('other')));
});

test('a finished stream: digest() repeats, returns copies; update() throws BF_BLAKE3_FINALIZED', async () => {
  await initBlake3();
  const s = await createBlake3Stream();
  s.update(new Uint8Array([1, 2, 3]));
  const d1 = s.digest();
  d1.fill(0); // caller mutation must not affect later digests
  const d2 = s.digest();
  assert.equal(toHex(d2), blake3Hex(new Uint8Array([1, 2, 3])));
  assert.equal(s.digestHex(), toHex(d2));
  assert.throws(() => s.update(new Uint8Array(1)), { code: 'BF_BLAKE3_FINALIZED' });
});

test('known short strings (b3sum-independent sanity)', async () => {
  await initBlake3();
  assert.equal(blake3Hex(new Uint8Array(0)), OFFICIAL[0]![1]);
  // one-shot results are fresh arrays, not views into WASM memory
  const x = blake3(new Uint8Array([7]));
  const y = blake3(new Uint8Array([8]));
  assert.notEqual(toHex(x), toHex(y));
  assert.equal(toHex(x), blake3Hex(new Uint8Array([7])));
});
