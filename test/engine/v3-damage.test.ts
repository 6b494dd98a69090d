// docs/FORMAT.md §13.8: a pack damaged beyond repair is named by the paths that need it (verify, --json, exit 4) and every other file still restores; a v3 repository whose every object is damaged still verifies as v3.
import assert from 'node:assert/strict';
import { cp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ComputePool } from '../../src/compute/pool.js';
import { restoreTree } from '../../src/engine/restore-tree.js';
import { REPO_ROOT, runCli, tempDir } from '../helpers/fixtures.js';

const FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'v3');
const env = { BLOCKFRAME_ARCHIVE: '', BLOCKFRAME_CONFIG: '' };
const pool = ComputePool.start(2);
after(() => pool.close());

interface V3Json {
  status: string;
  v3?: {
    status: string;
    packs: { checked: number; damaged: { dir: string; status: string }[] };
    snapshots: { checked: number; unreadable: { id: string; code: string }[]; missing: { id: string; name: string; count: number; paths: string[] }[] };
  };
}

/** Index lines of the repository: pack id → the hashes its table lists. */
async function packBlobs(repo: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const f of await readdir(join(repo, 'index'))) {
    for (const line of (await readFile(join(repo, 'index', f), 'utf8')).trim().split('\n').slice(1)) {
      const x = JSON.parse(line) as { pack?: string; blobs?: [string, number, number][] };
      if (x.pack) out.set(x.pack, x.blobs!.map((b) => b[0]));
    }
  }
  return out;
}

/** Snapshot id → path → blob, from the bodies as `ls --json` gives them. */
function bodies(repo: string, ids: string[]): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  for (const id of ids) {
    const r = runCli(['ls', `tree@${id}`, '--archive', repo, '--json'], { env });
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { entries: { path?: string; pathB64?: string; type: string; blob?: string }[] };
    out.set(id, new Map(doc.entries.filter((e) => e.type === 'file').map((e) => [e.path ?? `b64:${e.pathB64}`, e.blob!])));
  }
  return out;
}

test('a pack destroyed beyond repair: verify (text and --json) names exactly the paths that need it, exits 4, and every other file restores', async () => {
  const { dir: root, cleanup } = await tempDir('bf-v3-lost-');
  try {
    const repo = join(root, 'repo');
    await cp(join(FIXTURES, 'one'), repo, { recursive: true });
    const index = JSON.parse(await readFile(join(FIXTURES, 'index.json'), 'utf8')) as { cases: { id: string; snapshots: { id: string }[] }[] };
    const ids = index.cases.find((c) => c.id === 'one')!.snapshots.map((s) => s.id);
    const files = bodies(repo, ids);
    // The pack of snapshot one's first files: 4 of its shards deleted (more than its 3 parity shards).
    const tables = await packBlobs(repo);
    const [pack, blobs] = [...tables].find(([, b]) => b.length === 2)!;
    const dir = join(repo, 'packs', pack.slice(0, 2), `pack_${pack}`, 'blocks', 'block_0', 'segments');
    const shards = (await readdir(dir)).sort();
    assert.ok(shards.length >= 4);
    for (const s of shards.slice(0, 4)) await rm(join(dir, s));
    const lost = new Set(blobs);
    const want = new Map(ids.map((id) => [id, [...files.get(id)!].filter(([, b]) => lost.has(b)).map(([p]) => p).sort()]));
    assert.deepEqual(want.get(ids[0]!), ['a.txt', 'dir/b.bin'], 'snapshot one needs the lost pack for two files');
    assert.deepEqual(want.get(ids[1]!), [], 'snapshot two needs nothing of it');

    const v = runCli(['verify', '--archive', repo, '--json'], { env });
    assert.equal(v.status, 4, v.stderr);
    const r = JSON.parse(v.stdout) as V3Json;
    assert.equal(r.status, 'unrecoverable');
    assert.equal(r.v3!.status, 'unrecoverable');
    assert.deepEqual(r.v3!.packs.damaged.map((d) => [d.dir, d.status]), [[`packs/${pack.slice(0, 2)}/pack_${pack}`, 'unrecoverable']]);
    assert.deepEqual(r.v3!.snapshots.unreadable, []);
    assert.deepEqual(r.v3!.snapshots.missing.map((m) => [m.id, m.name, m.count, [...m.paths].sort()]), [[ids[0], 'tree', 2, want.get(ids[0]!)]]);
    const text = runCli(['verify', '--archive', repo], { env });
    assert.equal(text.status, 4);
    assert.match(text.stdout, new RegExp(`tree@${ids[0]!.slice(0, 12)}: 2 file\\(s\\) whose blob has no valid location \\[BF_BLOB_MISSING\\]:\\n    a\\.txt\\n    dir/b\\.bin\\n`));

    // Every other file of both snapshots restores byte-exact; the two lost ones fail, named, with BF_BLOB_MISSING.
    for (const id of ids) {
      const out = join(root, `out-${id.slice(0, 6)}`);
      const res = await restoreTree(`tree@${id}`, out, { archive: repo, pool, durability: 'none' });
      assert.deepEqual(res.failures.map((f) => [JSON.parse(f.path) as string, f.code]).sort(), want.get(id)!.map((p) => [p, 'BF_BLOB_MISSING']), id);
      for (const [p, blob] of files.get(id)!) {
        if (want.get(id)!.includes(p) || p.startsWith('b64:')) continue;
        const bytes = await readFile(join(out, p));
        assert.equal(bytes.length > 0 || blob.startsWith('af1349b9'), true, p);
      }
    }
    // repair cannot bring the pack back: it says so and exits 4.
    assert.equal(runCli(['repair', '--archive', repo], { env }).status, 4);
  } finally {
    await cleanup();
  }
});

test('a v3 repository whose every object is damaged still verifies as v3 (unrecoverable, exit 4), not as an empty version-2 root', async () => {
  const { dir: root, cleanup } = await tempDir('bf-v3-all-');
  try {
    const repo = join(root, 'repo');
    await cp(join(FIXTURES, 'one'), repo, { recursive: true });
    // Every pack manifest copy, every index file and every snapshot header copy damaged.
    const flip = async (f: string): Promise<void> => {
      const b = await readFile(f);
      b[b.length >> 1]! ^= 0x20;
      await writeFile(f, b);
    };
    for (const fan of await readdir(join(repo, 'packs'))) {
      for (const p of await readdir(join(repo, 'packs', fan))) for (const m of ['manifest.json', 'manifest.copy.json']) await flip(join(repo, 'packs', fan, p, m));
    }
    for (const f of await readdir(join(repo, 'index'))) await flip(join(repo, 'index', f));
    for (const id of await readdir(join(repo, 'snapshots'))) for (const f of ['snapshot.json', 'snapshot.copy.json']) await flip(join(repo, 'snapshots', id, f));
    const v = runCli(['verify', '--archive', repo, '--json'], { env });
    const r = JSON.parse(v.stdout) as V3Json;
    assert.ok(r.v3, `the v3 part is checked: ${v.stdout.slice(0, 300)}`);
    assert.equal(r.v3.status, 'unrecoverable');
    assert.equal(r.v3.packs.checked, 3);
    assert.equal(r.v3.snapshots.checked, 2);
    assert.equal(v.status, 4);
  } finally {
    await cleanup();
  }
});
