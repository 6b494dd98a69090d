// Tests for src/integrity/blake3.ts: official BLAKE3 vectors, b3sum cross-check, streaming vs one-shot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import fc from 'fast-check';
import { blake3, blake3Hex, createBlake3Stream, initBlake3, isBlake3Ready } from '../../src/integrity/blake3.js';
import { toHex } from '../../src/integrity/hex.js';

/**
 * Unkeyed BLAKE3 (first 32 bytes of the "hash" field) from BLAKE3-team/BLAKE3
 * test_vectors/test_vectors.json. Input of length L has byte i = i % 251.
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

/** Extra lengths for the b3sum cross-check only (no official vector). */
const EXTRA_LENGTHS = [63, 64, 65, 1 << 20, (1 << 20) + 7];

const B3SUM = '/usr/bin/b3sum';

function vectorInput(len: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = i % 251;
  return b;
}

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
