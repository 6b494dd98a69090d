// The committed format-version-3 folder repositories (scripts/make-v3-fixtures.mjs) restore byte-exact, verify healthy and repair, forever.
import assert from 'node:assert/strict';
import { cp, lstat, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, test } from 'node:test';
import { ComputePool } from '../../src/compute/pool.js';
import { restoreTree } from '../../src/engine/restore-tree.js';
import { repairRepository, verifyRepository } from '../../src/engine/verify-v3.js';
import { verify } from '../../src/engine/verify.js';
import type { StoreOptions } from '../../src/store/config.js';
import { REPO_ROOT, runCli, tempDir } from '../helpers/fixtures.js';

interface Entry {
  path?: string;
  path_b64?: string;
  type: 'file' | 'dir' | 'symlink';
  mode?: number;
  mtime_ns: string;
  size?: number;
  seed?: number;
  target?: string;
}
interface Case {
  id: string;
  stores: number;
  failures: number;
  snapshots: { id: string; created_at: string; parent: string | null; root_hash: string }[];
}

const FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'v3');
const index = JSON.parse(await readFile(join(FIXTURES, 'index.json'), 'utf8')) as { format_version: number; name: string; tree: { created_at: string; entries: Entry[] }[]; cases: Case[] };
const { bytes } = (await import(pathToFileURL(join(FIXTURES, 'bytes.mjs')).href)) as { bytes: (size: number, seed: number) => Uint8Array };

const pool = ComputePool.start();
after(() => pool.close());

const pathOf = (e: Entry): Buffer => (e.path !== undefined ? Buffer.from(e.path) : Buffer.from(e.path_b64!, 'base64'));

/** A private copy of one case (the committed files are never touched) and the store options that open it. */
async function open(c: Case, root: string): Promise<{ base: string; opts: StoreOptions & { pool: ComputePool }; storeDirs: string[] }> {
  const base = join(root, c.id);
  await cp(join(FIXTURES, c.id), base, { recursive: true });
  if (c.stores === 1) return { base, opts: { archive: base, pool }, storeDirs: [base] };
  const cfg = JSON.parse(await readFile(join(base, 'blockframe.json'), 'utf8')) as { stores: string[]; failures: number };
  assert.equal(cfg.stores.length, c.stores);
  const stores = cfg.stores.map((s) => join(base, s));
  return { base, opts: { stores, failures: cfg.failures, pool }, storeDirs: stores };
}

/** Every file, directory and link below `dir` (relative paths as latin1 keys of their bytes). */
async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: Buffer, rel: Buffer | null): Promise<void> => {
    for (const name of await readdir(d, { encoding: 'buffer' })) {
      const r = rel ? Buffer.concat([rel, Buffer.from('/'), name]) : name;
      out.push(r.toString('latin1'));
      const st = await lstat(Buffer.concat([d, Buffer.from('/'), name]));
      if (st.isDirectory()) await walk(Buffer.concat([d, Buffer.from('/'), name]), r);
    }
  };
  await walk(Buffer.from(dir), null);
  return out.sort();
}

/** Assert `out` holds exactly snapshot `n`'s tree: bytes, modes, mtimes (to the microsecond), link targets. */
async function assertTree(out: string, n: number, what: string): Promise<void> {
  const entries = index.tree[n]!.entries;
  assert.deepEqual(await listTree(out), entries.map((e) => pathOf(e).toString('latin1')).sort(), `${what}: the entries`);
  for (const e of entries) {
    const p = Buffer.concat([Buffer.from(`${out}/`), pathOf(e)]);
    const shown = `${what}: ${pathOf(e).toString('latin1')}`;
    const st = await lstat(p, { bigint: true });
    assert.equal(st.mtimeNs, BigInt(e.mtime_ns), `${shown}: mtime`);
    if (e.type === 'symlink') {
      assert.ok(st.isSymbolicLink(), shown);
      assert.equal(await readlink(p, 'utf8'), e.target, `${shown}: target`);
      continue;
    }
    assert.equal(Number(st.mode & 0o7777n), e.mode, `${shown}: mode`);
    if (e.type === 'dir') assert.ok(st.isDirectory(), shown);
    else assert.deepEqual(new Uint8Array(await readFile(p)), bytes(e.size!, e.seed!), `${shown}: bytes`);
  }
}

test('the v3 fixtures: two snapshots of one name on one store and on 3 stores, with an empty file and directory, a link, a non-UTF-8 name and a shared file', async () => {
  assert.equal(index.format_version, 3);
  assert.deepEqual(index.cases.map((c) => c.stores), [1, 3]);
  const all = index.tree.flatMap((s) => s.entries);
  assert.ok(all.some((e) => e.type === 'file' && e.size === 0), 'an empty file');
  assert.ok(all.some((e) => e.type === 'symlink'), 'a symlink');
  assert.ok(all.some((e) => e.path_b64 !== undefined), 'a name that is not UTF-8');
  const dirs = index.tree[0]!.entries.filter((e) => e.type === 'dir').map((e) => pathOf(e).toString('latin1'));
  assert.ok(dirs.some((d) => !index.tree[0]!.entries.some((e) => pathOf(e).toString('latin1').startsWith(`${d}/`))), 'an empty directory');
  const key = (e: Entry): string => `${pathOf(e).toString('latin1')}:${e.seed}:${e.size}`;
  assert.ok(index.tree[0]!.entries.filter((e) => e.type === 'file' && e.size! > 0).some((e) => index.tree[1]!.entries.some((f) => key(f) === key(e))), 'a file shared by both snapshots');
  for (const c of index.cases) {
    assert.equal(c.snapshots.length, 2);
    assert.equal(c.snapshots[1]!.parent, c.snapshots[0]!.id, `${c.id}: the second snapshot's parent is the first`);
    const store = c.stores > 1 ? join(FIXTURES, c.id, 'store0') : join(FIXTURES, c.id);
    for (const s of c.snapshots) {
      const h = JSON.parse(await readFile(join(store, 'snapshots', s.id, 'snapshot.json'), 'utf8')) as { format_version: number; name: string; root_hash: string };
      assert.equal(h.format_version, 3);
      assert.equal(h.name, index.name);
      assert.equal(h.root_hash, s.root_hash);
    }
  }
});

for (const c of index.cases) {
  test(`golden v3 ${c.id}: every snapshot restores byte-exact, verifies healthy, and a damaged copy repairs`, async () => {
    const { dir: root, cleanup } = await tempDir('bf-golden3-');
    try {
      const { opts, storeDirs } = await open(c, root);
      const restoreAll = async (when: string): Promise<void> => {
        for (const [n, s] of c.snapshots.entries()) {
          const out = join(root, `out-${when}-${n}`);
          const r = await restoreTree(`${index.name}@${s.id}`, out, { ...opts, durability: 'none' });
          assert.equal(r.failed, 0, `${c.id} ${when}: ${JSON.stringify(r.failures)}`);
          assert.equal(r.snapshot.id, s.id);
          await assertTree(out, n, `${c.id} ${when} snapshot ${n}`);
          await rm(out, { recursive: true });
        }
        // The name resolves to its latest snapshot.
        const latest = await restoreTree(index.name, join(root, 'latest'), { ...opts, durability: 'none' });
        assert.equal(latest.snapshot.id, c.snapshots[1]!.id);
        await rm(join(root, 'latest'), { recursive: true });
      };
      await restoreAll('intact');
      const healthy = await verifyRepository(opts);
      assert.equal(healthy?.status, 'healthy', `${c.id}: ${JSON.stringify(healthy)}`);
      assert.equal(healthy.snapshots.checked, 2);
      assert.equal((await verify([], opts)).archives.length, 0, 'no single-file archive');

      // Damage, on the copy: a pack loses a shard and another shard of it gets a flipped byte; a snapshot header
      // loses its copy; on the 3-store set, one store loses every pack.
      const packDirs: string[] = [];
      for (const fan of await readdir(join(storeDirs[0]!, 'packs'))) for (const p of await readdir(join(storeDirs[0]!, 'packs', fan))) packDirs.push(join(storeDirs[0]!, 'packs', fan, p));
      packDirs.sort();
      const shards: string[] = [];
      const walk = async (d: string): Promise<void> => {
        for (const e of await readdir(d, { withFileTypes: true })) {
          if (e.isDirectory()) await walk(join(d, e.name));
          else if (e.name.endsWith('.dat')) shards.push(join(d, e.name));
        }
      };
      await walk(packDirs[0]!);
      shards.sort();
      assert.ok(shards.length >= 2, `${c.id}: shards of the first pack on store 1`);
      await rm(shards[0]!);
      const b = await readFile(shards[shards.length - 1]!);
      b[b.length >> 1]! ^= 0x5a;
      await writeFile(shards[shards.length - 1]!, b);
      await rm(join(storeDirs[0]!, 'snapshots', c.snapshots[0]!.id, 'snapshot.copy.json'));
      if (storeDirs.length > 1) await rm(join(storeDirs[1]!, 'packs'), { recursive: true });
      await restoreAll('damaged');
      const damaged = await verifyRepository(opts);
      assert.equal(damaged?.status, 'repairable', `${c.id}: ${JSON.stringify(damaged)}`);
      assert.ok(damaged.packs.damaged.length >= 1);
      assert.deepEqual(damaged.snapshots.headerDamage.map((d) => [d.id, d.store, d.file]), [[c.snapshots[0]!.id, 1, 'snapshot.copy.json']]);
      const fixed = await repairRepository(opts);
      assert.ok(fixed);
      assert.equal((await verifyRepository(opts))?.status, 'healthy', `${c.id} after repair`);
      await restoreAll('repaired');
    } finally {
      await cleanup();
    }
  });
}

test('golden v3 stores3: the CLI finds the store set through ./blockframe.json, verifies it (--json field v3) and restores the tree', async () => {
  const c = index.cases.find((x) => x.id === 'stores3')!;
  const { dir: root, cleanup } = await tempDir('bf-golden3-cli-');
  try {
    const base = join(root, c.id);
    await cp(join(FIXTURES, c.id), base, { recursive: true });
    const env = { BLOCKFRAME_ARCHIVE: '', BLOCKFRAME_CONFIG: '' };
    const v = runCli(['verify', '--json'], { cwd: base, env });
    assert.equal(v.status, 0, v.stderr);
    const report = JSON.parse(v.stdout) as { status: string; v3?: { status: string; packs: { checked: number }; snapshots: { checked: number } } };
    assert.equal(report.status, 'healthy');
    assert.equal(report.v3?.status, 'healthy');
    assert.equal(report.v3.snapshots.checked, 2);
    const r = runCli(['restore', `${index.name}@${c.snapshots[0]!.id.slice(0, 12)}`, '-o', join(root, 'out')], { cwd: base, env });
    assert.equal(r.status, 0, r.stderr);
    await assertTree(join(root, 'out'), 0, 'CLI restore');
  } finally {
    await cleanup();
  }
});
