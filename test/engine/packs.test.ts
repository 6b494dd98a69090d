// Format v3 packs end to end (docs/FORMAT.md §13.2, §13.5, §13.8): PackWriter seals and publishes packs on 1 and 4 directory stores, the index loads, every blob reads back byte-exact whole and in ranges, damaged packs read and heal, and a v2 root with packs/ present is unchanged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { commit, ComputePool, list, repair, verify } from '../../src/index.js';
import { isBlockFrameError } from '../../src/errors.js';
import { blake3Hex } from '../../src/integrity/blake3.js';
import { Repository } from '../../src/archive/repo.js';
import { PackWriter, type SealedPack } from '../../src/archive/pack-writer.js';
import { BlobIndex, loadBlobIndex, writeIndexFile } from '../../src/archive/blob-index.js';
import { BlobReader, readBlob, readPackTable } from '../../src/engine/blob-read.js';
import { verifyArchive } from '../../src/engine/verify.js';
import { repairArchive } from '../../src/engine/repair.js';
import { openInput } from '../../src/io/input.js';
import { blobDir, indexKey, packDir } from '../../src/layout/keys.js';
import { largeBlobSegmentSize, PACK_THRESHOLD } from '../../src/layout/pack.js';
import { parseManifest } from '../../src/layout/manifest.js';
import { haveCommand, prng, randomBytesSeeded, tempDir } from '../helpers/fixtures.js';

const TARGET = 256 * 1024;

/** Seeded blobs of 1 B to 96 KiB (a few up to 1 MiB), distinct. */
function makeBlobs(seed: number, count: number): Buffer[] {
  const next = prng(seed);
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const r = next();
    const size = i % 13 === 5 ? 200_000 + (r % 800_000) : 1 + (r % (96 * 1024));
    out.push(Buffer.from(randomBytesSeeded(size, seed * 1000 + i)));
  }
  return out;
}

/** Where key `rel` of archive `dir` is, on whichever store holds it. */
async function findOnStores(stores: string[], dir: string, rel: string): Promise<string> {
  for (const s of stores) {
    const p = join(s, dir, rel);
    if (await stat(p).catch(() => null)) return p;
  }
  throw new Error(`${dir}/${rel} is on no store`);
}

async function writePacks(repo: Repository, pool: ComputePool, blobs: Buffer[], scratch: string): Promise<SealedPack[]> {
  const w = await PackWriter.open(repo, { pool, target: TARGET, generator: 'blockframe test' });
  const sealed: SealedPack[] = [];
  try {
    for (const [i, b] of blobs.entries()) {
      const hash = blake3Hex(b);
      if (i % 2 === 0) {
        // From a file, in one read pass (the writer hashes and checks).
        const f = join(scratch, `blob-${i}`);
        await writeFile(f, b);
        const input = await openInput(f);
        try {
          const r = await w.add(hash, b.length, input, f);
          assert.ok(r.added);
          sealed.push(...r.sealed);
        } finally {
          await input.close();
        }
      } else {
        // As a commit does: append while hashing, then commit (or cut back).
        sealed.push(...(await w.beginBlob(b.length)));
        for (let at = 0; at < b.length; at += 10_000) await w.append(b.subarray(at, at + 10_000));
        const r = await w.commitBlob(hash);
        assert.ok(r.added);
        sealed.push(...r.sealed);
      }
      if (i === 3) {
        // A blob whose hash turns out to be known: appended, then cut back.
        sealed.push(...(await w.beginBlob(blobs[0]!.length)));
        await w.append(blobs[0]!);
        assert.deepEqual(await w.commitBlob(blake3Hex(blobs[0]!)), { added: false, sealed: [] });
        // And one cancelled outright.
        sealed.push(...(await w.beginBlob(5)));
        await w.append(Buffer.from('abcde'));
        await w.cancelBlob();
      }
    }
    sealed.push(...(await w.flush()));
  } finally {
    await w.close();
  }
  return sealed;
}

for (const n of [1, 4]) {
  test(`packs on ${n} store${n === 1 ? '' : 's'}: written, indexed, read back whole and in ranges, healed after damage; the v2 root around them unchanged`, async () => {
    const { dir, cleanup } = await tempDir(`bf-packs-${n}-`);
    const pool = ComputePool.start(2);
    const stores = Array.from({ length: n }, (_, i) => join(dir, `store${i}`));
    for (const s of stores) await mkdir(s, { recursive: true });
    const opts = n === 1 ? { archive: stores[0]! } : { stores };
    try {
      // A version-2 archive in the same root first: a v2 listing must not see the packs.
      const v2file = join(dir, 'v2.bin');
      await writeFile(v2file, randomBytesSeeded(50_000, 7));
      await commit(v2file, { ...opts, pool });
      const blobs = makeBlobs(n, 40);
      const scratch = join(dir, 'scratch');
      await mkdir(scratch);
      const repo = await Repository.open(opts);
      try {
        const sealed = await writePacks(repo, pool, blobs, scratch);
        assert.ok(sealed.length >= 4, `several packs (${sealed.length})`);
        assert.deepEqual(sealed.flatMap((s) => s.blobs.map((b) => b.hash)).sort(), blobs.map((b) => blake3Hex(b)).sort(), 'every blob once, in some pack');
        for (const s of sealed) {
          assert.equal(s.status, 'published');
          assert.equal(s.dir, packDir(s.pack));
          assert.ok(s.size <= TARGET || s.blobs.length === 1, `pack within the target (${s.size})`);
          const text = await readFile(await findOnStores(stores, s.dir, 'manifest.json'), 'utf8');
          const m = parseManifest(text);
          assert.equal(m.format_version, 3);
          assert.equal(m.stripes.length, 1, 'a pack is one stripe');
          assert.equal(m.erasure_coding.data_shards, n === 1 ? 30 : 23);
          assert.equal(m.original_hash, s.pack);
          assert.equal(m.pack!.blobs, s.blobs.length);
        }

        // Index: written to every store, loaded into the table.
        const { key } = await writeIndexFile(repo, { createdAt: new Date().toISOString(), packs: sealed.map((s) => ({ pack: s.pack, blobs: s.blobs })), archives: [] });
        for (const s of stores) assert.ok(await stat(join(s, key)));
        const loaded = await loadBlobIndex(repo);
        assert.equal(loaded.files, 1);
        assert.deepEqual(loaded.damaged, []);
        const index = loaded.index;
        assert.equal(index.blobEntries, blobs.length);

        const reader = new BlobReader(repo, index, { pool });
        try {
          const next = prng(99);
          for (const b of blobs) {
            const h = blake3Hex(b);
            assert.ok(b.equals(await reader.read(h)), `blob ${h} whole`);
            const a = next() % b.length;
            const e = a + 1 + (next() % (b.length - a));
            assert.ok(b.subarray(a, e).equals(await reader.read(h, a, e)), `blob ${h} [${a}, ${e})`);
          }
          const big = blobs.find((b) => b.length > 200_000)!;
          const chunks: Buffer[] = [];
          for await (const c of reader.stream(blake3Hex(big))) chunks.push(c as Buffer);
          assert.ok(Buffer.concat(chunks).equals(big), 'stream of a whole blob');
          assert.deepEqual(await reader.table(sealed[0]!.pack), sealed[0]!.blobs);
          await assert.rejects(reader.read(blake3Hex(big), 0, big.length + 1), (err: unknown) => isBlockFrameError(err, 'BF_RANGE_NOT_SATISFIABLE'));
        } finally {
          await reader.close();
        }
        assert.deepEqual(await readPackTable(repo, sealed[1]!.pack, { pool }), sealed[1]!.blobs);

        // FORMAT.md §13.13 step 2 with every store copied into one directory: a pack's data shards, in manifest
        // order, concatenate to its stream, whose BLAKE3 is its id, and the table is its tail.
        if (haveCommand('jq') && haveCommand('b3sum')) {
          const merged = join(dir, 'merged');
          for (const s of stores) await cp(join(s, 'packs'), join(merged, 'packs'), { recursive: true, force: false, errorOnExist: false });
          const P = join(merged, sealed[0]!.dir);
          const sh = `jq -r '.stripes[].data[].path' "$P/manifest.json" | while read -r f; do cat "$P/$f"; done > "$W/s.bin"; b3sum --no-names "$W/s.bin"; tail -c "$(jq .pack.table_size "$P/manifest.json")" "$W/s.bin" | jq -c .hash`;
          const run = spawnSync('bash', ['-euo', 'pipefail', '-c', sh], { env: { ...process.env, P, W: dir }, encoding: 'utf8' });
          assert.equal(run.status, 0, run.stderr);
          const [id, ...hashes] = run.stdout.trim().split('\n');
          assert.equal(id, sealed[0]!.pack);
          assert.deepEqual(hashes.map((h) => JSON.parse(h) as string), sealed[0]!.blobs.map((b) => b.hash));
        }

        // Damage one pack: a data segment deleted, a byte flipped in another.
        const victim = sealed[0]!;
        const m = parseManifest(await readFile(await findOnStores(stores, victim.dir, 'manifest.json'), 'utf8'));
        const data = m.stripes[0]!.data;
        assert.ok(data.length >= 2);
        await rm(await findOnStores(stores, victim.dir, data[0]!.path));
        const flip = await findOnStores(stores, victim.dir, data[1]!.path);
        const bytes = await readFile(flip);
        bytes[Math.floor(bytes.length / 2)] ^= 0x40;
        await writeFile(flip, bytes);
        repo.dropHeld();
        const damaged: string[] = [];
        for (const e of victim.blobs) {
          const b = blobs.find((x) => blake3Hex(x) === e.hash)!;
          assert.ok(b.equals(await readBlob(repo, index, e.hash, 0, undefined, { pool, onDamage: (d, x) => damaged.push(`${d}/${x.path}`) })), 'byte-exact from a damaged pack');
        }
        assert.ok(damaged.length > 0, 'the damage was seen');
        const before = await verifyArchive(repo, victim.dir, pool);
        assert.equal(before.status, 'repairable', JSON.stringify(before.problems));
        const healed = await repairArchive(repo, victim.dir, pool, {});
        assert.equal(healed.outcome, 'repaired');
        repo.dropHeld();
        assert.equal((await verifyArchive(repo, victim.dir, pool)).status, 'healthy');

        // A location whose pack is gone, then the real one: the next is tried. Only a gone one: BF_BLOB_MISSING.
        const one = victim.blobs[0]!;
        const fake = 'f'.repeat(64);
        const twice = new BlobIndex();
        twice.addPack(fake, [one]);
        twice.addPack(victim.pack, victim.blobs);
        assert.deepEqual(twice.lookup(one.hash).map((l) => (l.kind === 'pack' ? l.pack : '')), [fake, victim.pack]);
        assert.equal(blake3Hex(await readBlob(repo, twice, one.hash, 0, undefined, { pool })), one.hash);
        const gone = new BlobIndex();
        gone.addPack(fake, [one]);
        // A pack that exists but does not list the blob at that place is not a location either.
        gone.addPack(sealed[1]!.pack, [{ ...one, offset: 0 }]);
        await assert.rejects(readBlob(repo, gone, one.hash, 0, undefined, { pool }), (err: unknown) => isBlockFrameError(err, 'BF_BLOB_MISSING'));
        await assert.rejects(readBlob(repo, index, 'e'.repeat(64), 0, undefined, { pool }), (err: unknown) => isBlockFrameError(err, 'BF_BLOB_MISSING'));

        // A damaged index file is skipped (every copy) or read from a good copy (some), and reported.
        const second = await writeIndexFile(repo, { createdAt: new Date().toISOString(), packs: [{ pack: sealed[1]!.pack, blobs: sealed[1]!.blobs }], archives: [] });
        await writeFile(join(stores[0]!, second.key), '{"format_version":3,"kind":"index","created_at":"2026-01-01T00:00:00Z"}\n');
        const again = await loadBlobIndex(repo);
        assert.equal(again.files, n === 1 ? 1 : 2);
        assert.deepEqual(again.damaged.map((d) => [d.key, d.store, d.reason]), [[second.key, 0, 'hash-mismatch']]);
        assert.equal(again.index.blobEntries, blobs.length + (n === 1 ? 0 : sealed[1]!.blobs.length));
        assert.equal(indexKey(second.id), second.key);
      } finally {
        await repo.close();
      }

      // The v2 root: list, verify and repair see the one v2 archive, and no damage from packs/ or index/.
      const l = await list({ ...opts });
      assert.deepEqual(l.archives.map((a) => a.name), ['v2.bin']);
      assert.deepEqual(l.damaged, []);
      assert.deepEqual(l.unlisted, []);
      const v = await verify([], { ...opts, pool });
      assert.equal(v.status, 'healthy');
      assert.equal(v.archives.length, 1);
      const r = await repair([], { ...opts, pool });
      assert.equal(r.archives.length, 1);
      assert.ok((await readdir(stores[0]!)).includes('packs'));
    } finally {
      await pool.close();
      await cleanup();
    }
  });
}

test('large blob: a blob of 16 MiB and more is a v2 archive at blobs/xx/blob_h with full blocks, read through the index', async () => {
  const { dir, cleanup } = await tempDir('bf-large-blob-');
  const pool = ComputePool.start(2);
  try {
    const root = join(dir, 'store');
    const file = join(dir, 'big.bin');
    const data = Buffer.from(randomBytesSeeded(PACK_THRESHOLD + 12_345, 5));
    await writeFile(file, data);
    const h = blake3Hex(data);
    const r = await commit(file, { archive: root, pool, largeBlob: true, tier: 1, name: 'ignored' });
    assert.equal(r.status, 'archived');
    assert.equal(r.dir, blobDir(h));
    const m = parseManifest(await readFile(join(root, blobDir(h), 'manifest.json'), 'utf8'));
    assert.equal(m.format_version, 2);
    assert.equal(m.name, 'blob');
    assert.equal(m.source, undefined);
    assert.equal(m.tier, 3);
    assert.equal(m.segment_size, largeBlobSegmentSize(data.length, 30));
    assert.equal(m.stripes.length, 1);
    assert.equal(m.stripes[0]!.data.length, 30, 'one full block');
    assert.equal((await commit(file, { archive: root, pool, largeBlob: true })).status, 'already-archived');
    await assert.rejects(commit(file, { archive: root, pool, largeBlob: true, compress: 3 }), (err: unknown) => isBlockFrameError(err, 'BF_USAGE'));
    // Not a v2 archive of the root's listing.
    assert.deepEqual((await list({ archive: root })).archives, []);
    const repo = await Repository.open({ archive: root });
    try {
      const index = new BlobIndex();
      index.addArchive(h, data.length);
      assert.ok(data.equals(await readBlob(repo, index, h, 0, undefined, { pool })));
      assert.ok(data.subarray(PACK_THRESHOLD - 5, PACK_THRESHOLD + 100).equals(await readBlob(repo, index, h, PACK_THRESHOLD - 5, PACK_THRESHOLD + 100, { pool })));
      const wrong = new BlobIndex();
      wrong.addArchive(h, data.length + 1);
      await assert.rejects(readBlob(repo, wrong, h, 0, 10, { pool }), (err: unknown) => isBlockFrameError(err, 'BF_BLOB_MISSING'));
    } finally {
      await repo.close();
    }
  } finally {
    await pool.close();
    await cleanup();
  }
});

test('PackWriter: seals at maxBlobs, refuses sizes it cannot pack, drops a blob whose bytes do not hash as told, and the same pack twice is one', async () => {
  const { dir, cleanup } = await tempDir('bf-pack-writer-');
  const pool = ComputePool.start(1);
  const root = join(dir, 'store');
  await mkdir(root);
  const repo = await Repository.open({ archive: root });
  try {
    const blobs = Array.from({ length: 7 }, (_, i) => Buffer.from(randomBytesSeeded(100 + i, 300 + i)));
    const once = async (): Promise<SealedPack[]> => {
      const w = await PackWriter.open(repo, { pool, maxBlobs: 3, generator: 'test' });
      const sealed: SealedPack[] = [];
      try {
        await assert.rejects(w.beginBlob(0), (err: unknown) => isBlockFrameError(err, 'BF_USAGE'));
        await assert.rejects(w.beginBlob(PACK_THRESHOLD), (err: unknown) => isBlockFrameError(err, 'BF_USAGE'));
        const f = join(dir, 'wrong');
        await writeFile(f, blobs[0]!);
        const input = await openInput(f);
        try {
          await assert.rejects(w.add(blake3Hex(blobs[1]!), blobs[0]!.length, input, f), (err: unknown) => isBlockFrameError(err, 'BF_FILE_CHANGED'));
        } finally {
          await input.close();
        }
        for (const b of blobs) {
          sealed.push(...(await w.beginBlob(b.length)));
          await w.append(b);
          sealed.push(...(await w.commitBlob(blake3Hex(b))).sealed);
        }
        sealed.push(...(await w.flush()));
        assert.deepEqual(await w.flush(), [], 'nothing open, nothing sealed');
      } finally {
        await w.close();
      }
      return sealed;
    };
    const first = await once();
    assert.deepEqual(first.map((s) => s.blobs.length), [3, 3, 1]);
    assert.equal(first[0]!.blobs[0]!.offset, 0, 'the refused blob left nothing behind');
    assert.ok(first.every((s) => s.status === 'published'));
    const second = await once();
    assert.deepEqual(second.map((s) => [s.pack, s.status]), first.map((s) => [s.pack, 'exists']));
  } finally {
    await repo.close();
    await pool.close();
    await cleanup();
  }
});
