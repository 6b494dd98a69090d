// docs/FORMAT.md §13.10-13.11: a version-2 root that also holds the version-3 names (packs/, blobs/, snapshots/,
// catalog/, index/, locks/) lists, verifies, repairs and commits its version-2 archives exactly as without them, and
// never reports, changes or removes anything under those names. Real CLI, the committed v2 fixtures.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { V3_TOP_LEVEL } from '../../src/layout/keys.js';
import { REPO_ROOT, runCli, tempDir, writeRandomFile } from '../helpers/fixtures.js';

const FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'v2');
const H = (c: string): string => c.repeat(64);

/** Version-3 files on one store: a snapshot header set, a name record, an index file, a fresh lock, a pack and a large blob. */
async function addV3(store: string): Promise<void> {
  const files: Record<string, string> = {
    [`snapshots/${H('a')}/snapshot.json`]: '{"format_version":3}\n',
    [`snapshots/${H('a')}/snapshot.copy.json`]: '{"format_version":3}\n',
    [`snapshots/${H('a')}/snapshot.b3`]: `${H('a')}  snapshot.json\n`,
    [`catalog/names/${H('b')}.json`]: '{"format_version":3,"kind":"name","name":"photos","snapshots":[]}\n',
    [`index/${H('c')}.jsonl`]: '{"format_version":3,"kind":"index","created_at":"2026-12-03T15:20:00.000Z"}\n',
    [`locks/${'d'.repeat(32)}.json`]: JSON.stringify({ kind: 'exclusive', pid: 1, host: 'elsewhere', started: new Date().toISOString(), refreshed: new Date().toISOString() }),
    // A pack without a manifest (a half-deleted one) and a pack whose name looks like an archive directory's.
    [`packs/ee/pack_${H('e')}/blocks/block_0/segments/segment_0.dat`]: 'shard bytes',
    [`packs/ff/pack_${H('f')}/manifest.json`]: '{"format_version":3,"name":"pack"}',
    [`blobs/12/blob_${H('1')}/manifest.json`]: '{"format_version":2,"name":"blob"}',
  };
  for (const [k, text] of Object.entries(files)) {
    await mkdir(join(store, k, '..'), { recursive: true });
    await writeFile(join(store, k), text);
  }
}

/** Path → SHA-256 of every file under the version-3 names of `store`. */
async function v3Tree(store: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(join(store, rel), { withFileTypes: true })) {
      const r = `${rel}/${e.name}`;
      if (e.isDirectory()) await walk(r);
      else out[r] = createHash('sha256').update(await readFile(join(store, r))).digest('hex');
    }
  };
  for (const n of V3_TOP_LEVEL) await walk(n);
  return out;
}

/** Run the CLI; its JSON output with `root` spelled ROOT, and its exit status. */
function cli(args: string[], root: string): { status: number; out: string } {
  const r = runCli(args);
  return { status: r.status, out: r.stdout.split(root).join('ROOT') + r.stderr.split(root).join('ROOT').replace(/\d+(\.\d+)? ?(ms|s)\b/g, 'T') };
}

for (const c of [
  { id: 'tier3', stores: 1 },
  { id: 'stores4', stores: 4 },
]) {
  test(`a v2 root (${c.id}) with packs/, blobs/, snapshots/, catalog/, index/ and locks/ lists, verifies, repairs and commits its v2 archives unchanged and reports nothing about them`, async () => {
    const t = await tempDir('bf-v3-names-');
    try {
      const runs: Record<string, { status: number; out: string }[]> = {};
      for (const variant of ['plain', 'with-v3']) {
        const root = join(t.dir, variant);
        await cp(join(FIXTURES, c.id), root, { recursive: true });
        const stores = c.stores === 1 ? [root] : [0, 1, 2, 3].map((i) => join(root, `store${i}`));
        const where = c.stores === 1 ? ['--archive', root] : [...stores.flatMap((s) => ['--store', s]), '--failures', '1'];
        if (variant === 'with-v3') for (const s of stores) await addV3(s);
        const before = await Promise.all(stores.filter(() => variant === 'with-v3').map(v3Tree));
        // Damage the same shard in both variants, so repair has work to do.
        const archive = (await readdir(stores[0]!)).find((n) => n.includes('_'))!;
        const shard = (await readdir(join(stores[0]!, archive), { recursive: true })).filter((f) => f.endsWith('.dat')).sort()[0]!;
        await rm(join(stores[0]!, archive, shard));
        await mkdir(join(t.dir, `${variant}-input`));
        const input = join(t.dir, `${variant}-input`, 'input.bin');
        await writeRandomFile(input, 5000, 7);
        const out = [
          cli(['list', ...where, '--json'], root),
          cli(['verify', ...where, '--json'], root),
          cli(['repair', ...where, '--json'], root),
          cli(['verify', ...where, '--json'], root),
          cli(['commit', ...where, input], root),
          cli(['list', ...where, '--json'], root),
        ];
        runs[variant] = out.map((o) => ({ status: o.status, out: o.out.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, 'TIME') }));
        if (variant === 'with-v3') {
          assert.deepEqual(await Promise.all(stores.map(v3Tree)), before, 'nothing under the v3 names changed or was removed');
          for (const o of out) for (const n of ['packs', 'blobs', 'snapshots', 'catalog', 'index', 'locks']) assert.ok(!new RegExp(`ROOT[^"]*/${n}(/|")`).test(o.out), `${n} reported: ${o.out}`);
        }
      }
      assert.equal(runs['plain']![2]!.status, 0, runs['plain']![2]!.out);
      assert.match(runs['plain']![1]!.out, /"status": "(damaged|repairable)/, 'the damage is seen');
      assert.deepEqual(runs['with-v3'], runs['plain']);
    } finally {
      await t.cleanup();
    }
  });
}
