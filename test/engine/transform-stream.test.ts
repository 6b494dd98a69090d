// Transformed commits stream their frames into the shard writer (engine/commit-transforms.ts StoredInput): shards are
// written while the input is still read, the plan comes from the stored size's bound, and a zstd stream whose real
// length ends at a stripe end, a segment end or mid-segment is written with the geometry of that length.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { BlockFrame, ComputePool, commitInput, fileSource, isBlockFrameError, type InputSource } from '../../src/index.js';
import { StoredStream } from '../../src/archive/write/stored-stream.js';
import { zstdCompress } from '../../src/transform/zstd.js';
import { randomBytesSeeded, tempDir } from '../helpers/fixtures.js';

const MiB = 1024 * 1024;
const KEY = { passphrase: 'stream test' };
const SCRYPT = { n: 1024, r: 8, p: 1 };

/** `source`, recording how many bytes commit had reported as written when the input's last byte was read. */
function watched(path: string, size: number): { source: InputSource; progressAtLastRead: () => number; onProgress: (done: number) => void } {
  const inner = fileSource(path);
  let progress = 0;
  let atLast = -1;
  const source: InputSource = {
    path,
    stat: () => inner.stat(),
    open: async () => {
      const f = await inner.open();
      return {
        readAt: async (buf, length, position) => {
          const n = await f.readAt(buf, length, position);
          if (n > 0 && position + n === size && atLast < 0) atLast = progress;
          return n;
        },
        close: () => f.close(),
      };
    },
  };
  return { source, progressAtLastRead: () => atLast, onProgress: (done) => (progress = done) };
}

for (const [mode, label] of [['zstd', 'a zstd'], ['encrypt', 'an encrypted']] as const) {
  test(`${label} commit writes shards while it still reads its input (no spool of the stored stream first)`, async () => {
    const { dir, cleanup } = await tempDir();
    const pool = ComputePool.start();
    try {
      // Random bytes: zstd keeps every frame raw, so the stored stream is as long as the input (48 MiB), far more
      // than the encoder may run ahead of the writer.
      const size = 48 * MiB;
      const input = join(dir, 'in.bin');
      await writeFile(input, randomBytesSeeded(size, 3));
      const w = watched(input, size);
      const tf = mode === 'zstd' ? { compress: 3 } : { encrypt: true, keys: [KEY], scrypt: SCRYPT };
      const r = await commitInput(w.source, { archive: join(dir, 'a'), pool, ...tf, onProgress: w.onProgress });
      assert.equal(r.status, 'archived');
      assert.ok(w.progressAtLastRead() > 8 * MiB, `shard bytes written when the input's last byte was read: ${w.progressAtLastRead()} (a first pass that spools the stored stream writes none before the end)`);
      const bf = new BlockFrame({ archive: join(dir, 'a') });
      try {
        assert.equal((await bf.verify()).status, 'healthy');
        await bf.restore(r.dir, join(dir, 'out.bin'), { keys: [KEY] });
        assert.ok(Buffer.compare(await readFile(join(dir, 'out.bin')), await readFile(input)) === 0, 'byte-exact restore');
      } finally {
        await bf.close();
      }
    } finally {
      await pool.close();
      await cleanup();
    }
  });
}

test('zstd: the tier is planned from the plaintext size (the stored size bound), not the compressed size', async () => {
  const { dir, cleanup } = await tempDir();
  const bf = new BlockFrame({ archive: join(dir, 'a') });
  try {
    // 12 MiB of zeros compress to a few KiB: a Tier 1 stored size, but the bound (12 MiB) is Tier 2.
    await writeFile(join(dir, 'zeros.bin'), Buffer.alloc(12 * MiB));
    const r = await bf.commit(join(dir, 'zeros.bin'), { compress: 3 });
    assert.ok(r.manifest.content!.stored_size < 64 * 1024, `stored ${r.manifest.content!.stored_size} bytes`);
    assert.equal(r.tier, 2);
    assert.equal(r.stripes, 1, 'one segment: the geometry is that of the real stored size');
    await bf.restore('zeros.bin', join(dir, 'out.bin'));
    assert.ok((await readFile(join(dir, 'out.bin'))).equals(Buffer.alloc(12 * MiB)));
  } finally {
    await bf.close();
    await cleanup();
  }
});

/**
 * Plaintext of 64 KiB frames (six random, two of zeros, and a last one of `p` random bytes then zeros) and the exact
 * length of its zstd-3 stored stream (each frame raw when compression does not shrink it, docs/FORMAT.md §12.2).
 */
async function framed(p: number): Promise<{ data: Buffer; stored: number }> {
  const F = 65536;
  const frames = [0, 1, 2, 3, 4, 5].map((i) => Buffer.from(randomBytesSeeded(F, 100 + i)));
  frames.splice(3, 0, Buffer.alloc(F), Buffer.alloc(F));
  const last = Buffer.alloc(F);
  last.set(randomBytesSeeded(p, 99));
  frames.push(last);
  let stored = 0;
  for (const f of frames) stored += Math.min(f.length, (await zstdCompress(f, 3)).length);
  return { data: Buffer.concat(frames), stored };
}

/** The first `framed` input whose stored length is a multiple of `d`. */
async function storedMultipleOf(d: number): Promise<{ data: Buffer; stored: number }> {
  for (let p = 20000; p < 65536; p++) {
    const f = await framed(p);
    if (f.stored % d === 0) return f;
  }
  throw new Error(`no stored length divisible by ${d}`);
}

test('a zstd stream ending at a stripe end, at a segment end inside a stripe, or mid-segment gets the geometry of its real length', async () => {
  const { dir, cleanup } = await tempDir();
  const bf = new BlockFrame({ archive: join(dir, 'a') });
  try {
    const cases = [
      // Tier 3, RS(30,3): two full blocks, so the plan (for the larger plaintext) has a third that never comes.
      { what: 'tier 3, at a block end', tier: 3 as const, f: await storedMultipleOf(60), parts: 60, stripes: 2 },
      // Tier 3: the stream ends after segment 15 of the second block.
      { what: 'tier 3, at a segment end inside a block', tier: 3 as const, f: await storedMultipleOf(45), parts: 45, stripes: 2 },
      // Tier 2: three whole segments (three stripes), where the plan has more.
      { what: 'tier 2, at a segment end', tier: 2 as const, f: await storedMultipleOf(3), parts: 3, stripes: 3 },
      // Mid-segment: 4 KiB segments, a short last one.
      { what: 'tier 3, mid-segment', tier: 3 as const, f: await framed(30001), parts: 0, stripes: 0 },
    ];
    for (const [i, c] of cases.entries()) {
      const name = `in${i}.bin`;
      await writeFile(join(dir, name), c.f.data);
      const segmentSize = c.parts ? c.f.stored / c.parts : 4096;
      assert.ok(segmentSize >= 4096 && Number.isInteger(segmentSize), `${c.what}: segment size ${segmentSize}`);
      const r = await bf.commit(join(dir, name), { compress: 3, frameSize: 65536, tier: c.tier, segmentSize });
      assert.equal(r.manifest.content!.stored_size, c.f.stored, c.what);
      assert.equal(r.segments, Math.ceil(c.f.stored / segmentSize), `${c.what}: segments`);
      if (c.stripes) assert.equal(r.stripes, c.stripes, `${c.what}: stripes`);
      await bf.restore(name, join(dir, 'out.bin'), { force: true });
      assert.ok((await readFile(join(dir, 'out.bin'))).equals(c.f.data), `${c.what}: byte-exact`);
    }
    assert.equal((await bf.verify()).status, 'healthy');
  } finally {
    await bf.close();
    await cleanup();
  }
});

test('StoredStream: in-order reads, backpressure on the producer, the look-ahead, and a failure reaching both sides', async () => {
  const s = new StoredStream(16, 4, 40);
  const produced: number[] = [];
  const producer = (async () => {
    for (let i = 0; i < 10; i++) {
      await s.append(Uint8Array.from([i * 4, i * 4 + 1, i * 4 + 2, i * 4 + 3]));
      produced.push(i);
    }
    s.end();
  })();
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(produced.length, 4, 'the producer waits while the ring is full');
  assert.equal(await s.longerThan(11), true);
  const buf = new Uint8Array(8);
  assert.equal(await s.readAt(buf, 8, 0), 8);
  assert.deepEqual([...buf], [0, 1, 2, 3, 4, 5, 6, 7]);
  await assert.rejects(s.readAt(buf, 4, 4), (e: unknown) => isBlockFrameError(e) && e.code === 'BF_INTERNAL', 'a read behind the last one');
  let at = 8;
  for (;;) {
    const n = await s.readAt(buf, 8, at);
    if (n === 0) break;
    for (let i = 0; i < n; i++) assert.equal(buf[i], at + i);
    at += n;
  }
  await producer;
  assert.equal(at, 40);
  assert.equal(s.size, 40);
  assert.equal(await s.longerThan(40), false);

  const f = new StoredStream(8, 4, 100);
  await f.append(new Uint8Array(4));
  await f.append(new Uint8Array(4));
  const blocked = f.append(new Uint8Array(4));
  const boom = new Error('writer failed');
  f.fail(boom);
  await assert.rejects(blocked, (e) => e === boom, 'a producer waiting for room');
  await assert.rejects(f.readAt(new Uint8Array(4), 4, 0), (e) => e === boom, 'the reader');
});
