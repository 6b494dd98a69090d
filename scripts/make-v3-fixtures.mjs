// Writes the golden format-version-3 folder repositories under test/fixtures/v3/ (run after `npx tsc -p tsconfig.json`).
//
// Format version 3 (docs/FORMAT.md §13) stores trees: packs, snapshots, the catalog and the index. These repositories
// were made by this script with the version-3 writer (commitTree) and are committed: every later BlockFrame must
// restore, verify and repair them unchanged (test/engine/golden-v3.test.ts). The script stays so that anyone can see
// how they were made; it refuses to replace committed fixtures unless given --overwrite.
//
// The tree (the same for every case), two snapshots of the name "tree" (the second an edit of the first):
//   one:  a.txt, dir/, dir/b.bin, dir/caf\xe9.bin (a name that is not UTF-8: path_b64), dir/shared.bin, empty,
//         empty-dir/ (an empty directory), link -> a.txt (a symlink), run.sh (mode 0755)
//   two:  a.txt edited, dir/b.bin gone, dir/shared.bin unchanged (one blob for both snapshots), new.bin added
// Cases: "one" (one directory store, RS(30,3)) and "stores3" (3 directory stores with failures 1, named by a
// blockframe.json with relative paths, as `blockframe init` writes it). Packs are sealed at 24 KiB (the internal
// packTarget), so each case holds several packs.
// No large blob (a file of 16 MiB or more, §13.1): one would add 16 MiB per case to the repository. A large blob is a
// version-2 archive (`name` "blob"), which the v2 fixtures already cover.
//
// Deterministic inputs: file bytes (bytes.mjs, seeded), modes, mtimes and each snapshot's created_at are fixed, so
// pack ids, blob hashes, bodies, snapshot headers and ids are the same on every run of one BlockFrame version (the
// header's `generator` names the version). What differs between runs: each pack manifest's `created_at` (and so its
// `manifest.b3`), and the index files' `created_at` (and so their names).
import { access, chmod, lutimes, mkdir, mkdtemp, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'test', 'fixtures', 'v3');
const bf = await import(join(root, 'dist', 'src', 'index.js'));
const exists = await access(join(out, 'index.json')).then(() => true, () => false);
if (exists && !process.argv.includes('--overwrite')) {
  console.error('test/fixtures/v3 exists: the golden v3 fixtures are kept as committed (--overwrite to make them again)');
  process.exit(2);
}
const { bytes } = await import(join(out, 'bytes.mjs'));

const NAME = 'tree';
const PACK_TARGET = 24 * 1024;
const T0 = 1_700_000_000n * 1_000_000_000n; // 2023-11-14T22:13:20Z, in ns
/** mtimes are whole microseconds: a restore sets them to the microsecond (§13.3), so the test compares exactly. */
const at = (s) => T0 + BigInt(s) * 1_000_000_000n + 123_456_000n;

// Entries of each snapshot, in the order the directory is built (files before their directory's mtime is set).
const caf = Buffer.concat([Buffer.from('dir/caf'), Buffer.from([0xe9]), Buffer.from('.bin')]);
const snapshots = [
  {
    created_at: '2026-01-02T03:04:05.000Z',
    entries: [
      { path: 'a.txt', type: 'file', mode: 0o644, mtime_ns: at(1), size: 3000, seed: 101 },
      { path: 'dir/b.bin', type: 'file', mode: 0o600, mtime_ns: at(2), size: 20000, seed: 102 },
      { path_b64: caf.toString('base64'), type: 'file', mode: 0o644, mtime_ns: at(3), size: 7000, seed: 103 },
      { path: 'dir/shared.bin', type: 'file', mode: 0o644, mtime_ns: at(4), size: 15000, seed: 104 },
      { path: 'empty', type: 'file', mode: 0o644, mtime_ns: at(5), size: 0, seed: 0 },
      { path: 'run.sh', type: 'file', mode: 0o755, mtime_ns: at(6), size: 200, seed: 106 },
      { path: 'link', type: 'symlink', target: 'a.txt', mtime_ns: at(7) },
      { path: 'dir', type: 'dir', mode: 0o755, mtime_ns: at(8) },
      { path: 'empty-dir', type: 'dir', mode: 0o750, mtime_ns: at(9) },
    ],
  },
  {
    created_at: '2026-01-03T03:04:05.000Z',
    entries: [
      { path: 'a.txt', type: 'file', mode: 0o644, mtime_ns: at(11), size: 3100, seed: 111 },
      { path_b64: caf.toString('base64'), type: 'file', mode: 0o644, mtime_ns: at(3), size: 7000, seed: 103 },
      { path: 'dir/shared.bin', type: 'file', mode: 0o644, mtime_ns: at(4), size: 15000, seed: 104 },
      { path: 'empty', type: 'file', mode: 0o644, mtime_ns: at(5), size: 0, seed: 0 },
      { path: 'new.bin', type: 'file', mode: 0o644, mtime_ns: at(12), size: 9000, seed: 112 },
      { path: 'run.sh', type: 'file', mode: 0o755, mtime_ns: at(6), size: 200, seed: 106 },
      { path: 'link', type: 'symlink', target: 'a.txt', mtime_ns: at(7) },
      { path: 'dir', type: 'dir', mode: 0o755, mtime_ns: at(13) },
      { path: 'empty-dir', type: 'dir', mode: 0o750, mtime_ns: at(9) },
    ],
  },
];
const pathOf = (e) => (e.path !== undefined ? Buffer.from(e.path) : Buffer.from(e.path_b64, 'base64'));
const seconds = (ns) => Number(ns) / 1e9;

/** Build the tree of one snapshot under `dir` (emptied first). */
async function buildTree(dir, entries) {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir);
  for (const e of entries) if (e.type === 'dir') await mkdir(Buffer.concat([Buffer.from(`${dir}/`), pathOf(e)]), { recursive: true });
  for (const e of entries) {
    const p = Buffer.concat([Buffer.from(`${dir}/`), pathOf(e)]);
    if (e.type === 'file') {
      await writeFile(p, bytes(e.size, e.seed));
      await chmod(p, e.mode);
      await utimes(p, seconds(e.mtime_ns), seconds(e.mtime_ns));
    } else if (e.type === 'symlink') {
      await symlink(e.target, p);
      await lutimes(p, seconds(e.mtime_ns), seconds(e.mtime_ns));
    }
  }
  for (const e of entries) {
    if (e.type !== 'dir') continue;
    const p = Buffer.concat([Buffer.from(`${dir}/`), pathOf(e)]);
    await chmod(p, e.mode);
    await utimes(p, seconds(e.mtime_ns), seconds(e.mtime_ns));
  }
}

const cases = [
  { id: 'one', stores: 1 },
  { id: 'stores3', stores: 3, failures: 1 },
];
const keep = new Set(['bytes.mjs']);
await mkdir(out, { recursive: true });
for (const name of await readdir(out)) {
  if (!keep.has(name)) await rm(join(out, name), { recursive: true, force: true });
}
const work = await mkdtemp(join(tmpdir(), 'bf-fixture-v3-'));
const home = process.cwd();
const index = [];
try {
  for (const c of cases) {
    const dir = join(out, c.id);
    await mkdir(dir, { recursive: true });
    let storeOpts = { archive: dir };
    if (c.stores > 1) {
      const stores = Array.from({ length: c.stores }, (_, i) => `store${i}`);
      await writeFile(join(dir, 'blockframe.json'), `${JSON.stringify({ version: 1, stores, failures: c.failures }, null, 2)}\n`);
      process.chdir(dir);
      storeOpts = { config: 'blockframe.json' };
    }
    const made = [];
    try {
      for (const s of snapshots) {
        const tree = join(work, NAME);
        await buildTree(tree, s.entries);
        const r = await bf.commitTree([tree], { ...storeOpts, name: NAME, packTarget: PACK_TARGET, now: () => new Date(s.created_at) });
        made.push({ id: r.id, created_at: r.createdAt, parent: r.parent, root_hash: r.root.hash, packs_written: r.packsWritten });
        console.log(`${c.id}: snapshot ${r.id.slice(0, 12)}: ${r.files} files, ${r.dirs} dirs, ${r.symlinks} links, ${r.packsWritten} pack(s)`);
      }
    } finally {
      process.chdir(home);
    }
    index.push({ id: c.id, stores: c.stores, failures: c.failures ?? 0, snapshots: made });
    // The empty staging directories (git keeps no empty directory; a repository recreates its own).
    for (const s of c.stores > 1 ? Array.from({ length: c.stores }, (_, i) => join(dir, `store${i}`)) : [dir]) await rm(join(s, '.staging'), { recursive: true, force: true });
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
const entriesJson = snapshots.map((s) => ({ created_at: s.created_at, entries: s.entries.map((e) => ({ ...e, mtime_ns: e.mtime_ns.toString() })) }));
const doc = { generator: `blockframe ${bf.VERSION}`, format_version: 3, name: NAME, pack_target: PACK_TARGET, tree: entriesJson, cases: index };
await writeFile(join(out, 'index.json'), `${JSON.stringify(doc, null, 2)}\n`);
