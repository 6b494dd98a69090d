// The committed format-version-2 archives (scripts/make-v2-fixtures.mjs) read, verify, serve ranges and repair, forever.
import assert from 'node:assert/strict';
import { cp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { BlockFrame, type RestoreOptions } from '../../src/index.js';
import { prng, REPO_ROOT, runCli, tempDir } from '../helpers/fixtures.js';
import { startServer } from '../server/serve-helpers.js';

interface Case {
  id: string;
  name: string;
  dir: string;
  size: number;
  seed: number;
  random: number;
  tier: number;
  stores: number;
  original_hash: string;
  transforms: string[];
  stored_size: number;
  key_file: string | null;
}

const FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'v2');
const index = JSON.parse(await readFile(join(FIXTURES, 'index.json'), 'utf8')) as { format_version: number; cases: Case[] };
const { bytes } = (await import(pathToFileURL(join(FIXTURES, 'bytes.mjs')).href)) as { bytes: (size: number, seed: number, random: number) => Uint8Array };

/** A private copy of one fixture (the committed files are never touched), and the stores it names. */
async function open(c: Case, root: string): Promise<{ bf: BlockFrame; base: string; stores?: string[] }> {
  const base = join(root, c.id);
  await cp(join(FIXTURES, c.id), base, { recursive: true });
  if (c.stores === 1) return { bf: new BlockFrame({ archive: base }), base };
  // The store set is the one its blockframe.json names (relative to the fixture directory).
  const cfg = JSON.parse(await readFile(join(base, 'blockframe.json'), 'utf8')) as { stores: string[]; failures: number };
  assert.equal(cfg.stores.length, c.stores);
  const stores = cfg.stores.map((s) => join(base, s));
  return { bf: new BlockFrame({ stores, failures: cfg.failures }), base, stores };
}

/** Every shard file (data and parity) under `dir`, sorted. */
async function shardFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith('.dat')) out.push(p);
    }
  };
  await walk(dir);
  return out.sort();
}

function keysOf(c: Case): RestoreOptions['keys'] {
  return c.key_file ? [{ keyFile: join(FIXTURES, c.key_file) }] : undefined;
}

test('the v2 fixtures are format version 2 and cover tiers 1-4, zstd, a key-file encryption and a 4-store set', async () => {
  assert.equal(index.format_version, 2);
  const ids = index.cases.map((c) => c.id);
  for (const id of ['tier1', 'tier2', 'tier3', 'tier4', 'zstd', 'encrypted', 'stores4']) assert.ok(ids.includes(id), id);
  assert.deepEqual(new Set(index.cases.map((c) => c.tier)), new Set([1, 2, 3, 4]));
  for (const c of index.cases) {
    const base = c.stores > 1 ? join(FIXTURES, c.id, 'store0') : join(FIXTURES, c.id);
    const m = JSON.parse(await readFile(join(base, c.dir, 'manifest.json'), 'utf8')) as { format_version: number; content?: { transforms: { type: string }[] }; placement?: { stores: number } };
    assert.equal(m.format_version, 2, c.id);
    assert.deepEqual(m.content?.transforms.map((t) => t.type) ?? [], c.transforms, c.id);
    assert.equal(m.placement?.stores, c.stores > 1 ? c.stores : undefined, c.id);
  }
  // One shard is longer than the 64 KiB chunk size: chunk hashes there are BLAKE3 chaining values (FORMAT.md §12.1).
  assert.ok(index.cases.some((c) => c.tier === 1 && c.stored_size > 65536));
  assert.equal((await readFile(join(FIXTURES, 'key.bin'))).length, 32);
});

test('golden v2 tier1: the stored stream is the file, and a stranger reads it by concatenating the data shards', async () => {
  const c = index.cases.find((x) => x.id === 'tier1')!;
  const m = JSON.parse(await readFile(join(FIXTURES, c.id, c.dir, 'manifest.json'), 'utf8')) as { stripes: { data: { path: string }[] }[] };
  const parts = await Promise.all(m.stripes.flatMap((s) => s.data.map((d) => readFile(join(FIXTURES, c.id, c.dir, d.path)))));
  assert.deepEqual(new Uint8Array(Buffer.concat(parts)), bytes(c.size, c.seed, c.random));
});

for (const c of index.cases) {
  test(`golden v2 ${c.id}: verify, restore, ranges, damage and repair, served`, async () => {
    const { dir: root, cleanup } = await tempDir('bf-golden2-');
    const { bf, base, stores } = await open(c, root);
    const keys = keysOf(c);
    try {
      const want = bytes(c.size, c.seed, c.random);
      const v = await bf.verify();
      assert.equal(v.archives.length, 1, c.id);
      assert.equal(v.archives[0]!.status, 'healthy', c.id);
      const out = join(root, 'restored.bin');
      const r = await bf.restore(c.name, out, { keys });
      assert.equal(r.originalHash, c.original_hash);
      assert.deepEqual(new Uint8Array(await readFile(out)), want);
      // Seeded ranges: both ends, frame and segment boundaries, and random spans.
      const rand = prng(c.size + 1);
      const ranges: [number, number][] = [];
      if (c.size > 0) {
        ranges.push([0, Math.min(c.size, 1)], [c.size - 1, 1], [0, c.size]);
        for (const edge of [4096, 65536]) if (edge < c.size) ranges.push([edge - 3, Math.min(6, c.size - edge + 3)]);
        for (let i = 0; i < 6; i++) {
          const off = rand() % c.size;
          ranges.push([off, 1 + (rand() % Math.min(30_000, c.size - off))]);
        }
      }
      const checkRanges = async (when: string): Promise<void> => {
        for (const [off, len] of ranges) {
          assert.deepEqual(new Uint8Array(await bf.read(c.name, off, len, { keys })), want.subarray(off, off + len), `${c.id} ${when} [${off}, +${len})`);
        }
      };
      await checkRanges('intact');

      // Damage: on a store set, a whole store loses the archive; everywhere, one shard is deleted and a byte of
      // another is flipped. Reads still come back byte-exact; verify sees it; repair heals it.
      const archiveDirs = stores ? stores.map((s) => join(s, c.dir)) : [join(base, c.dir)];
      if (stores) await rm(join(stores[1]!, c.dir), { recursive: true });
      const files = (await Promise.all(archiveDirs.map((d) => shardFiles(d).catch(() => [] as string[])))).flat().filter((f) => !f.includes('level2'));
      const nonEmpty: string[] = [];
      for (const f of files) if ((await readFile(f)).length > 0) nonEmpty.push(f);
      const pool = nonEmpty.length > 1 ? nonEmpty : files;
      const gone = pool[rand() % pool.length]!;
      const flipped = pool.filter((f) => f !== gone)[rand() % (pool.length - 1)]!;
      await rm(gone);
      const b = await readFile(flipped);
      if (b.length > 0) {
        b[rand() % b.length]! ^= 0x5a;
        await writeFile(flipped, b);
      }
      await checkRanges('damaged');
      const damaged = await bf.verify();
      assert.equal(damaged.archives[0]!.status, 'repairable', `${c.id}: the damage is seen and is repairable`);
      await bf.repair();
      assert.equal((await bf.verify()).archives[0]!.status, 'healthy', `${c.id} after repair`);
      await checkRanges('repaired');

      // serve: one ranged GET of the repaired archive (encrypted archives are served with the key given at start).
      const srv = await startServer(stores ? { stores, failures: 1, keys } : { archive: base, keys });
      try {
        const from = c.size > 0 ? Math.floor(c.size / 3) : 0;
        const res = await fetch(`${srv.base}/files/${encodeURIComponent(c.name)}`, { headers: c.size > 0 ? { Range: `bytes=${from}-` } : {} });
        assert.equal(res.status, c.size > 0 ? 206 : 200);
        assert.deepEqual(new Uint8Array(await res.arrayBuffer()), want.subarray(from));
      } finally {
        await srv.close();
      }
      const again = join(root, 'again.bin');
      await bf.restore(c.name, again, { keys });
      assert.deepEqual(new Uint8Array(await readFile(again)), want);
    } finally {
      await bf.close();
      await cleanup();
    }
  });
}

test('golden v2 stores4: the CLI finds the store set through ./blockframe.json and verifies and restores it', async () => {
  const c = index.cases.find((x) => x.id === 'stores4')!;
  const { dir: root, cleanup } = await tempDir('bf-golden2-cli-');
  try {
    const base = join(root, c.id);
    await cp(join(FIXTURES, c.id), base, { recursive: true });
    const env = { BLOCKFRAME_ARCHIVE: '', BLOCKFRAME_CONFIG: '' };
    const v = runCli(['verify', '--json'], { cwd: base, env });
    assert.equal(v.status, 0, v.stderr);
    const report = JSON.parse(v.stdout) as { status: string; archives: { status: string }[] };
    assert.equal(report.status, 'healthy');
    assert.equal(report.archives.length, 1);
    await mkdir(join(root, 'out'));
    const r = runCli(['restore', c.name, '-o', join(root, 'out', 'x.bin')], { cwd: base, env });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(new Uint8Array(await readFile(join(root, 'out', 'x.bin'))), bytes(c.size, c.seed, c.random));
  } finally {
    await cleanup();
  }
});
