// docs/FORMAT.md §13.13 (draft format v3): the stranger's shell walk-through restores a folder archive laid out as §13 says.
//
// The pack is written by the pack writer (archive/pack-writer.ts); the snapshot and name record are made here by
// the rules of §13.3-§13.4 until `commit DIR` lands (then make the repository with it and keep the assertions).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { chmod, lstat, mkdir, readFile, readdir, readlink, rename, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ComputePool } from '../../src/index.js';
import { Repository } from '../../src/archive/repo.js';
import { PackWriter } from '../../src/archive/pack-writer.js';
import { blake3Hex, initBlake3 } from '../../src/integrity/blake3.js';
import { haveCommand, REPO_ROOT, tempDir } from '../helpers/fixtures.js';

type Entry =
  | { path: string; type: 'dir'; mode: number; mtime_ns: string }
  | { path: string; type: 'file'; mode: number; mtime_ns: string; size: number; blob: string }
  | { path: string; type: 'symlink'; target: string; mtime_ns: string };

/** Children in byte order, depth first: the path order of §13.3. */
async function walk(root: string, rel = '', out: Entry[] = []): Promise<Entry[]> {
  const names = (await readdir(join(root, rel))).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (const n of names) {
    const path = rel ? `${rel}/${n}` : n;
    const st = await lstat(join(root, path), { bigint: true });
    const mtime_ns = st.mtimeNs.toString();
    const mode = Number(st.mode & 0o7777n);
    if (st.isDirectory()) {
      out.push({ path, type: 'dir', mode, mtime_ns });
      await walk(root, path, out);
    } else if (st.isSymbolicLink()) out.push({ path, type: 'symlink', target: await readlink(join(root, path)), mtime_ns });
    else out.push({ path, type: 'file', mode, mtime_ns, size: Number(st.size), blob: blake3Hex(await readFile(join(root, path))) });
  }
  return out;
}

/** The shell block of §13.13, exactly as documented. */
async function walkthrough(): Promise<string> {
  const doc = await readFile(join(REPO_ROOT, 'docs', 'FORMAT.md'), 'utf8');
  const section = doc.slice(doc.indexOf('### 13.13'));
  const m = /```sh\n([\s\S]*?)\n```/.exec(section);
  assert.ok(m, 'FORMAT.md §13.13 has a sh block');
  return m[1]!;
}

const tools = ['bash', 'jq', 'b3sum', 'sha256sum', 'dd', 'tail', 'touch'];

test('FORMAT.md §13.13: the stranger walk-through restores a v3 folder archive with jq, dd and b3sum only', { skip: tools.find((t) => !haveCommand(t)) }, async () => {
  await initBlake3();
  const { dir, cleanup } = await tempDir('bf-v3-walk-');
  try {
    // A tree with nested directories, an empty one, a name that sorts between "a" and "a/x" in plain byte order,
    // duplicate content, an empty file, a symlink and nanosecond mtimes.
    const src = join(dir, 'src');
    await mkdir(join(src, '2024', 'empty'), { recursive: true });
    await mkdir(join(src, 'a', 'x'), { recursive: true });
    await mkdir(join(src, 'a.b'), { recursive: true });
    await writeFile(join(src, '2024', 'IMG_1.jpg'), Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31) & 255)));
    await writeFile(join(src, '2024', 'IMG_2.jpg'), 'hello world\n'.repeat(3000));
    await writeFile(join(src, '2024', 'copy.jpg'), 'hello world\n'.repeat(3000));
    await writeFile(join(src, 'a', 'x', 'deep.txt'), 'deep\n');
    await writeFile(join(src, 'a.b', 'empty.txt'), '');
    await writeFile(join(src, 'top.txt'), 'top\n');
    await chmod(join(src, 'top.txt'), 0o600);
    await symlink('IMG_1.jpg', join(src, '2024', 'latest.jpg'));
    await utimes(join(src, '2024', 'IMG_1.jpg'), 1715531412, 1715531412.123456);
    const entries = await walk(src);
    assert.deepEqual(entries.map((e) => e.path).slice(0, 9), ['2024', '2024/IMG_1.jpg', '2024/IMG_2.jpg', '2024/copy.jpg', '2024/empty', '2024/latest.jpg', 'a', 'a/x', 'a/x/deep.txt']);

    // §13.3 body, §13.2 pack stream (distinct non-empty blobs, then the body, then the blob table).
    const body = Buffer.from(entries.map((e) => `${JSON.stringify(e)}\n`).join(''));
    const blobs = new Map<string, Buffer>();
    for (const e of entries) if (e.type === 'file' && e.size > 0 && !blobs.has(e.blob)) blobs.set(e.blob, await readFile(join(src, e.path)));
    const rootHash = blake3Hex(body);
    blobs.set(rootHash, body);
    // The pack, written by the pack writer (one pack: the target is the default 64 MiB).
    const R = join(dir, 'R');
    await mkdir(R, { recursive: true });
    const pool = ComputePool.start(1);
    const repo = await Repository.open({ archive: R });
    let p: string;
    try {
      const w = await PackWriter.open(repo, { pool, generator: 'test' });
      try {
        for (const [hash, b] of blobs) {
          await w.beginBlob(b.length);
          await w.append(b);
          assert.ok((await w.commitBlob(hash)).added);
        }
        const sealed = await w.flush();
        assert.equal(sealed.length, 1);
        p = sealed[0]!.pack;
        const m = await repo.readManifest(sealed[0]!.dir);
        assert.equal(m.stripes.length, 1, 'a pack is one stripe');
        assert.equal(m.format_version, 3);
      } finally {
        await w.close();
      }
    } finally {
      await repo.close();
      await pool.close();
    }
    assert.ok(await lstat(join(R, 'packs', p.slice(0, 2), `pack_${p}`, 'manifest.json')));
    // §13.3 header set, §13.4 name record.
    const header = Buffer.from(`${JSON.stringify({ format_version: 3, kind: 'snapshot', name: 'photos', created_at: new Date().toISOString(), parent: null, root_hash: rootHash, root_size: body.length, entries: entries.length, bytes: entries.reduce((s, e) => s + (e.type === 'file' ? e.size : 0), 0), generator: 'test' }, null, 2)}\n`);
    const id = blake3Hex(header);
    await mkdir(join(R, 'snapshots', id), { recursive: true });
    await writeFile(join(R, 'snapshots', id, 'snapshot.json'), header);
    await writeFile(join(R, 'snapshots', id, 'snapshot.copy.json'), header);
    await writeFile(join(R, 'snapshots', id, 'snapshot.b3'), `${id}  snapshot.json\n`);
    await mkdir(join(R, 'catalog', 'names'), { recursive: true });
    const nameKey = createHash('sha256').update('photos').digest('hex');
    await writeFile(join(R, 'catalog', 'names', `${nameKey}.json`), `${JSON.stringify({ format_version: 3, kind: 'name', name: 'photos', snapshots: [{ id, created_at: 'x' }] })}\n`);

    // The documented commands, run as written (R is the documented default name, in the working directory).
    await rename(R, join(dir, 'archive_directory'));
    const run = spawnSync('bash', ['-euo', 'pipefail', '-c', await walkthrough()], { cwd: dir, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.doesNotMatch(run.stdout + run.stderr, /damaged|does not match/);

    const out = join(dir, 'restored');
    const back = await walk(out);
    // Directory mtimes are the one thing the walk-through does not restore (it says so).
    const strip = (es: Entry[]) => es.map((e) => (e.type === 'dir' ? { ...e, mtime_ns: '' } : e));
    assert.deepEqual(strip(back), strip(entries));
    for (const e of entries) if (e.type === 'file') assert.deepEqual(await readFile(join(out, e.path)), await readFile(join(src, e.path)), e.path);
  } finally {
    await cleanup();
  }
});
