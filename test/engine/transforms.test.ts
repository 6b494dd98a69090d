// Format v2 transforms end to end: every tier × {none, zstd, encrypt, zstd+encrypt}, ranges (healthy and damaged),
// verify and repair without the key, keyslots, and tampering that rewrites every public hash.
import assert from 'node:assert/strict';
import { readFile, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { BlockFrame, ComputePool, isBlockFrameError } from '../../src/index.js';
import type { Manifest } from '../../src/layout/manifest.js';
import { addKey, listKeys, removeKey } from '../../src/engine/keys.js';
import { frameTable } from '../../src/layout/manifest.js';
import { prng, randomBytesSeeded, tempDir } from '../helpers/fixtures.js';
import { reseal, writeFile } from '../helpers/reseal.js';

/** Half text-like (compressible), half random (not): both frame kinds appear. */
function mixed(size: number, seed: number): Uint8Array {
  const out = randomBytesSeeded(size, seed);
  const words = ['erasure ', 'coded ', 'archive ', 'stripe\n', 'frame '];
  const next = prng(seed ^ 0x5bd1e995);
  for (let i = 0; i < size; ) {
    if (Math.floor(i / 65536) % 2 === 1) {
      i += 65536;
      continue;
    }
    for (const ch of words[next() % words.length]!) if (i < size && Math.floor(i / 65536) % 2 === 0) out[i++] = ch.charCodeAt(0);
  }
  return out;
}

const SCRYPT = { n: 1024, r: 8, p: 1 };
const PASS = { passphrase: 'correct horse battery staple' };
const MODES = {
  none: {},
  zstd: { compress: 3 },
  encrypt: { encrypt: true },
  'zstd+encrypt': { compress: 3, encrypt: true },
} as const;
const TIERS = [
  { tier: 1 as const, size: 300_000 },
  { tier: 2 as const, size: 700_000, segmentSize: 131072 },
  { tier: 3 as const, size: 900_000, segmentSize: 16384 },
  { tier: 4 as const, size: 1_200_000, segmentSize: 8192, groupBlocks: 2 },
];

async function shardFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else if (e.name.endsWith('.dat')) out.push(join(d, e.name));
    }
  };
  await walk(dir);
  return out.sort();
}

async function rejects(p: Promise<unknown>, code: string, what: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => isBlockFrameError(e) && e.code === code, what);
}

test('round trips: every tier x {none, zstd, encrypt, zstd+encrypt}, byte-exact, v2 manifests', async () => {
  const { dir, cleanup } = await tempDir('bf-tf-');
  const pool = ComputePool.start();
  try {
    for (const t of TIERS) {
      const data = mixed(t.size, t.size);
      const input = join(dir, `in-${t.tier}.bin`);
      await writeFile(input, data);
      for (const [mode, o] of Object.entries(MODES)) {
        const archive = join(dir, `a-${t.tier}-${mode}`);
        const bf = new BlockFrame({ archive });
        try {
          const r = await bf.commit(input, { ...o, tier: t.tier, segmentSize: t.segmentSize, groupBlocks: t.groupBlocks, frameSize: 65536, keys: [PASS], scrypt: SCRYPT });
          const m = r.manifest;
          assert.equal(m.format_version, 2);
          assert.equal(m.size, t.size);
          const what = `tier ${t.tier} ${mode}`;
          if (mode === 'none') assert.equal(m.content, undefined, what);
          else assert.deepEqual(m.content!.transforms.map((x) => x.type), ('compress' in o ? ['zstd'] : []).concat('encrypt' in o ? ['aes-256-gcm'] : []), what);
          if ('encrypt' in o) {
            assert.equal(m.name, undefined);
            assert.equal(m.original_hash, undefined);
            assert.equal(m.source, undefined);
            assert.match(r.dir, /^encrypted_[0-9a-f]{64}$/);
            const text = await readFile(join(archive, r.dir, 'manifest.json'), 'utf8');
            assert.ok(!text.includes(`in-${t.tier}.bin`), 'the name is not visible');
          }
          if ('compress' in o) {
            const table = frameTable(m);
            const flags = Array.from({ length: table.count }, (_, j) => table.frame(j).compressed);
            assert.ok(flags.includes(true) && flags.includes(false), `${what}: text frames compress, random frames stay raw`);
            assert.ok(m.content!.stored_size < t.size, what);
          }
          const out = join(dir, 'out.bin');
          await rm(out, { force: true });
          await bf.restore(r.dir, out, { keys: [PASS] });
          assert.deepEqual(new Uint8Array(await readFile(out)), data, what);
          assert.equal((await bf.verify()).archives[0]!.status, 'healthy', what);
        } finally {
          await bf.close();
        }
      }
    }
  } finally {
    await pool.close();
    await cleanup();
  }
});

test('ranges equal slices of the original, healthy and damaged, through both layers (property)', async () => {
  const { dir, cleanup } = await tempDir('bf-tf-');
  const archive = join(dir, 'a');
  const bf = new BlockFrame({ archive });
  try {
    const size = 1_000_003;
    const data = mixed(size, 7);
    await writeFile(join(dir, 'in.bin'), data);
    const r = await bf.commit(join(dir, 'in.bin'), { compress: 3, encrypt: true, tier: 3, segmentSize: 16384, frameSize: 65536, keys: [PASS], scrypt: SCRYPT });
    const files = await shardFiles(join(archive, r.dir));
    const check = async () =>
      fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: size - 1 }), fc.integer({ min: 1, max: 200_000 }), async (off, len) => {
          const got = await bf.read(r.dir, off, len, { keys: [PASS] });
          assert.deepEqual(new Uint8Array(got), data.subarray(off, Math.min(size, off + len)));
        }),
        { numRuns: 40, seed: 11 },
      );
    await check();
    // Damage within what RS(30,3) heals per stripe: delete one shard, flip bytes in another of a different stripe.
    await rm(files[0]!);
    const victim = files.find((f) => f.includes('block_1/'))!;
    const b = await readFile(victim);
    b[100]! ^= 0xff;
    await writeFile(victim, b);
    await check();
  } finally {
    await bf.close();
    await cleanup();
  }
});

test('verify and repair run without the key on a damaged encrypted archive; a keyed restore is then byte-exact', async () => {
  const { dir, cleanup } = await tempDir('bf-tf-');
  const archive = join(dir, 'a');
  try {
    const data = mixed(800_000, 3);
    await writeFile(join(dir, 'in.bin'), data);
    const keyed = new BlockFrame({ archive });
    const r = await keyed.commit(join(dir, 'in.bin'), { compress: 3, encrypt: true, tier: 3, segmentSize: 16384, frameSize: 65536, keys: [PASS], scrypt: SCRYPT });
    await keyed.close();
    const files = await shardFiles(join(archive, r.dir));
    await rm(files[3]!);
    const z = await readFile(files[10]!);
    z.fill(0);
    await writeFile(files[10]!, z);
    const nokey = new BlockFrame({ archive });
    try {
      const v = await nokey.verify();
      assert.equal(v.archives[0]!.status, 'repairable');
      await nokey.repair();
      assert.equal((await nokey.verify()).archives[0]!.status, 'healthy');
      const listed = (await nokey.list()).archives[0]!;
      assert.equal(listed.name, '(encrypted)');
      assert.equal(listed.originalHash, null);
      assert.deepEqual(listed.encryption, { cipher: 'aes-256-gcm', keyslots: 1 });
      await rejects(nokey.restore(r.dir, join(dir, 'x.bin')), 'BF_KEY_REQUIRED', 'no key');
      await rejects(nokey.restore(r.dir, join(dir, 'x.bin'), { keys: [{ passphrase: 'wrong' }] }), 'BF_KEY_WRONG', 'wrong key');
      await assert.rejects(stat(join(dir, 'x.bin')), 'nothing was written');
      await nokey.restore('in.bin', join(dir, 'ok.bin'), { keys: [PASS] });
      assert.deepEqual(new Uint8Array(await readFile(join(dir, 'ok.bin'))), data);
    } finally {
      await nokey.close();
    }
  } finally {
    await cleanup();
  }
});

test('keyslots: add a key file, open with either, remove the passphrase; never the last slot', async () => {
  const { dir, cleanup } = await tempDir('bf-tf-');
  const archive = join(dir, 'a');
  const bf = new BlockFrame({ archive });
  try {
    const data = randomBytesSeeded(200_000, 5);
    await writeFile(join(dir, 'in.bin'), data);
    await writeFile(join(dir, 'k.key'), randomBytesSeeded(32, 9));
    await writeFile(join(dir, 'short.key'), randomBytesSeeded(16, 9));
    const r = await bf.commit(join(dir, 'in.bin'), { encrypt: true, keys: [PASS], scrypt: SCRYPT });
    const before = await readFile(join(archive, r.dir, 'data.dat'));
    await rejects(addKey(r.dir, { keyFile: join(dir, 'k.key') }, { archive }), 'BF_KEY_REQUIRED', 'adding needs a current key');
    await rejects(addKey(r.dir, { keyFile: join(dir, 'short.key') }, { archive, keys: [PASS] }), 'BF_KEYFILE_INVALID', 'a short key file');
    const added = await addKey(r.dir, { keyFile: join(dir, 'k.key') }, { archive, keys: [PASS] });
    assert.equal((await listKeys(r.dir, { archive })).slots.length, 2);
    assert.deepEqual(await readFile(join(archive, r.dir, 'data.dat')), before, 'rewrapping never touches the data');
    assert.deepEqual(new Uint8Array(await bf.read(r.dir, 0, 1000, { keys: [{ keyFile: join(dir, 'k.key') }] })), data.subarray(0, 1000));
    const passSlot = (await listKeys(r.dir, { archive, keys: [PASS] })).slots.find((s) => s.opens)!;
    await removeKey(r.dir, passSlot.id, { archive, keys: [{ keyFile: join(dir, 'k.key') }] });
    await rejects(bf.read(r.dir, 0, 10, { keys: [PASS] }), 'BF_KEY_WRONG', 'the removed passphrase no longer opens it');
    await rejects(removeKey(r.dir, added.slot.id, { archive, keys: [{ keyFile: join(dir, 'k.key') }] }), 'BF_USAGE', 'the last slot stays');
    assert.equal((await bf.verify()).archives[0]!.status, 'healthy');
  } finally {
    await bf.close();
    await cleanup();
  }
});

/** One encrypted Tier 1 archive (data.dat plus three parity copies) of random data, frames of 64 KiB. */
async function tier1Encrypted(dir: string, archive: string, seed: number): Promise<{ bf: BlockFrame; dirName: string; data: Uint8Array; m: Manifest }> {
  const data = randomBytesSeeded(300_000, seed);
  await writeFile(join(dir, `in${seed}.bin`), data);
  const bf = new BlockFrame({ archive });
  const r = await bf.commit(join(dir, `in${seed}.bin`), { encrypt: true, frameSize: 65536, keys: [PASS], scrypt: SCRYPT });
  return { bf, dirName: r.dir, data, m: r.manifest };
}

/** Apply `edit` to data.dat and its parity copies, so that repair has nothing to restore it from. */
async function rewriteShards(base: string, edit: (b: Buffer) => void): Promise<void> {
  for (const f of ['data.dat', 'parity_0.dat', 'parity_1.dat', 'parity_2.dat']) {
    const b = await readFile(join(base, f));
    edit(b);
    await writeFile(join(base, f), b);
  }
}

test('tampering that rewrites every public hash is caught by the GCM tag: flip, swap, replay, truncated keyslot', async () => {
  const { dir, cleanup } = await tempDir('bf-tf-');
  const archive = join(dir, 'a');
  const { bf, dirName, m } = await tier1Encrypted(dir, archive, 1);
  const other = await tier1Encrypted(dir, join(dir, 'b'), 2);
  const base = join(archive, dirName);
  const F = 65536 + 16;
  const restoreFails = async (what: string) => {
    assert.equal((await bf.verify()).archives[0]!.status, 'healthy', `${what}: every unkeyed check passes`);
    await rejects(bf.restore(dirName, join(dir, 'x.bin'), { keys: [PASS] }), 'BF_FRAME_INVALID', what);
    await assert.rejects(stat(join(dir, 'x.bin')), `${what}: no output`);
  };
  try {
    const pristine = await readFile(join(base, 'data.dat'));
    // 1. A flipped ciphertext bit.
    await rewriteShards(base, (b) => (b[F + 5]! ^= 1));
    await reseal(base);
    await restoreFails('flip');
    // 2. Frames 1 and 2 swapped (equal lengths): each is authentic, but bound to its index.
    await rewriteShards(base, (b) => {
      pristine.copy(b);
      const f1 = Buffer.from(b.subarray(F, 2 * F));
      b.copy(b, F, 2 * F, 3 * F);
      f1.copy(b, 2 * F);
    });
    await reseal(base);
    await restoreFails('swap');
    // 3. Frame 0 replayed from another archive (another key and archive id).
    const foreign = await readFile(join(dir, 'b', other.dirName, 'data.dat'));
    await rewriteShards(base, (b) => {
      pristine.copy(b);
      foreign.copy(b, 0, 0, F);
    });
    await reseal(base);
    await restoreFails('replay');
    // 4. Back to the original bytes: it reads again. Then a truncated wrapped key is refused as a wrong key.
    await rewriteShards(base, (b) => pristine.copy(b));
    await reseal(base);
    await bf.restore(dirName, join(dir, 'fine.bin'), { keys: [PASS] });
    await reseal(base, (mm) => {
      const slot = mm.content!.encryption!.keyslots[0]!;
      slot.wrapped = slot.wrapped.slice(0, 40);
    });
    await rejects(bf.read(dirName, 0, 10, { keys: [PASS] }), 'BF_KEY_WRONG', 'truncated keyslot');
    assert.ok(m.content!.encryption);
  } finally {
    await bf.close();
    await other.bf.close();
    await cleanup();
  }
});

test('a corrupt zstd frame inside a re-hashed shard gives a clean BF_ error and never wrong bytes', async () => {
  const { dir, cleanup } = await tempDir('bf-tf-');
  const archive = join(dir, 'a');
  const bf = new BlockFrame({ archive });
  try {
    const data = mixed(400_000, 4);
    await writeFile(join(dir, 'in.bin'), data);
    const r = await bf.commit(join(dir, 'in.bin'), { compress: 3, frameSize: 65536 });
    const table = frameTable(r.manifest);
    const f = table.frame(0);
    assert.ok(f.compressed);
    const rand = prng(99);
    // Each trial adds one more flipped byte to the same frame (the damage accumulates).
    for (let trial = 0; trial < 6; trial++) {
      const base = join(archive, r.dir);
      const at = f.storedOffset + (trial === 0 ? 4 : rand() % f.storedLength);
      await rewriteShards(base, (b) => (b[at]! ^= 0x40 | (rand() & 0x3f)));
      await reseal(base);
      // A whole-file restore always ends in a coded error: the frame fails to decode, or original_hash catches it.
      await assert.rejects(bf.restore(r.dir, join(dir, 'x.bin'), { force: true }), (e: unknown) => isBlockFrameError(e) && ['BF_FRAME_INVALID', 'BF_HASH_MISMATCH'].includes(e.code), `trial ${trial}`);
      await assert.rejects(stat(join(dir, 'x.bin')));
    }
  } finally {
    await bf.close();
    await cleanup();
  }
});

test('nonces: unique across 10,000 frames and across two commits of the same file', async () => {
  const { frameNonce } = await import('../../src/transform/seal.js');
  const seen = new Set<string>();
  for (let j = 0; j < 10_000; j++) seen.add(frameNonce(j).toString('hex'));
  assert.equal(seen.size, 10_000);
  const { dir, cleanup } = await tempDir('bf-tf-');
  const archive = join(dir, 'a');
  const bf = new BlockFrame({ archive });
  try {
    await writeFile(join(dir, 'in.bin'), randomBytesSeeded(100_000, 1));
    const a = await bf.commit(join(dir, 'in.bin'), { encrypt: true, keys: [PASS], scrypt: SCRYPT });
    const b = await bf.commit(join(dir, 'in.bin'), { encrypt: true, keys: [PASS], scrypt: SCRYPT });
    // Same file, same frame numbers: distinct archive ids and data keys, so no (key, nonce) pair repeats.
    assert.notEqual(a.dir, b.dir);
    assert.notEqual(a.manifest.content!.encryption!.archive_id, b.manifest.content!.encryption!.archive_id);
    const da = await readFile(join(archive, a.dir, 'data.dat'));
    const db = await readFile(join(archive, b.dir, 'data.dat'));
    assert.notDeepEqual(da.subarray(0, 64), db.subarray(0, 64), 'different keys give different ciphertext');
  } finally {
    await bf.close();
    await cleanup();
  }
});

test('a 1 MiB range reads only the frames it overlaps (at most one beyond each end) from the stored stream', async () => {
  const { dir, cleanup } = await tempDir('bf-tf-');
  const archive = join(dir, 'a');
  const bf = new BlockFrame({ archive });
  try {
    const size = 9 * 1024 * 1024 + 123;
    const data = mixed(size, 21);
    await writeFile(join(dir, 'in.bin'), data);
    const r = await bf.commit(join(dir, 'in.bin'), { compress: 3, encrypt: true, keys: [PASS], scrypt: SCRYPT });
    const { openArchive } = await import('../../src/engine/read.js');
    const a = await openArchive(r.dir, { archive, keys: [PASS] });
    try {
      const table = a.content.table!;
      let stored = 0;
      const readInto = a.reader.readInto.bind(a.reader);
      a.reader.readInto = (seg, from, to, out) => ((stored += to - from), readInto(seg, from, to, out));
      for (const off of [0, 1_500_000, 4 * 1024 * 1024, size - 1024 * 1024]) {
        stored = 0;
        const got = await a.read(off, 1024 * 1024);
        assert.deepEqual(new Uint8Array(got), data.subarray(off, off + 1024 * 1024));
        const span = table.span(off, 1024 * 1024)!;
        assert.ok(span.last - span.first + 1 <= 3, 'a 1 MiB range overlaps at most 3 frames of 1 MiB');
        const first = table.frame(span.first);
        const last = table.frame(span.last);
        // Reads are whole 64 KiB chunks of the stored stream, so allow one chunk of rounding at each end.
        assert.ok(stored <= last.storedOffset + last.storedLength - first.storedOffset + 2 * 65536, `${stored} stored bytes read for [${off}, +1 MiB)`);
      }
    } finally {
      await a.close();
    }
  } finally {
    await bf.close();
    await cleanup();
  }
});

test('transforms over three stores: a dead store still reads, and repair rebuilds it without the key', async () => {
  const { dir, cleanup } = await tempDir('bf-tf-');
  const stores = [0, 1, 2].map((i) => join(dir, `disk${i}`));
  const bf = new BlockFrame({ stores, failures: 1 });
  try {
    const data = mixed(1_500_000, 8);
    await writeFile(join(dir, 'in.bin'), data);
    const r = await bf.commit(join(dir, 'in.bin'), { compress: 3, encrypt: true, tier: 3, segmentSize: 16384, frameSize: 65536, keys: [PASS], scrypt: SCRYPT });
    await rm(join(stores[1]!, r.dir), { recursive: true });
    assert.deepEqual(new Uint8Array(await bf.read(r.dir, 100_000, 700_000, { keys: [PASS] })), data.subarray(100_000, 800_000));
    await bf.repair();
    assert.equal((await bf.verify()).archives[0]!.status, 'healthy');
    await bf.restore(r.dir, join(dir, 'out.bin'), { keys: [PASS] });
    assert.deepEqual(new Uint8Array(await readFile(join(dir, 'out.bin'))), data);
  } finally {
    await bf.close();
    await cleanup();
  }
});

test('--compress auto skips incompressible files; bad transform options are refused before anything is written', async () => {
  const { dir, cleanup } = await tempDir('bf-tf-');
  const archive = join(dir, 'a');
  const bf = new BlockFrame({ archive });
  try {
    await writeFile(join(dir, 'noise.bin'), randomBytesSeeded(3_000_000, 2));
    await writeFile(join(dir, 'text.txt'), mixed(3_000_000, 2).map((b, i) => (Math.floor(i / 65536) % 2 ? 0x61 + (i % 7) : b)));
    const noise = await bf.commit(join(dir, 'noise.bin'), { compress: 'auto' });
    assert.equal(noise.manifest.content, undefined, 'random data stays a plain archive');
    const text = await bf.commit(join(dir, 'text.txt'), { compress: 'auto' });
    assert.deepEqual(text.manifest.content?.transforms, [{ type: 'zstd', level: 3 }]);
    await rejects(bf.commit(join(dir, 'text.txt'), { compress: 25, name: 'x' }), 'BF_USAGE', 'level 25');
    await rejects(bf.commit(join(dir, 'text.txt'), { compress: 3, frameSize: 100_000, name: 'y' }), 'BF_INVALID_SIZE', 'frame size not a power of two');
    await rejects(bf.commit(join(dir, 'text.txt'), { encrypt: true, name: 'z' }), 'BF_KEY_REQUIRED', 'encryption without a key');
    assert.equal((await bf.list()).archives.length, 2, 'nothing else was written');
  } finally {
    await bf.close();
    await cleanup();
  }
});

test('cutting frames off the end of an encrypted archive (size and every public hash rewritten) is refused on open', async () => {
  const { dir, cleanup } = await tempDir('bf-tf-');
  const archive = join(dir, 'a');
  const { bf, dirName } = await tier1Encrypted(dir, archive, 3);
  try {
    const base = join(archive, dirName);
    const F = 65536 + 16;
    // Keep the first 2 frames: truncate every shard copy, and shrink size, the frame table and the geometry to match.
    for (const f of ['data.dat', 'parity_0.dat', 'parity_1.dat', 'parity_2.dat']) {
      const b = await readFile(join(base, f));
      await writeFile(join(base, f), b.subarray(0, 2 * F));
    }
    await reseal(base, (mm) => {
      mm.size = 2 * 65536;
      const c = mm.content!;
      c.stored_size = 2 * F;
      c.frames = Buffer.from(Buffer.from(c.frames, 'base64').subarray(0, 8)).toString('base64');
      mm.segment_size = 2 * F;
      for (const s of mm.stripes) {
        s.shard_size = 2 * F;
        for (const d of s.data) d.size = 2 * F;
        for (const p of s.parity) p.size = 2 * F;
      }
    });
    assert.equal((await bf.verify()).archives[0]!.status, 'healthy', 'every unkeyed check passes');
    await rejects(bf.read(dirName, 0, 100, { keys: [PASS] }), 'BF_FRAME_INVALID', 'truncation');
  } finally {
    await bf.close();
    await cleanup();
  }
});
