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

/**
 * Unkeyed BLAKE3 (first 32 bytes of the "hash" field) from BLAKE3-team/BLAKE3
 * test_vectors/test_vectors.json (same table as test/integrity/blake3.test.ts). Byte i = i % 251.
 */
const OFFICIAL: ReadonlyArray<readonly [number, string]> = [
  [0, 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262'],
  [1, '2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213'],
  [1023, '10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11'],
  [1024, '42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7'],
  [1025, 'd00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444'],
  [2048, 'e776b6028c7cd22a4d0ba182a8bf62205d2ef576467e838ed6f2529b85fba24a'],
  [2049, '5f4d72f40d7a5f82b15ca2b2e44b1de3c2ef86c426c95c1af0b6879522563030'],
  [3072, 'b98cb0ff3623be03326b373de6b9095218513e64f1ee2edd2525c7ad1e5cffd2'],
  [3073, '7124b49501012f81cc7f11ca069ec9226cecb8a2c850cfe644e327d22d3e1cd3'],
  [4096, '015094013f57a5277b59d8475c0501042c0b642e531b0a1c8f58d2163229e969'],
  [4097, '9b4052b38f1c5fc8b1f9ff7ac7b27cd242487b3d890d15c96a1c25b8aa0fb995'],
  [5120, '9cadc15fed8b5d854562b26a9536d9707cadeda9b143978f319ab34230535833'],
  [5121, '628bd2cb2004694adaab7bbd778a25df25c47b9d4155a55f8fbd79f2fe154cff'],
  [6144, '3e2e5b74e048f3add6d21faab3f83aa44d3b2278afb83b80b3c35164ebeca205'],
  [6145, 'f1323a8631446cc50536a9f705ee5cb619424d46887f3c376c695b70e0f0507f'],
  [7168, '61da957ec2499a95d6b8023e2b0e604ec7f6b50e80a9678b89d2628e99ada77a'],
  [7169, 'a003fc7a51754a9b3c7fae0367ab3d782dccf28855a03d435f8cfe74605e7817'],
  [8192, 'aae792484c8efe4f19e2ca7d371d8c467ffb10748d8a5a1ae579948f718a2a63'],
  [8193, 'bab6c09cb8ce8cf459261398d2e7aef35700bf488116ceb94a36d0f5f1b7bc3b'],
  [16384, 'f875d6646de28985646f34ee13be9a576fd515f76b5b0a26bb324735041ddde4'],
  [31744, '62b6960e1a44bcc1eb1a611a8d6235b6b4b78f32e7abc4fb4c6cdcce94895c47'],
  [102400, 'bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085'],
];

const B3SUM = '/usr/bin/b3sum';
const MiB = 1024 * 1024;

function vectorInput(len: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = i % 251;
  return b;
}

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
