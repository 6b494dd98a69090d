// The committed format-version-1 archives (scripts/make-v1-fixtures.mjs) read, verify, serve ranges and repair, forever.
import assert from 'node:assert/strict';
import { cp, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { BlockFrame } from '../../src/index.js';
import { prng, REPO_ROOT, tempDir } from '../helpers/fixtures.js';
import { startServer } from '../server/serve-helpers.js';

interface Case {
  id: string;
  name: string;
  dir: string;
  size: number;
  seed: number;
  tier: number;
  stores: number;
  original_hash: string;
}

const FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'v1');
const index = JSON.parse(await readFile(join(FIXTURES, 'index.json'), 'utf8')) as { format_version: number; cases: Case[] };
const { bytes } = (await import(pathToFileURL(join(FIXTURES, 'bytes.mjs')).href)) as { bytes: (size: number, seed: number) => Uint8Array };

/** A private copy of one fixture (the committed files are never touched). */
async function open(c: Case, root: string): Promise<BlockFrame> {
  await cp(join(FIXTURES, c.id), join(root, c.id), { recursive: true });
  const base = join(root, c.id);
  return c.stores > 1
    ? new BlockFrame({ stores: Array.from({ length: c.stores }, (_, i) => join(base, `store${i}`)), failures: 1 })
    : new BlockFrame({ archive: base });
}

/** Every shard file of the archive (data and parity) on every store, relative paths. */
async function shardFiles(base: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith('.dat')) out.push(p);
    }
  };
  await walk(base);
  return out.sort();
}

test('the fixtures are format version 1 and their manifests say so', async () => {
  assert.equal(index.format_version, 1);
  assert.ok(index.cases.length >= 6);
  for (const c of index.cases) {
    const base = c.stores > 1 ? join(FIXTURES, c.id, 'store0') : join(FIXTURES, c.id);
    const m = JSON.parse(await readFile(join(base, c.dir, 'manifest.json'), 'utf8')) as { format_version: number };
    assert.equal(m.format_version, 1, c.id);
  }
});

for (const c of index.cases) {
  test(`golden v1 ${c.id}: verify, restore, ranges, damage and repair`, async () => {
    const { dir: root, cleanup } = await tempDir('bf-golden-');
    const bf = await open(c, root);
    try {
      const want = bytes(c.size, c.seed);
      const v = await bf.verify();
      assert.equal(v.archives[0]!.status, 'healthy', c.id);
      const out = join(root, 'restored.bin');
      const r = await bf.restore(c.name, out);
      assert.equal(r.originalHash, c.original_hash);
      assert.deepEqual(new Uint8Array(await readFile(out)), want);
      // Seeded ranges, including both ends.
      const rand = prng(c.size + 1);
      for (let i = 0; i < 8 && c.size > 0; i++) {
        const off = i === 0 ? 0 : rand() % c.size;
        const len = i === 1 ? c.size - off : 1 + (rand() % Math.min(20_000, c.size - off));
        assert.deepEqual(new Uint8Array(await bf.read(c.name, off, len)), want.subarray(off, off + len), `${c.id} [${off}, +${len})`);
      }
      // Damage: flip a byte in one shard file and zero another; repair must heal both and leave a byte-exact restore.
      const files = await shardFiles(join(root, c.id));
      const pick = files.filter((f) => !f.includes('level2'));
      const victims = [pick[rand() % pick.length]!, pick[rand() % pick.length]!];
      let hurt = 0;
      for (const [n, f] of victims.entries()) {
        const b = await readFile(f);
        if (b.length === 0) continue;
        hurt++;
        if (n === 0) b[rand() % b.length]! ^= 0x5a;
        else b.fill(0);
        await writeFile(f, b);
      }
      const damaged = await bf.verify();
      if (hurt > 0) assert.notEqual(damaged.archives[0]!.status, 'healthy', `${c.id}: the damage is seen`);
      await bf.repair();
      assert.equal((await bf.verify()).archives[0]!.status, 'healthy', `${c.id} after repair`);
      // serve: a ranged GET of the repaired v1 archive.
      const base = join(root, c.id);
      const srv = await startServer(c.stores > 1 ? { stores: Array.from({ length: c.stores }, (_, i) => join(base, `store${i}`)), failures: 1 } : { archive: base });
      try {
        const res = await fetch(`${srv.base}/files/${encodeURIComponent(c.name)}`, { headers: c.size > 0 ? { Range: `bytes=${Math.floor(c.size / 3)}-` } : {} });
        assert.equal(res.status, c.size > 0 ? 206 : 200);
        assert.deepEqual(new Uint8Array(await res.arrayBuffer()), want.subarray(c.size > 0 ? Math.floor(c.size / 3) : 0));
      } finally {
        await srv.close();
      }
      const again = join(root, 'again.bin');
      await bf.restore(c.name, again);
      assert.deepEqual(new Uint8Array(await readFile(again)), want);
    } finally {
      await bf.close();
      await cleanup();
    }
  });
}
