// Tests for src/integrity/blake3-simd.ts: official vectors, equality with hash-wasm (property + large), b3sum cross-check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { blake3Simd, blake3SimdAvailable, createBlake3Simd } from '../../src/integrity/blake3-simd.js';
import { blake3, initBlake3 } from '../../src/integrity/blake3.js';
import { toHex } from '../../src/integrity/hex.js';
import { OFFICIAL, vectorInput } from '../helpers/blake3-vectors.js';


const B3SUM = '/usr/bin/b3sum';
const MiB = 1024 * 1024;


/** Deterministic pseudo-random bytes (xorshift32), cheap enough for multi-MiB inputs. */
function randomBytes(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  let x = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** Hash `data` with our streaming hasher, feeding pieces of the given sizes (cycled) until the end. */
function streamed(data: Uint8Array, sizes: readonly number[]): Uint8Array {
  const h = createBlake3Simd();
  let off = 0;
  for (let i = 0; off < data.length; i++) {
    const n = sizes[i % sizes.length]!;
    h.update(data.subarray(off, off + n));
    off += n;
  }
  return h.digest();
}

const hex = (b: Uint8Array): string => toHex(b);

test('the SIMD kernel is available on Node 20', () => {
  assert.equal(blake3SimdAvailable(), true);
});

test('official BLAKE3 test vectors: one-shot and several update patterns', () => {
  for (const [len, want] of OFFICIAL) {
    const input = vectorInput(len);
    const out = blake3Simd(input);
    assert.ok(out instanceof Uint8Array && out.length === 32);
    assert.equal(hex(out), want, `one-shot, length ${len}`);
    for (const sizes of [[1], [63, 1], [1024], [1023, 1025], [3000, 7], [4096, 1]]) {
      if (sizes[0] === 1 && sizes.length === 1 && len > 20000) continue; // byte-at-a-time only for small inputs
      assert.equal(hex(streamed(input, sizes)), want, `streamed ${JSON.stringify(sizes)}, length ${len}`);
    }
  }
});

test('empty input, empty updates and digest-then-continue', () => {
  const h = createBlake3Simd();
  assert.equal(hex(h.digest()), OFFICIAL[0]![1]);
  h.update(new Uint8Array(0));
  assert.equal(hex(h.digest()), OFFICIAL[0]![1]);
  const data = vectorInput(5121);
  h.update(data.subarray(0, 2048));
  h.update(new Uint8Array(0));
  assert.equal(hex(h.digest()), OFFICIAL.find(([l]) => l === 2048)![1]); // digest does not end the stream
  h.update(data.subarray(2048));
  assert.equal(hex(h.digest()), OFFICIAL.find(([l]) => l === 5121)![1]);
  const d1 = h.digest();
  d1.fill(0); // results are fresh copies, not views into wasm memory
  assert.equal(hex(h.digest()), OFFICIAL.find(([l]) => l === 5121)![1]);
});

test('hashers are independent and interleave safely with each other and one-shot calls', async () => {
  await initBlake3();
  const a = createBlake3Simd();
  const b = createBlake3Simd();
  const da = randomBytes(700_001, 1);
  const db = randomBytes(333_333, 2);
  for (let off = 0; off < Math.max(da.length, db.length); off += 65_537) {
    a.update(da.subarray(off, off + 65_537));
    blake3Simd(randomBytes(3000, off)); // must not disturb either stream
    b.update(db.subarray(off, off + 65_537));
  }
  assert.equal(hex(a.digest()), hex(blake3(da)));
  assert.equal(hex(b.digest()), hex(blake3(db)));
});

test('every length around chunk, 4-chunk-group and window boundaries equals hash-wasm', async () => {
  await initBlake3();
  const lens = new Set<number>();
  for (const chunks of [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 255, 256, 257, 511, 512, 513, 1024, 1025]) {
    for (const d of [-1, 0, 1]) lens.add(chunks * 1024 + d);
  }
  for (const len of lens) {
    const data = randomBytes(len, len);
    const want = hex(blake3(data));
    assert.equal(hex(blake3Simd(data)), want, `one-shot, length ${len}`);
    assert.equal(hex(streamed(data, [1024])), want, `1024-byte updates, length ${len}`);
    assert.equal(hex(streamed(data, [4 * MiB])), want, `single-update streaming, length ${len}`);
    assert.equal(hex(streamed(data, [1, 1023, 262_145])), want, `mixed updates, length ${len}`);
  }
});

test('random lengths 0..300000 and random update() split points equal hash-wasm (property)', async () => {
  await initBlake3();
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 300_000 }),
      fc.integer(),
      fc.array(fc.integer({ min: 0, max: 300_000 }), { maxLength: 12, size: 'max' }),
      (len, seed, cutPoints) => {
        const data = randomBytes(len, seed);
        const want = hex(blake3(data));
        assert.equal(hex(blake3Simd(data)), want);
        const cuts = [...new Set(cutPoints.map((c) => Math.min(c, len)))].sort((x, y) => x - y);
        const h = createBlake3Simd();
        let off = 0;
        for (const c of cuts) {
          h.update(data.subarray(off, c));
          off = c;
        }
        h.update(data.subarray(off));
        assert.equal(hex(h.digest()), want);
      },
    ),
    { numRuns: 120 },
  );
});

test('small inputs with byte-level split points equal hash-wasm (property)', async () => {
  await initBlake3();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 5000, size: 'max' }), fc.array(fc.nat({ max: 1100 }), { maxLength: 20, size: 'max' }), (data, steps) => {
      const h = createBlake3Simd();
      let off = 0;
      for (const s of steps) {
        h.update(data.subarray(off, Math.min(data.length, off + s)));
        off = Math.min(data.length, off + s);
      }
      h.update(data.subarray(off));
      assert.equal(hex(h.digest()), hex(blake3(data)));
    }),
    { numRuns: 200 },
  );
});

test('large inputs (1 MiB, 4 MiB + 13, 16 MiB) equal hash-wasm, one-shot and streamed', async () => {
  await initBlake3();
  for (const len of [MiB, 4 * MiB + 13, 16 * MiB]) {
    const data = randomBytes(len, len ^ 0x5bd1e995);
    const want = hex(blake3(data));
    assert.equal(hex(blake3Simd(data)), want, `one-shot, length ${len}`);
    assert.equal(hex(streamed(data, [4 * MiB])), want, `4 MiB updates, length ${len}`);
    assert.equal(hex(streamed(data, [65_536, 1, 300_001, 1023])), want, `uneven updates, length ${len}`);
  }
});

test('cross-check against /usr/bin/b3sum on an 8 MiB + 5 file', (t) => {
  if (!existsSync(B3SUM)) {
    t.skip(`b3sum not found at ${B3SUM} (Debian package "b3sum"); external cross-check skipped`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'bf-blake3-simd-'));
  try {
    const data = randomBytes(8 * MiB + 5, 42);
    const file = join(dir, 'input.bin');
    writeFileSync(file, data);
    const r = spawnSync(B3SUM, ['--no-names', file], { encoding: 'utf8' });
    assert.equal(r.status, 0, `b3sum failed: ${r.stderr}`);
    const want = r.stdout.trim();
    assert.match(want, /^[0-9a-f]{64}$/);
    assert.equal(hex(blake3Simd(data)), want);
    assert.equal(hex(streamed(data, [1_000_003])), want);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
