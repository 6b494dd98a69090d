// restoreTree and snapshot reads (docs/FORMAT.md §13.3, §13.8) on real directory stores: round trips, a path prefix, one file's reads, damage, a malicious body, ranged reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, stat, symlink, utimes, chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ComputePool } from '../../src/compute/pool.js';
import { restoreTree } from '../../src/engine/restore-tree.js';
import { findSnapshotFile, lsSnapshot, parseSnapshotRef, readSnapshotFile, snapshots, withSnapshotSession } from '../../src/engine/snapshots.js';
import { walkTree } from '../../src/io/tree-walk.js';
import { LocalBackend } from '../../src/store/local.js';
import { StoreSet } from '../../src/store/store-set.js';
import { WrappedBackend } from '../../src/store/wrap.js';
import { blake3Hex, initBlake3 } from '../../src/integrity/blake3.js';
import { prng, randomBytesSeeded, tempDir } from '../helpers/fixtures.js';
import { flipBitsRandom } from '../helpers/faults.js';
import { commitTestTree, writeTestSnapshot } from '../helpers/tree-snapshot.js';
import { commitTree } from '../../src/engine/commit-tree.js';
import { Repository } from '../../src/archive/repo.js';
import { loadBlobIndex } from '../../src/archive/blob-index.js';
import { BlobReader } from '../../src/engine/blob-read.js';

const NON_UTF8 = Buffer.from([0x66, 0xff, 0xfe, 0x2e, 0x62, 0x69, 0x6e]); // "f\xff\xfe.bin"

/** A seeded tree: nested and empty directories, files of 0 B to 1.5 MiB, modes, µs mtimes, symlinks (one pointing out), a non-UTF-8 name. */
async function seedTree(root: string, seed: number): Promise<void> {
  const next = prng(seed);
  await mkdir(join(root, 'a/b/c'), { recursive: true });
  await mkdir(join(root, 'empty'));
  await mkdir(join(root, 'ro'));
  const files: [string, number, number][] = [
    ['a/one.txt', 1, 0o644],
    ['a/zero', 0, 0o600],
    ['a/b/mid.bin', 70_000, 0o640],
    ['a/b/c/deep.bin', 1_500_000, 0o755],
    ['a/b/c/dup.bin', 70_000, 0o444],
    ['top.bin', 300_000, 0o644],
    ['ro/inside.txt', 5_000, 0o644],
  ];
  for (const [i, [p, size, mode]] of files.entries()) {
    const bytes = p === 'a/b/c/dup.bin' ? randomBytesSeeded(70_000, seed * 100 + 2) : randomBytesSeeded(size, seed * 100 + i);
    await writeFile(join(root, p), bytes);
    await chmod(join(root, p), mode);
  }
  for (let i = 0; i < 40; i++) await writeFile(join(root, 'a/b', `small-${String(i).padStart(2, '0')}`), randomBytesSeeded(1 + (next() % 9000), seed * 1000 + i));
  await writeFile(Buffer.concat([Buffer.from(`${root}/a/`), NON_UTF8]), randomBytesSeeded(1234, seed + 7));
  await symlink('b/mid.bin', join(root, 'a/link-in'));
  await symlink('../../../../etc/passwd', join(root, 'a/link-out'));
  // mtimes to the microsecond, directories last (children change them)
  let t = 1_715_531_412;
  const us = (k: number) => t + k * 3600 + ((k * 123_457) % 1_000_000) / 1e6;
  let k = 0;
  for await (const e of walkTree(root)) {
    const p = Buffer.concat([Buffer.from(`${root}/`), e.path]);
    if (e.type !== 'dir' && e.type !== 'symlink') await utimes(p, us(k), us(k));
    k++;
  }
  for (const d of ['a/b/c', 'a/b', 'a', 'empty', 'ro']) await utimes(join(root, d), us(k), us(k++));
  await chmod(join(root, 'ro'), 0o555);
  t++;
}

interface Seen {
  type: string;
  mode?: number;
  us: bigint;
  size?: number;
  target?: string;
  hash?: string;
}

/** Every entry of a tree: type, mode, mtime in µs, size, link target, content hash. */
async function describeTree(root: string): Promise<Map<string, Seen>> {
  await initBlake3();
  const out = new Map<string, Seen>();
  for await (const e of walkTree(root)) {
    const key = e.path.toString('base64');
    const s: Seen = { type: e.type, us: e.mtimeNs / 1000n };
    if (e.type !== 'symlink') s.mode = e.mode;
    if (e.type === 'file') {
      s.size = e.size;
      s.hash = blake3Hex(await readFile(Buffer.concat([Buffer.from(`${root}/`), e.path])));
    }
    if (e.type === 'symlink') s.target = e.target!.toString('base64');
    out.set(key, s);
  }
  return out;
}

/** A backend that counts the bytes and keys read from it. */
class CountingBackend extends WrappedBackend {
  bytes = 0;
  keys = new Set<string>();
  gets = new Map<string, number>();
  override async get(key: string, into: Uint8Array, offset: number, signal?: AbortSignal): Promise<number> {
    const n = await this.inner.get(key, into, offset, signal);
    this.bytes += n;
    this.keys.add(key);
    this.gets.set(key, (this.gets.get(key) ?? 0) + 1);
    return n;
  }
  override getHeld(key: string, into: Uint8Array, offset: number, signal?: AbortSignal): Promise<number> {
    return this.get(key, into, offset, signal);
  }
}

async function setup(n: number, prefix: string) {
  const { dir, cleanup } = await tempDir(prefix);
  const stores = Array.from({ length: n }, (_, i) => join(dir, `store${i}`));
  for (const s of stores) await mkdir(s, { recursive: true });
  const opts = n === 1 ? { archive: stores[0]! } : { stores };
  const src = join(dir, 'src');
  await mkdir(src);
  return { dir, stores, opts, src, cleanup };
}

for (const n of [1, 4]) {
  test(`restoreTree on ${n} store${n === 1 ? '' : 's'}: a seeded tree comes back byte-exact (paths, modes, µs mtimes, symlinks, empty dirs, a non-UTF-8 name); list and ls show it`, async () => {
    const { dir, opts, src, cleanup } = await setup(n, `bf-rt-${n}-`);
    const pool = ComputePool.start(2);
    try {
      await seedTree(src, n);
      const snap = await commitTestTree(opts, pool, src, 'photos');
      assert.ok(snap.packs.length >= 3, `the tree spans several packs (${snap.packs.length})`);
      const out = join(dir, 'out');
      const r = await restoreTree('photos', out, { ...opts, pool });
      assert.equal(r.failed, 0, JSON.stringify(r.failures));
      assert.equal(r.exitCode, 0);
      assert.equal(r.snapshot.id, snap.id);
      assert.deepEqual(await describeTree(out), await describeTree(src));
      assert.equal((await stat(join(out, 'ro'))).mode & 0o777, 0o555);

      const l = await snapshots({ ...opts });
      assert.deepEqual(l.snapshots.map((s) => [s.name, s.id, s.named]), [['photos', snap.id, true]]);
      const ls = [];
      for await (const e of lsSnapshot(`photos@${snap.id.slice(0, 8)}:a/b/c`, { ...opts, pool })) ls.push(e);
      assert.deepEqual(ls.map((e) => [e.path, e.type, e.size]), [['a/b/c', 'dir', undefined], ['a/b/c/deep.bin', 'file', 1_500_000], ['a/b/c/dup.bin', 'file', 70_000]]);
      await chmod(join(out, 'ro'), 0o755);
      await chmod(join(src, 'ro'), 0o755);
    } finally {
      await pool.close();
      await cleanup();
    }
  });
}

test('restoreTree NAME:PATH writes only the entries under PATH (and the directories above it); a file path restores one file', async () => {
  const { dir, opts, src, cleanup } = await setup(1, 'bf-rt-prefix-');
  const pool = ComputePool.start(2);
  try {
    await seedTree(src, 3);
    await commitTestTree(opts, pool, src, 'photos');
    const out = join(dir, 'out');
    const r = await restoreTree('photos:a/b/c/', out, { ...opts, pool });
    assert.equal(r.failed, 0);
    assert.deepEqual((await readdir(out, { recursive: true })).sort(), ['a', 'a/b', 'a/b/c', 'a/b/c/deep.bin', 'a/b/c/dup.bin']);
    assert.deepEqual(await readFile(join(out, 'a/b/c/deep.bin')), await readFile(join(src, 'a/b/c/deep.bin')));
    const one = join(dir, 'one');
    const r1 = await restoreTree('photos', one, { ...opts, pool, path: 'top.bin' });
    assert.equal(r1.files, 1);
    assert.deepEqual(await readdir(one), ['top.bin']);
  } finally {
    await chmod(join(src, 'ro'), 0o755).catch(() => undefined);
    await pool.close();
    await cleanup();
  }
});

test('restore of one file reads only its pack and the body (counted at the store), not the other packs', async () => {
  const { dir, stores, src, cleanup } = await setup(1, 'bf-rt-count-');
  const pool = ComputePool.start(2);
  try {
    for (let i = 0; i < 60; i++) await writeFile(join(src, `f${String(i).padStart(2, '0')}.bin`), randomBytesSeeded(40_000, 500 + i));
    const snap = await commitTestTree({ archive: stores[0]! }, pool, src, 'many', 256 * 1024);
    assert.ok(snap.packs.length >= 8, `several packs (${snap.packs.length})`);
    const counting = new CountingBackend(new LocalBackend(stores[0]!));
    const set = new StoreSet([counting], 0);
    const target = blake3Hex(await readFile(join(src, 'f17.bin')));
    const packOf = (h: string) => snap.packs.find((p) => p.blobs.some((b) => b.hash === h))!.dir;
    const r = await restoreTree('many:f17.bin', join(dir, 'out'), { storeSet: set, pool });
    assert.equal(r.files, 1);
    const packsRead = new Set([...counting.keys].filter((k) => k.startsWith('packs/')).map((k) => k.split('/').slice(0, 3).join('/')));
    assert.deepEqual([...packsRead].sort(), [...new Set([packOf(target), packOf(snap.root)])].sort(), 'only the pack of the file and the pack of the body');
    const stored = snap.packs.reduce((a, p) => a + p.size, 0);
    assert.ok(counting.bytes < stored / 3, `read ${counting.bytes} of ${stored} stored bytes`);
  } finally {
    await pool.close();
    await cleanup();
  }
});

for (const n of [1, 4]) {
  test(`damage on ${n} store${n === 1 ? '' : 's'} (${n === 4 ? 'a whole store emptied, ' : ''}a pack's segment deleted, bytes flipped): every file restores byte-exact`, async () => {
    const { dir, stores, opts, src, cleanup } = await setup(n, `bf-rt-dmg-${n}-`);
    const pool = ComputePool.start(2);
    try {
      await seedTree(src, 10 + n);
      const snap = await commitTestTree(opts, pool, src, 'photos');
      const rand = prng(99);
      // One pack: a data segment deleted (on whichever store holds it); another: bits flipped in a segment.
      const shardFiles = async (packDir: string) => {
        const found: string[] = [];
        for (const s of stores) {
          const m = await readFile(join(s, packDir, 'manifest.json'), 'utf8').catch(() => null);
          if (!m) continue;
          const paths = (JSON.parse(m) as { stripes: { data: { path: string }[] }[] }).stripes.flatMap((st) => st.data.map((d) => d.path));
          for (const st of stores) for (const p of paths) if (await stat(join(st, packDir, p)).catch(() => null)) found.push(join(st, packDir, p));
          break;
        }
        return found;
      };
      const [p0, p1] = snap.packs;
      const f0 = await shardFiles(p0!.dir);
      const f1 = await shardFiles(p1!.dir);
      assert.ok(f0.length > 0 && f1.length > 0, `shard files found (${f0.length}, ${f1.length})`);
      await rm(f0[0]!);
      await flipBitsRandom(f1[f1.length > 1 ? 1 : 0]!, rand);
      if (n === 4) await rm(join(stores[2]!, 'packs'), { recursive: true, force: true });
      const out = join(dir, 'out');
      const r = await restoreTree('photos', out, { ...opts, pool });
      assert.equal(r.failed, 0, JSON.stringify(r.failures));
      assert.deepEqual(await describeTree(out), await describeTree(src));
      assert.ok(r.damage.length > 0, 'the damage healed around is reported');
      await chmod(join(out, 'ro'), 0o755);
    } finally {
      await chmod(join(src, 'ro'), 0o755).catch(() => undefined);
      await pool.close();
      await cleanup();
    }
  });
}

test('a malicious body (a ".." path; a file under a symlink that points out) is refused with BF_PATH_UNSAFE and writes nothing outside OUT', async () => {
  const { dir, opts, cleanup } = await setup(1, 'bf-rt-evil-');
  const pool = ComputePool.start(2);
  try {
    await initBlake3();
    const outside = join(dir, 'outside');
    await mkdir(outside);
    const evil = Buffer.from('pwned\n');
    const good = Buffer.from('fine\n');
    const line = (o: object) => Buffer.from(`${JSON.stringify(o)}\n`);
    const mt = '1715531412000000000';
    const lines = [
      line({ path: '../escape', type: 'file', mode: 420, mtime_ns: mt, size: evil.length, blob: blake3Hex(evil) }),
      line({ path: 'a', type: 'dir', mode: 493, mtime_ns: mt }),
      line({ path: 'a/l', type: 'symlink', target: outside, mtime_ns: mt }),
      line({ path: 'a/l/evil', type: 'file', mode: 420, mtime_ns: mt, size: evil.length, blob: blake3Hex(evil) }),
      line({ path: 'b', type: 'file', mode: 420, mtime_ns: mt, size: good.length, blob: blake3Hex(good) }),
    ];
    await writeTestSnapshot(opts, pool, 'evil', lines, [evil, good]);
    const out = join(dir, 'out');
    const r = await restoreTree('evil', out, { ...opts, pool });
    // The ".." line cannot be parsed, so the body's totals disagree with the header too: reported last.
    assert.deepEqual(r.failures.map((f) => [f.code, f.path]), [['BF_PATH_UNSAFE', '"../escape"'], ['BF_PATH_UNSAFE', '"a/l/evil"'], ['BF_SNAPSHOT_INVALID', 'snapshot body']]);
    assert.equal(r.exitCode, 1);
    assert.deepEqual(await readdir(outside), [], 'nothing written through the link');
    assert.deepEqual((await readdir(dir)).sort(), ['out', 'outside', 'src', 'store0'], 'nothing written beside OUT');
    assert.deepEqual(await readFile(join(out, 'b')), good, 'the good entry is restored');
  } finally {
    await pool.close();
    await cleanup();
  }
});

test('a ranged read of a packed file is byte-exact (library read and stream), and the spec syntax NAME@ID:PATH / --path', async () => {
  const { opts, src, cleanup } = await setup(1, 'bf-rt-range-');
  const pool = ComputePool.start(2);
  try {
    const data = Buffer.from(randomBytesSeeded(200_000, 42));
    await mkdir(join(src, 'd:x'));
    await writeFile(join(src, 'd:x/f.bin'), data);
    for (let i = 0; i < 10; i++) await writeFile(join(src, `pad${i}`), randomBytesSeeded(30_000, i));
    const snap = await commitTestTree(opts, pool, src, 'n:colon');
    assert.deepEqual(parseSnapshotRef('a@12ab:x/y:z'), { spec: 'a@12ab', path: Buffer.from('x/y:z') });
    assert.deepEqual(parseSnapshotRef('n:colon', 'd:x/f.bin'), { spec: 'n:colon', path: Buffer.from('d:x/f.bin') });
    assert.deepEqual(await readSnapshotFile('n:colon', 1000, 150_001, { ...opts, pool, path: 'd:x/f.bin' }), data.subarray(1000, 150_001));
    await withSnapshotSession({ ...opts, pool }, async (s) => {
      const f = await findSnapshotFile(s, parseSnapshotRef(`n:colon@${snap.id.slice(0, 6)}`, 'd:x/f.bin'), undefined);
      assert.equal(f.size, data.length);
      const parts: Buffer[] = [];
      for await (const c of f.stream(77, 199_999)) parts.push(c as Buffer);
      assert.deepEqual(Buffer.concat(parts), data.subarray(77, 199_999));
      assert.deepEqual(await f.read(), data);
    });
    await assert.rejects(readSnapshotFile('n:colon', 0, 1, { ...opts, pool, path: 'd:x/nope' }), (e: Error & { code?: string }) => e.code === 'BF_FILE_NOT_FOUND');
  } finally {
    await pool.close();
    await cleanup();
  }
});

for (const n of [1, 4]) {
  test(`commitTree then restoreTree on ${n} store${n === 1 ? '' : 's'}: the seeded tree round-trips byte-exact, and a second commit restores by NAME@ID`, async () => {
    const { dir, opts, src, cleanup } = await setup(n, `bf-rt-ct-${n}-`);
    const pool = ComputePool.start(2);
    try {
      await seedTree(src, 20 + n);
      const first = await commitTree([src], { ...opts, pool, name: 'photos', packTarget: 256 * 1024 });
      await chmod(join(src, 'ro'), 0o755);
      await writeFile(join(src, 'a/one.txt'), 'changed');
      await utimes(join(src, 'a/one.txt'), 1_800_000_000.25, 1_800_000_000.25);
      await chmod(join(src, 'ro'), 0o555);
      await commitTree([src], { ...opts, pool, name: 'photos', packTarget: 256 * 1024 });
      const out = join(dir, 'out');
      const r = await restoreTree('photos', out, { ...opts, pool });
      assert.equal(r.failed, 0, JSON.stringify(r.failures));
      assert.deepEqual(await describeTree(out), await describeTree(src));
      const old = join(dir, 'old');
      const r0 = await restoreTree(`photos@${first.id.slice(0, 12)}:a/one.txt`, old, { ...opts, pool });
      assert.equal(r0.files, 1);
      assert.deepEqual(await readFile(join(old, 'a/one.txt')), Buffer.from(randomBytesSeeded(1, (20 + n) * 100)), 'the first snapshot has the first content');
      await chmod(join(out, 'ro'), 0o755);
    } finally {
      await chmod(join(src, 'ro'), 0o755).catch(() => undefined);
      await pool.close();
      await cleanup();
    }
  });
}

test('BlobReader: 16 reads at once from one pack load its manifest and blob table once, as one read does', async () => {
  const { stores, src, cleanup } = await setup(1, 'bf-rt-conc-');
  const pool = ComputePool.start(2);
  try {
    const blobs: Buffer[] = [];
    for (let i = 0; i < 16; i++) {
      blobs.push(Buffer.from(randomBytesSeeded(3000 + i, 900 + i)));
      await writeFile(join(src, `f${i}`), blobs[i]!);
    }
    await commitTestTree({ archive: stores[0]! }, pool, src, 'conc', 64 * 1024 * 1024);
    const counting = new CountingBackend(new LocalBackend(stores[0]!));
    const repo = await Repository.open({ storeSet: new StoreSet([counting], 0) });
    try {
      const { index } = await loadBlobIndex(repo);
      const manifestGets = () => [...counting.gets].filter(([k]) => k.startsWith('packs/') && k.includes('manifest')).reduce((a, [, c]) => a + c, 0);
      const one = new BlobReader(repo, index, { pool });
      counting.gets.clear();
      assert.deepEqual(await one.read(blake3Hex(blobs[0]!)), blobs[0]);
      const single = manifestGets();
      await one.close();
      const many = new BlobReader(repo, index, { pool });
      counting.gets.clear();
      const got = await Promise.all(blobs.map((b) => many.read(blake3Hex(b))));
      await many.close();
      assert.deepEqual(got, blobs);
      assert.equal(manifestGets(), single, 'the pack opened once');
    } finally {
      await repo.close();
    }
  } finally {
    await pool.close();
    await cleanup();
  }
});
