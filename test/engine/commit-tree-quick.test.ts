// The quick path of a re-commit (docs/FORMAT.md §13.7) names a blob unread only when it has a valid location: its pack exists and the pack's table lists it (not merely an index entry); and a commit merges index files above 256 (§13.5).
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ComputePool } from '../../src/compute/pool.js';
import { loadBlobIndex, writeIndexFile } from '../../src/archive/blob-index.js';
import { Repository } from '../../src/archive/repo.js';
import { spawn } from 'node:child_process';
import { commitTree, type CommitTreeResult } from '../../src/engine/commit-tree.js';
import { isBlockFrameError } from '../../src/errors.js';
import { restoreTree } from '../../src/engine/restore-tree.js';
import { randomBytesSeeded, tempDir } from '../helpers/fixtures.js';

const pool = ComputePool.start(2);
after(() => pool.close());

test('re-commit after a pack was lost (its index entry left behind): the files it held are read and packed again, not named unread', async () => {
  const { dir: root, cleanup } = await tempDir('bf-quick-loc-');
  try {
    const tree = join(root, 'tree');
    await mkdir(tree);
    const files = new Map<string, Uint8Array>();
    for (let i = 0; i < 12; i++) {
      const b = randomBytesSeeded(6000 + i * 500, 900 + i);
      files.set(`f${String(i).padStart(2, '0')}`, b);
      await writeFile(join(tree, `f${String(i).padStart(2, '0')}`), b);
    }
    const store = join(root, 'store');
    // The first walk "began" a minute from now, so every ctime is older than its created_at minus 2 s: the quick
    // path is open to every file of the re-commit without sleeping.
    const first = await commitTree([tree], { archive: store, pool, packTarget: 24 * 1024, now: () => new Date(Date.now() + 60_000) });
    assert.ok(first.packsWritten >= 3, `several packs: ${first.packsWritten}`);
    // One pack (not the one holding the body) is lost: its directory is gone, the index still lists it.
    const index = (await Promise.all((await readdir(join(store, 'index'))).map((f) => readFile(join(store, 'index', f), 'utf8')))).join('\n');
    const packs = [...index.matchAll(/"pack":"([0-9a-f]{64})","blobs":(\[\[.*?\]\])\}/g)].map((m) => ({ id: m[1]!, blobs: JSON.parse(m[2]!) as [string, number, number][] }));
    const victim = packs.find((p) => !p.blobs.some((b) => b[0] === first.root.hash))!;
    await rm(join(store, 'packs', victim.id.slice(0, 2), `pack_${victim.id}`), { recursive: true });

    const again = await commitTree([tree], { archive: store, pool, packTarget: 24 * 1024 });
    assert.equal(again.parent, first.id);
    assert.equal(again.filesQuick, 12 - victim.blobs.length, 'the quick path takes only the files whose pack is there');
    assert.equal(again.filesHashed, victim.blobs.length, 'the files of the lost pack are read again');
    // The new snapshot restores whole.
    const out = join(root, 'out');
    const r = await restoreTree(`tree@${again.id}`, out, { archive: store, pool, durability: 'none' });
    assert.equal(r.snapshot.id, again.id);
    assert.deepEqual(r.failures, []);
    for (const [name, b] of files) assert.deepEqual(new Uint8Array(await readFile(join(out, name))), b, name);
  } finally {
    await cleanup();
  }
});

test('a commit that loads more than 256 index files merges them into one (new file first), and every snapshot still restores', async () => {
  const { dir: root, cleanup } = await tempDir('bf-index-merge-');
  try {
    const tree = join(root, 'tree');
    await mkdir(tree);
    for (let i = 0; i < 6; i++) await writeFile(join(tree, `f${i}`), randomBytesSeeded(5000 + i, 700 + i));
    const store = join(root, 'store');
    const opts = { archive: store, pool, packTarget: 12 * 1024 };
    const first = await commitTree([tree], opts);
    // 257 more index files, each repeating one pack line of the first commit (duplicates are valid entries).
    const repo = await Repository.open(opts);
    try {
      const { index } = await loadBlobIndex(repo);
      const byPack = new Map<string, { hash: string; offset: number; size: number }[]>();
      for (const { hash, loc } of index.entries()) if (loc.kind === 'pack') (byPack.get(loc.pack) ?? byPack.set(loc.pack, []).get(loc.pack)!).push({ hash, offset: loc.offset, size: loc.size });
      const lines = [...byPack].map(([pack, blobs]) => ({ pack, blobs: blobs.sort((a, b) => a.offset - b.offset) }));
      for (let i = 0; i < 257; i++) await writeIndexFile(repo, { createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(), packs: [lines[i % lines.length]!], archives: [] });
    } finally {
      await repo.close();
    }
    assert.equal((await readdir(join(store, 'index'))).length, 258);
    await writeFile(join(tree, 'new'), randomBytesSeeded(3000, 1));
    const second = await commitTree([tree], { ...opts, quick: false });
    assert.equal(second.indexFilesMerged, 258, 'every loaded file merged');
    const left = await readdir(join(store, 'index'));
    assert.equal(left.length, 2, `the merged file and the second commit's own: ${left.join(', ')}`);
    for (const [id, n] of [[first.id, 6], [second.id, 7]] as const) {
      const r = await restoreTree(`tree@${id}`, join(root, `out-${n}`), { archive: store, pool, durability: 'none' });
      assert.deepEqual(r.failures, []);
      assert.equal(r.files, n);
    }
  } finally {
    await cleanup();
  }
});

test('read-ahead of small files keeps the BF_FILE_CHANGED rule: a small file rewritten in place during the commit is left out, or recorded with bytes it held at one moment (never a mix)', async () => {
  const { dir: root, cleanup } = await tempDir('bf-ahead-changed-');
  const A = randomBytesSeeded(50_000, 31);
  const B = randomBytesSeeded(50_000, 32);
  let child: ReturnType<typeof spawn> | undefined;
  try {
    const tree = join(root, 'tree');
    await mkdir(tree);
    const want = new Map<string, Uint8Array>();
    for (let i = 0; i < 40; i++) {
      const b = randomBytesSeeded(2000 + i * 97, 500 + i);
      want.set(`f${String(i).padStart(2, '0')}`, b);
      await writeFile(join(tree, `f${String(i).padStart(2, '0')}`), b);
    }
    const hot = join(tree, 'f20-hot');
    await writeFile(hot, A);
    await writeFile(join(root, 'a.bin'), A);
    await writeFile(join(root, 'b.bin'), B);
    // Another process rewrites it in place (same size: only its content and, within the file system's clock tick,
    // maybe not even its mtime change), A and B in turn, for the whole commit.
    child = spawn(process.execPath, ['-e', `const fs=require('fs');const a=fs.readFileSync(${JSON.stringify(join(root, 'a.bin'))}),b=fs.readFileSync(${JSON.stringify(join(root, 'b.bin'))});const fd=fs.openSync(${JSON.stringify(hot)},'r+');for(let i=0;;i++){const x=i%2?a:b;fs.writeSync(fd,x,0,x.length,0);}`], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 150));
    const store = join(root, 'store');
    let result: CommitTreeResult;
    try {
      result = await commitTree([tree], { archive: store, pool });
    } catch (err) {
      assert.ok(isBlockFrameError(err, 'BF_FILE_CHANGED'), String(err));
      const ctx = err.context as { errors: { path: string; code: string }[]; result: CommitTreeResult };
      assert.deepEqual(ctx.errors.map((e) => [e.path, e.code]), [['"f20-hot"', 'BF_FILE_CHANGED']]);
      result = ctx.result;
    }
    child.kill('SIGKILL');
    const out = join(root, 'out');
    const r = await restoreTree(`tree@${result.id}`, out, { archive: store, pool, durability: 'none' });
    assert.deepEqual(r.failures, []);
    for (const [name, b] of want) assert.deepEqual(new Uint8Array(await readFile(join(out, name))), b, `${name}: in walk order, its own bytes`);
    const got = await readFile(join(out, 'f20-hot')).catch(() => null);
    if (got) assert.ok(Buffer.from(A).equals(got) || Buffer.from(B).equals(got), `recorded: bytes the file held at one moment (${got.length} bytes; A at 0: ${Buffer.from(A).subarray(0, 8).equals(got.subarray(0, 8))}, B at 0: ${Buffer.from(B).subarray(0, 8).equals(got.subarray(0, 8))}; A at end: ${Buffer.from(A).subarray(-8).equals(got.subarray(-8))}, B at end: ${Buffer.from(B).subarray(-8).equals(got.subarray(-8))})`);
    assert.equal(result.files, got ? 41 : 40);
  } finally {
    child?.kill('SIGKILL');
    await cleanup();
  }
});
