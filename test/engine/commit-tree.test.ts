// commitTree (docs/FORMAT.md §13.6, §13.7) on real directory stores: packs ≤ 1.15× the files, the header and body of §13.3, re-commits that write only what changed (ctime caught), files changing during the commit, dedupe, an unmounted store.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { lstat, mkdir, readdir, readFile, rename, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ComputePool } from '../../src/index.js';
import { isBlockFrameError } from '../../src/errors.js';
import { commitTree, type CommitTreeOptions, type CommitTreeResult } from '../../src/engine/commit-tree.js';
import { blake3Hex } from '../../src/integrity/blake3.js';
import { Repository } from '../../src/archive/repo.js';
import { loadBlobIndex } from '../../src/archive/blob-index.js';
import { readNameRecord } from '../../src/archive/names.js';
import { BlobReader, readPackTable } from '../../src/engine/blob-read.js';
import { readBody, type SnapshotEntry } from '../../src/layout/snapshot.js';
import { checkBodyAgainstHeader, parseSnapshotHeader, type SnapshotHeader } from '../../src/layout/snapshot-header.js';
import { PACK_THRESHOLD } from '../../src/layout/pack.js';
import { prng, randomBytesSeeded, runCli, tempDir } from '../helpers/fixtures.js';

/** The ctime margin of §13.7 is 2 s: wait a little longer after writing a tree before the commit that is to be its parent. */
const SETTLE_MS = 2200;

interface Seeded {
  /** Bytes of the regular files. */
  bytes: number;
  files: number;
}

/** Name bytes that are not UTF-8 ("f", 0xff, "o.bin"). */
const NON_UTF8 = Buffer.from([0x66, 0xff, 0x6f, 0x2e, 0x62, 0x69, 0x6e]);

/**
 * A seeded tree: `dirs` nested directories (depth up to 3), two empty directories, `count` files of 0 B to `max`
 * bytes, two symlinks (one to a file, one dangling out of the tree), a file with a non-UTF-8 name, and `dup` of the
 * 3rd file's content under two more paths.
 */
async function seedTree(root: string, seed: number, count: number, max: number, extra: { large?: boolean } = {}): Promise<Seeded> {
  const next = prng(seed);
  const dirs = ['', 'a', 'a/b', 'a/b/c', 'd', 'd/e', 'f'];
  for (const d of dirs) await mkdir(join(root, d), { recursive: true });
  await mkdir(join(root, 'empty'));
  await mkdir(join(root, 'a/b/empty2'));
  let bytes = 0;
  const sizes: number[] = [];
  for (let i = 0; i < count; i++) {
    const size = i === 0 ? 0 : i === 1 ? 1 : next() % (max + 1);
    const dir = i < 3 ? '' : dirs[next() % dirs.length]!;
    await writeFile(join(root, dir, `file-${String(i).padStart(4, '0')}.bin`), randomBytesSeeded(size, seed * 100_000 + i));
    bytes += size;
    sizes.push(size);
  }
  // The same content under two more paths (one in another directory).
  const third = randomBytesSeeded(sizes[2]!, seed * 100_000 + 2);
  await writeFile(join(root, 'd/e/copy-of-2.bin'), third);
  await writeFile(join(root, 'f/another-copy.bin'), third);
  bytes += 2 * third.length;
  await writeFile(Buffer.concat([Buffer.from(`${root}/`), NON_UTF8]), 'not UTF-8 in the name');
  bytes += 21;
  await symlink('file-0002.bin', join(root, 'link-in-tree'));
  await symlink('../../../../etc/passwd', join(root, 'a/b/link-out'));
  let files = count + 3;
  if (extra.large) {
    await writeFile(join(root, 'd/large.bin'), randomBytesSeeded(PACK_THRESHOLD + 4097, seed + 77));
    bytes += PACK_THRESHOLD + 4097;
    files++;
  }
  return { bytes, files };
}

/** Every file below `dir` (relative path → size), and the sum of their sizes. */
async function diskUsage(dir: string, under = ''): Promise<{ files: Map<string, number>; bytes: number }> {
  const files = new Map<string, number>();
  let bytes = 0;
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(join(dir, rel), { withFileTypes: true }).catch(() => [])) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(p);
      else {
        const s = (await lstat(join(dir, p))).size;
        files.set(p, s);
        bytes += s;
      }
    }
  };
  await walk(under);
  return { files, bytes };
}

/** The snapshot's header (checked against its id on every store) and its body entries (a verified read, checked). */
async function readSnapshot(stores: string[], id: string, pool: ComputePool): Promise<{ header: SnapshotHeader; entries: SnapshotEntry[] }> {
  let header: SnapshotHeader | undefined;
  for (const s of stores) {
    for (const f of ['snapshot.json', 'snapshot.copy.json']) header = parseSnapshotHeader(await readFile(join(s, 'snapshots', id, f)), id);
    assert.equal(await readFile(join(s, 'snapshots', id, 'snapshot.b3'), 'utf8'), `${id}  snapshot.json\n`);
  }
  const repo = await Repository.open(stores.length === 1 ? { archive: stores[0]! } : { stores });
  try {
    const { index } = await loadBlobIndex(repo);
    const reader = new BlobReader(repo, index, { pool });
    try {
      const entries: SnapshotEntry[] = [];
      const body = readBody(reader.stream(header!.root_hash));
      let r = await body.next();
      while (!r.done) {
        entries.push(r.value);
        r = await body.next();
      }
      const raw = header!.root_size ? await reader.read(header!.root_hash) : Buffer.alloc(0);
      checkBodyAgainstHeader(header!, r.value, blake3Hex(raw));
      return { header: header!, entries };
    } finally {
      await reader.close();
    }
  } finally {
    await repo.close();
  }
}

/** What each of the tree's paths is on disk, as the body should record it (lstat, content hashes). */
async function expectedEntries(root: string): Promise<Map<string, { type: string; size?: number; blob?: string; mode?: number; mtimeNs: bigint; target?: string }>> {
  const out = new Map<string, { type: string; size?: number; blob?: string; mode?: number; mtimeNs: bigint; target?: string }>();
  const walk = async (rel: Buffer): Promise<void> => {
    const abs = rel.length ? Buffer.concat([Buffer.from(`${root}/`), rel]) : Buffer.from(root);
    for (const name of (await readdir(abs, { encoding: 'buffer' })) as Buffer[]) {
      const p = rel.length ? Buffer.concat([rel, Buffer.from('/'), name]) : name;
      const full = Buffer.concat([Buffer.from(`${root}/`), p]);
      const s = await lstat(full, { bigint: true });
      const key = p.toString('base64');
      if (s.isDirectory()) {
        out.set(key, { type: 'dir', mode: Number(s.mode & 0o7777n), mtimeNs: s.mtimeNs });
        await walk(p);
      } else if (s.isSymbolicLink()) {
        const { readlink } = await import('node:fs/promises');
        out.set(key, { type: 'symlink', mtimeNs: s.mtimeNs, target: (await readlink(full)).toString() });
      } else out.set(key, { type: 'file', size: Number(s.size), blob: blake3Hex(await readFile(full)), mode: Number(s.mode & 0o7777n), mtimeNs: s.mtimeNs });
    }
  };
  await walk(Buffer.alloc(0));
  return out;
}

function blobOf(entries: SnapshotEntry[], path: string): string {
  const e = entries.find((x) => x.path.toString() === path);
  assert.ok(e && e.type === 'file', `${path} is a file of the snapshot`);
  return e.blob;
}

async function packIds(store: string): Promise<string[]> {
  const out: string[] = [];
  for (const fan of await readdir(join(store, 'packs')).catch(() => [])) for (const p of await readdir(join(store, 'packs', fan))) out.push(p.slice('pack_'.length));
  return out.sort();
}

describe('commitTree: a folder commit into format-v3 packs', () => {
  let work: string;
  let cleanup: () => Promise<void>;
  let pool: ComputePool;
  before(async () => {
    ({ dir: work, cleanup } = await tempDir('bf-commit-tree-'));
    pool = ComputePool.start(2);
  });
  after(async () => {
    await pool.close();
    await cleanup();
  });

  describe('one store: a seeded tree of about 6 MB, then re-commits', () => {
    let tree: string;
    let store: string;
    let seeded: Seeded;
    let first: CommitTreeResult;
    let opts: CommitTreeOptions;

    before(async () => {
      tree = join(work, 'photos');
      store = join(work, 'store1');
      seeded = await seedTree(tree, 11, 60, 300_000, { large: true });
      opts = { archive: store, pool };
      await sleep(SETTLE_MS);
      first = await commitTree([tree], opts);
    });

    test('packs and large blob on disk cost at most 1.15x the files bytes, and the snapshot header and body are what FORMAT.md 13.3 says', async (t) => {
      assert.equal(first.name, 'photos');
      assert.equal(first.parent, null);
      assert.deepEqual(first.errors, []);
      assert.equal(first.files, seeded.files);
      assert.equal(first.bytes, seeded.bytes);
      assert.equal(first.largeBlobs, 1);
      assert.ok(first.packsWritten >= 1);
      assert.ok(first.filesKnown >= 2, 'the two copies of one content were found known');
      const used = await diskUsage(store);
      const ratio = used.bytes / seeded.bytes;
      assert.ok(ratio <= 1.15, `bytes on disk ÷ file bytes = ${ratio.toFixed(4)} (store ${used.bytes}, files ${seeded.bytes})`);
      assert.ok(seeded.bytes - PACK_THRESHOLD > 3_000_000, 'the packed part alone is a few MB');
      const packed = (await diskUsage(store, 'packs')).bytes / (seeded.bytes - PACK_THRESHOLD - 4097);
      assert.ok(packed <= 1.15, `packs ÷ packed file bytes = ${packed.toFixed(4)}`);
      t.diagnostic(`store ÷ files ${ratio.toFixed(4)}, packs ÷ packed files ${packed.toFixed(4)} (${seeded.files} files, ${seeded.bytes} bytes)`);

      const { header, entries } = await readSnapshot([store], first.id, pool);
      assert.equal(header.name, 'photos');
      assert.equal(header.parent, null);
      assert.equal(header.created_at, first.createdAt);
      assert.equal(header.entries, entries.length);
      assert.equal(header.bytes, seeded.bytes);
      assert.equal(header.generator.startsWith('blockframe '), true);
      const want = await expectedEntries(tree);
      assert.equal(entries.length, want.size, 'one entry per path: the root itself has none');
      for (const e of entries) {
        const w = want.get(e.path.toString('base64'));
        assert.ok(w, `unexpected entry ${e.path.toString()}`);
        assert.equal(e.type, w.type, e.path.toString());
        assert.equal(e.mtimeNs, w.mtimeNs, e.path.toString());
        if (e.type === 'file') assert.deepEqual([e.size, e.blob, e.mode], [w.size, w.blob, w.mode], e.path.toString());
        if (e.type === 'dir') assert.equal(e.mode, w.mode);
        if (e.type === 'symlink') assert.equal(e.target.toString(), w.target);
      }
      assert.ok(entries.some((e) => e.path.equals(NON_UTF8)), 'the non-UTF-8 name kept byte for byte');
      assert.ok(entries.some((e) => e.path.toString() === 'empty' && e.type === 'dir'), 'an empty directory recorded');
      assert.ok(entries.some((e) => e.path.toString() === 'a/b/link-out' && e.type === 'symlink'), 'a link out of the tree recorded as a link');
      const repo = await Repository.open({ archive: store });
      try {
        assert.deepEqual((await readNameRecord(repo, 'photos')).record?.snapshots.map((s) => s.id), [first.id]);
      } finally {
        await repo.close();
      }
      // The large file has its own archive; the body line names it; the index lists it.
      const large = blobOf(entries, 'd/large.bin');
      assert.ok((await stat(join(store, 'blobs', large.slice(0, 2), `blob_${large}`))).isDirectory());
    });

    test('the same content under two paths is stored once: every pack blob is distinct, and the copies name one blob', async () => {
      const { entries } = await readSnapshot([store], first.id, pool);
      const b = blobOf(entries, 'file-0002.bin');
      assert.equal(blobOf(entries, 'd/e/copy-of-2.bin'), blobOf(entries, 'f/another-copy.bin'));
      const repo = await Repository.open({ archive: store });
      try {
        const hashes: string[] = [];
        for (const p of await packIds(store)) hashes.push(...(await readPackTable(repo, p, { pool })).map((e) => e.hash));
        assert.equal(new Set(hashes).size, hashes.length, 'no blob twice in the packs');
        assert.equal(hashes.filter((h) => h === blobOf(entries, 'd/e/copy-of-2.bin')).length, 1);
        assert.equal(hashes.filter((h) => h === b).length, 1, 'the original of the copies once too');
      } finally {
        await repo.close();
      }
    });

    test('a re-commit with no change writes no pack and no index file, and hashes no file (quick path)', async () => {
      const before = await diskUsage(store);
      const r = await commitTree([tree], opts);
      assert.equal(r.parent, first.id);
      assert.deepEqual([r.packsWritten, r.indexFiles, r.bytesNew, r.filesHashed, r.largeBlobs], [0, 0, 0, 0, 0]);
      assert.equal(r.filesQuick, seeded.files);
      assert.equal(r.root.hash, first.root.hash, 'the same tree gives the same body');
      const afterUse = await diskUsage(store);
      const added = [...afterUse.files.keys()].filter((k) => !before.files.has(k));
      assert.ok(added.every((k) => k.startsWith(`snapshots/${r.id}/`)), `only the new header set is new: ${added.join(', ')}`);
      // --no-quick hashes every file, and still writes nothing new.
      const slow = await commitTree([tree], { ...opts, quick: false });
      assert.deepEqual([slow.packsWritten, slow.bytesNew, slow.filesQuick, slow.filesHashed], [0, 0, 0, seeded.files]);
    });

    test('after editing 10 files (3 with their old mtime put back, touch -d style) the re-commit writes only those 10 files bytes, body and index; the ctime gives the 3 away', async () => {
      await sleep(SETTLE_MS);
      const parent = await commitTree([tree], opts);
      const { entries: old } = await readSnapshot([store], parent.id, pool);
      const candidates = old.filter((e): e is Extract<SnapshotEntry, { type: 'file' }> => e.type === 'file' && e.size > 1000 && e.size < PACK_THRESHOLD && !e.path.toString().includes('copy'));
      const edited = candidates.filter((e) => e.blob !== blobOf(old, 'file-0002.bin')).slice(0, 10);
      assert.equal(edited.length, 10);
      let editedBytes = 0;
      for (const [i, e] of edited.entries()) {
        const p = join(tree, e.path.toString());
        const s = await stat(p);
        await writeFile(p, randomBytesSeeded(e.size, 9000 + i)); // same size, new content
        if (i < 3) await utimes(p, s.atime, s.mtime); // the old mtime back: only the ctime shows the change
        editedBytes += e.size;
      }
      const packsBefore = await packIds(store);
      const r = await commitTree([tree], opts);
      assert.deepEqual(r.errors, []);
      assert.equal(r.parent, parent.id);
      assert.equal(r.filesHashed, 10, 'only the edited files are read');
      assert.equal(r.filesQuick, seeded.files - 10);
      assert.equal(r.bytesNew, editedBytes + r.root.size, 'the edited files and the new body, nothing else');
      const newPacks = (await packIds(store)).filter((p) => !packsBefore.includes(p));
      assert.equal(newPacks.length, r.packsWritten);
      const repo = await Repository.open({ archive: store });
      try {
        const blobs = (await Promise.all(newPacks.map((p) => readPackTable(repo, p, { pool })))).flat();
        assert.equal(blobs.length, 11, '10 files and the body');
        assert.equal(blobs.reduce((a, b) => a + b.size, 0), editedBytes + r.root.size);
      } finally {
        await repo.close();
      }
      assert.equal(r.indexFiles, 1);
      const { entries } = await readSnapshot([store], r.id, pool);
      for (const e of edited) {
        const now = blake3Hex(await readFile(join(tree, e.path.toString())));
        assert.equal(blobOf(entries, e.path.toString()), now, `${e.path.toString()} recorded with its new content`);
        assert.notEqual(now, e.blob);
      }
    });

    test('a file that keeps changing while it is read is left out and reported BF_FILE_CHANGED; the rest of the snapshot is written', async () => {
      const growing = join(tree, 'a/growing.log');
      await writeFile(growing, randomBytesSeeded(4 * 1024 * 1024, 5));
      // Another process appends to it for the whole commit.
      const child = spawn(process.execPath, ['-e', `const fs=require('fs');const fd=fs.openSync(${JSON.stringify(growing)},'a');for(;;){fs.writeSync(fd,'x'.repeat(64));}`], { stdio: 'ignore' });
      try {
        await sleep(200);
        let err: unknown;
        try {
          await commitTree([tree], opts);
        } catch (e) {
          err = e;
        }
        assert.ok(isBlockFrameError(err, 'BF_FILE_CHANGED'), `BF_FILE_CHANGED, got ${String(err)}`);
        const ctx = err.context as { snapshot: string; errors: { path: string; code: string }[]; result: CommitTreeResult };
        assert.deepEqual(ctx.errors.map((e) => [e.path, e.code]), [['"a/growing.log"', 'BF_FILE_CHANGED']]);
        const { entries } = await readSnapshot([store], ctx.snapshot, pool);
        assert.ok(!entries.some((e) => e.path.toString() === 'a/growing.log'), 'left out of the snapshot');
        assert.equal(ctx.result.files, seeded.files);
      } finally {
        child.kill('SIGKILL');
      }
      await new Promise((r) => child.once('exit', r).exitCode !== null && r(undefined));
    });

    test('--compress and --encrypt on a tree are refused (BF_USAGE) before anything is read', async () => {
      for (const o of [{ compress: 3 }, { encrypt: true }] as CommitTreeOptions[]) {
        await assert.rejects(commitTree([tree], { ...opts, ...o }), (e: unknown) => isBlockFrameError(e, 'BF_USAGE'));
      }
      await assert.rejects(commitTree([tree, join(work, 'photos')], opts), (e: unknown) => isBlockFrameError(e, 'BF_USAGE'), 'two directories with one base name');
    });
  });

  test('4 stores: a tree commits, every file reads back byte-exact through the index, and the header set is on every store', async () => {
    const tree = join(work, 'four-tree');
    const seeded = await seedTree(tree, 22, 40, 200_000);
    const stores = Array.from({ length: 4 }, (_, i) => join(work, `four-${i}`));
    for (const s of stores) await mkdir(s);
    const r = await commitTree([tree], { stores, pool, name: 'four' });
    assert.equal(r.files, seeded.files);
    const { entries } = await readSnapshot(stores, r.id, pool);
    const repo = await Repository.open({ stores });
    try {
      const { index } = await loadBlobIndex(repo);
      const reader = new BlobReader(repo, index, { pool });
      try {
        for (const e of entries) {
          if (e.type !== 'file' || e.size === 0) continue;
          const disk = await readFile(Buffer.concat([Buffer.from(`${tree}/`), e.path]));
          assert.ok((await reader.read(e.blob)).equals(disk), e.path.toString());
        }
      } finally {
        await reader.close();
      }
    } finally {
      await repo.close();
    }
  });

  test('a commit with one store of the set unmounted is refused with BF_STORE_NOT_MOUNTED and writes nothing on any store', async () => {
    const cwd = join(work, 'unmounted');
    await mkdir(cwd);
    const disks = Array.from({ length: 4 }, (_, i) => join(cwd, `d${i + 1}`));
    const init = runCli(['init', ...disks.flatMap((d) => ['--store', d])], { cwd });
    assert.equal(init.status, 0, init.stderr);
    const tree = join(work, 'unmounted-tree');
    await seedTree(tree, 33, 10, 50_000);
    await rename(disks[2]!, join(cwd, 'd3.away'));
    await mkdir(disks[2]!);
    const fingerprint = async (): Promise<string> => {
      const h = createHash('sha256');
      for (const d of disks) for (const [k, v] of [...(await diskUsage(d)).files].sort()) h.update(`${d}/${k}:${v}\n`);
      return h.digest('hex');
    };
    const before = await fingerprint();
    await assert.rejects(commitTree([tree], { config: join(cwd, 'blockframe.json'), pool }), (e: unknown) => isBlockFrameError(e, 'BF_STORE_NOT_MOUNTED'));
    assert.equal(await fingerprint(), before, 'no file appeared or changed on any store');
  });
});
