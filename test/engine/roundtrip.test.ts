// Round trips through every tier on real files: commit, find, restore, cat, and restore with nothing but cat + b3sum.
import { rootFromCVs, unitCV } from '../../src/integrity/blake3-cv.js';
import { toHex } from '../../src/integrity/hex.js';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, stat } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { BlockFrame, ComputePool, commit, restore, verify } from '../../src/index.js';
import { blake3, blake3Hex } from '../../src/integrity/blake3.js';
import { chunkIndexLayout } from '../../src/layout/chunks.js';
import { manifestGeometry } from '../../src/layout/manifest.js';
import { b3sum, haveCommand, tempDir, writeRandomFile } from '../helpers/fixtures.js';

describe('round trip per tier', () => {
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

  const cases: { name: string; size: number; tier?: 1 | 2 | 3; segmentSize?: number; expectTier: number; stripes: number }[] = [
    { name: 'empty.bin', size: 0, expectTier: 1, stripes: 1 },
    { name: 'one.bin', size: 1, expectTier: 1, stripes: 1 },
    { name: 'tiny.bin', size: 100_003, expectTier: 1, stripes: 1 },
    { name: 'tier2.bin', size: 1_000_001, tier: 2, segmentSize: 128 * 1024, expectTier: 2, stripes: 8 },
    { name: 'tier2-exact.bin', size: 4 * 65536, tier: 2, segmentSize: 65536, expectTier: 2, stripes: 4 },
    { name: 'tier3.bin', size: 3 * 1024 * 1024 + 12345, tier: 3, segmentSize: 64 * 1024, expectTier: 3, stripes: 2 },
    { name: 'tier3-odd.bin', size: 30 * 5000 * 2 + 1, tier: 3, segmentSize: 5000, expectTier: 3, stripes: 3 },
    // Shards longer than one parity slice (256 KiB): slices may encode out of order on two workers.
    { name: 'tier3-big-shards.bin', size: 4 * 1024 * 1024 + 777, tier: 3, segmentSize: 1024 * 1024, expectTier: 3, stripes: 1 },
    { name: 'tier3-empty.bin', size: 0, tier: 3, segmentSize: 4096, expectTier: 3, stripes: 1 },
  ];

  for (const c of cases) {
    test(`${c.name}: ${c.size} bytes, tier ${c.expectTier}`, async () => {
      const src = join(root, c.name);
      const data = await writeRandomFile(src, c.size, c.size + 7);
      const archive = join(root, 'archive');
      const r = await commit(src, { archive, tier: c.tier, segmentSize: c.segmentSize, pool });
      assert.equal(r.status, 'archived');
      assert.equal(r.tier, c.expectTier);
      assert.equal(r.stripes, c.stripes);
      assert.equal(r.manifest.size, c.size);
      // Every shard hash in the manifest matches the file on disk (regression: out-of-order parity hashing).
      const health = await verify([r.dir], { archive, pool });
      assert.equal(health.status, 'healthy', JSON.stringify(health.archives[0]!.problems));
      if (haveCommand('b3sum')) assert.equal(r.originalHash, b3sum(src), 'original_hash equals b3sum FILE');
      // Segment files hold no padding; parity files hold the shard size.
      for (const st of r.manifest.stripes) {
        for (const d of st.data) assert.equal((await stat(join(r.path, d.path))).size, d.size);
        for (const p of st.parity) assert.equal((await stat(join(r.path, p.path))).size, st.shard_size);
      }
      if (haveCommand('b3sum')) {
        const shard = r.manifest.stripes[0]!.parity[0]!;
        assert.equal(b3sum(join(r.path, shard.path)), shard.hash, 'shard hashes are plain BLAKE3 of the file');
      }
      // chunks.idx holds every chunk's hash in the layout docs/FORMAT.md gives: in format v2 the chunk's chaining
      // value in its shard's BLAKE3 tree (§12.1), which merge back into the shard hash that b3sum prints.
      assert.equal(r.manifest.format_version, 2);
      const index = new Uint8Array(await readFile(join(r.path, 'chunks.idx')));
      const layout = chunkIndexLayout(manifestGeometry(r.manifest), r.manifest.chunk_index.chunk_size);
      const C = r.manifest.chunk_index.chunk_size;
      for (const [i, st] of layout.entries()) {
        assert.equal(blake3Hex(index.subarray(st.offset, st.offset + st.length)), r.manifest.stripes[i]!.chunks_hash);
        for (const sh of st.shards) {
          const bytes = new Uint8Array(await readFile(join(r.path, sh.path)));
          for (let n = 0; n < sh.count; n++) {
            assert.deepEqual(index.subarray(sh.offset + n * 32, sh.offset + n * 32 + 32), unitCV(bytes.subarray(n * C, (n + 1) * C), n, C, bytes.length), `${sh.path} chunk ${n}`);
            if (sh.count === 1) assert.deepEqual(index.subarray(sh.offset, sh.offset + 32), blake3(bytes), `${sh.path}: a one-chunk shard's chunk hash is its hash`);
          }
          if (bytes.length > 0) assert.equal(toHex(rootFromCVs(index.subarray(sh.offset, sh.offset + sh.count * 32), C, bytes.length)), blake3Hex(bytes), `${sh.path}: chunk hashes merge to its hash`);
        }
      }
      assert.equal(index.length, layout.reduce((n, st) => n + st.length, 0));
      const out = join(root, `${c.name}.restored`);
      await restore(c.name, out, { archive, pool });
      assert.deepEqual(new Uint8Array(await readFile(out)), data);
      // cat to a stream
      const sink = new PassThrough();
      const chunks: Buffer[] = [];
      sink.on('data', (b: Buffer) => chunks.push(b));
      const bf = new BlockFrame({ archive });
      await bf.cat(r.dir, sink);
      await bf.close();
      assert.deepEqual(new Uint8Array(Buffer.concat(chunks)), data);
      // commit again: already archived, nothing rewritten
      const before = (await stat(join(r.path, 'manifest.json'))).mtimeMs;
      const again = await commit(src, { archive, tier: c.tier, segmentSize: c.segmentSize, pool });
      assert.equal(again.status, 'already-archived');
      assert.equal(again.dir, r.dir);
      assert.equal((await stat(join(r.path, 'manifest.json'))).mtimeMs, before);
    });
  }

  test('intact tier 2 and tier 3 archives restore with nothing but cat of the segments in order', { skip: !haveCommand('b3sum') && 'b3sum not installed' }, async () => {
    const archive = join(root, 'archive');
    for (const name of ['tier2.bin', 'tier3.bin', 'tier3-odd.bin']) {
      const bf = new BlockFrame({ archive });
      const f = await bf.find(name);
      await bf.close();
      const out = execFileSync('sh', ['-c', `cd "$1" && find . -path '*/segments/segment_*.dat' | sort -V | xargs cat | b3sum --no-names`, 'sh', f.path], { encoding: 'utf8' }).trim();
      assert.equal(out, f.originalHash, name);
    }
  });

  test('same name, different content gets its own archive; find by name is then ambiguous', async () => {
    const archive = join(root, 'archive2');
    const src = join(root, 'same.txt');
    await writeRandomFile(src, 1000, 1);
    const a = await commit(src, { archive, pool });
    await writeRandomFile(src, 1000, 2);
    const b = await commit(src, { archive, pool });
    assert.notEqual(a.dir, b.dir);
    assert.equal((await readdir(archive)).filter((d) => !d.startsWith('.')).length, 2);
    const bf = new BlockFrame({ archive });
    await assert.rejects(bf.find('same.txt'), (e: any) => e.code === 'BF_AMBIGUOUS_NAME' && e.message.includes(a.dir) && e.message.includes(b.dir));
    assert.equal((await bf.find(a.originalHash.slice(0, 10))).dir, a.dir);
    assert.equal((await bf.find(b.dir)).dir, b.dir);
    await assert.rejects(bf.find('nope'), (e: any) => e.code === 'BF_ARCHIVE_NOT_FOUND');
    await bf.close();
  });
});
