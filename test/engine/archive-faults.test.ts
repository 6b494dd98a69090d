// Regression tests for issue 18's archive items: long file names (13), an empty file's lost shards (14) and
// manifest fault combinations (15). Real files, the real CLI in child processes, the library where exact state matters.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { commit, repair, verify } from '../../src/index.js';
import { blake3Hex } from '../../src/integrity/blake3.js';
import { merkleRootHex } from '../../src/integrity/merkle.js';
import { merkleLeaves } from '../../src/layout/manifest.js';
import { runCli, tempDir, writeRandomFile } from '../helpers/fixtures.js';

describe('issue 18.13: names up to the file-system limit archive', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir: root, cleanup } = await tempDir('bf-longname-')));
  after(() => cleanup());

  // 255 bytes is the component limit of ext4, XFS, btrfs and tmpfs: ASCII, and 2-, 3- and 4-byte UTF-8.
  const names = ['a'.repeat(186), 'n'.repeat(251) + '.bin', '日本'.repeat(42) + 'xyz', '😀'.repeat(63) + 'abc'];

  for (const [i, name] of names.entries()) {
    test(`a ${Buffer.byteLength(name)}-byte name (${[...name][0]}…) commits, re-commits, verifies, repairs and restores; the manifest keeps it exactly`, async () => {
      const archive = join(root, `arc${i}`);
      const src = join(root, `src${i}`);
      await mkdir(src);
      const data = await writeRandomFile(join(src, name), 5000 + i, 180 + i);
      const c = runCli(['commit', join(src, name), '--archive', archive, '--json']);
      assert.equal(c.status, 0, c.stderr);
      const doc = JSON.parse(c.stdout);
      assert.equal(doc.results[0].name, name);
      const again = runCli(['commit', join(src, name), '--archive', archive, '--json']);
      assert.equal(again.status, 0, again.stderr);
      assert.equal(JSON.parse(again.stdout).results[0].status, 'already-archived');
      const [dir] = await readdir(archive).then((d) => d.filter((x) => !x.startsWith('.')));
      assert.ok(Buffer.byteLength(dir!) <= 255);
      const m = JSON.parse(await readFile(join(archive, dir!, 'manifest.json'), 'utf8'));
      assert.equal(m.name, name, 'the stored name is exact');
      assert.equal(runCli(['verify', name, '--archive', archive]).status, 0);
      const rep = runCli(['repair', name, '--archive', archive]);
      assert.equal(rep.status, 0, rep.stderr);
      // Restore to a directory (the name made safe) and to an explicit output of the full name (its temp file too).
      const out = join(root, `out${i}`);
      await mkdir(out);
      const r1 = runCli(['restore', name, '--archive', archive, '-o', `${out}/`]);
      assert.equal(r1.status, 0, r1.stderr);
      const full = join(out, 'full');
      await mkdir(full);
      const r2 = runCli(['restore', name, '--archive', archive, '-o', join(full, name)]);
      assert.equal(r2.status, 0, r2.stderr);
      assert.deepEqual(new Uint8Array(await readFile(join(full, name))), data);
      assert.deepEqual(await readdir(full), [name], 'no temp file left');
    });
  }
});



describe('issue 18.14: an empty file whose shards were all deleted', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir: root, cleanup } = await tempDir('bf-empty-')));
  after(() => cleanup());

  for (const tier of ['1', '2', '3']) {
    test(`tier ${tier}: verify and repair agree with cat and restore (repairable, then rebuilt from the manifest), with and without chunks.idx`, async () => {
      const archive = join(root, `t${tier}`);
      const src = join(root, `empty${tier}.bin`);
      await writeFile(src, new Uint8Array(0));
      assert.equal(runCli(['commit', src, '--archive', archive, '--tier', tier]).status, 0);
      const [dir] = (await readdir(archive)).filter((d) => !d.startsWith('.'));
      const adir = join(archive, dir!);
      const m = JSON.parse(await readFile(join(adir, 'manifest.json'), 'utf8'));
      const shards: string[] = m.stripes.flatMap((s: { data: { path: string }[]; parity: { path: string }[] }) => [...s.data, ...s.parity].map((x) => x.path));
      assert.equal(shards.length, 4);
      for (const p of shards) await rm(join(adir, p));
      if (tier === '3') await rm(join(adir, 'chunks.idx'));
      // cat and restore read nothing, so they succeed ...
      const cat = runCli(['cat', `empty${tier}.bin`, '--archive', archive]);
      assert.equal(cat.status, 0, cat.stderr);
      assert.equal(cat.stdout, '');
      // ... and verify agrees that nothing is lost: every shard is repairable (exit 3), none unrecoverable (exit 4).
      const v = runCli(['verify', `empty${tier}.bin`, '--archive', archive, '--json']);
      assert.equal(v.status, 3, v.stdout + v.stderr);
      const doc = JSON.parse(v.stdout);
      assert.equal(doc.archives[0].status, 'repairable');
      assert.ok(doc.archives[0].problems.every((p: { repairable: boolean }) => p.repairable));
      const dry = runCli(['repair', `empty${tier}.bin`, '--archive', archive, '--dry-run']);
      assert.equal(dry.status, 3, dry.stdout + dry.stderr);
      assert.match(dry.stdout, /from the manifest: an empty shard/);
      const rep = runCli(['repair', `empty${tier}.bin`, '--archive', archive]);
      assert.equal(rep.status, 0, rep.stdout + rep.stderr);
      for (const p of shards) assert.equal((await stat(join(adir, p))).size, 0, p);
      assert.equal(runCli(['verify', `empty${tier}.bin`, '--archive', archive]).status, 0);
      const out = join(root, `restored${tier}.bin`);
      assert.equal(runCli(['restore', `empty${tier}.bin`, '--archive', archive, '-o', out]).status, 0);
      assert.equal((await stat(out)).size, 0);
    });
  }
});

type CopyState = 'intact' | 'edited' | 'missing' | 'torn';
const STATES: readonly CopyState[] = ['intact', 'edited', 'missing', 'torn'];
const SET = ['manifest.json', 'manifest.copy.json', 'manifest.b3'] as const;

describe('issue 18.15: manifest fault combinations (never pick a copy that can\'t be proven over one that can)', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let archive: string;
  let adir: string;
  let dir: string;
  /** The committed bytes of manifest.json (= manifest.copy.json) and manifest.b3. */
  let orig: { text: string; sum: string };
  const sumOf = (text: string) => `${blake3Hex(new TextEncoder().encode(text))}  manifest.json\n`;
  /** A valid manifest with one field edited, in the writer's own layout (so only that field differs). */
  const edit = (f: (m: any) => void) => {
    const m = JSON.parse(orig.text);
    f(m);
    return `${JSON.stringify(m, null, 2)}\n`;
  };

  /** A consistent forgery: one segment's hash changed and the Merkle root recomputed, so the copy still validates. */
  const forgeShardHash = (m: any) => {
    m.stripes[1].data[0].hash = 'ab'.repeat(32);
    m.merkle.root = merkleRootHex(merkleLeaves(m));
  };

  before(async () => {
    ({ dir: root, cleanup } = await tempDir('bf-manifests-'));
    archive = join(root, 'arc');
    const src = join(root, 'orig.bin');
    await writeRandomFile(src, 200_000, 15);
    const r = await commit(src, { archive, tier: 2, segmentSize: 64 * 1024 });
    adir = r.path;
    dir = r.dir;
    orig = { text: await readFile(join(adir, 'manifest.json'), 'utf8'), sum: await readFile(join(adir, 'manifest.b3'), 'utf8') };
    assert.equal(orig.sum, sumOf(orig.text));
  });
  after(() => cleanup());

  /** Put the three files in the given states: `edited` is `renamed` for a manifest and its checksum for manifest.b3. */
  async function setUp(states: readonly CopyState[], renamed: string): Promise<void> {
    for (const [i, f] of SET.entries()) {
      const p = join(adir, f);
      await rm(p, { force: true });
      const good = i === 2 ? orig.sum : orig.text;
      const body = { intact: good, edited: i === 2 ? sumOf(renamed) : renamed, missing: null, torn: good.slice(0, Math.floor(good.length / 2)) }[states[i]!];
      if (body !== null) await writeFile(p, body);
    }
  }
  const files = async () => Promise.all(SET.map((f) => readFile(join(adir, f), 'utf8').catch(() => null)));

  // Every combination of intact / edited / missing / torn for the three files. "edited" is the attack of the issue:
  // manifest.json or its copy renamed (valid JSON, validates), and manifest.b3 forged to match the renamed text.
  // The intact text is proven by the directory name (it carries the name the archive was committed under), so it
  // wins wherever it survives, whatever the checksum says; a renamed copy is never proven, so when it is all that
  // is left, verify calls the manifest unrecoverable and repair rewrites nothing from it.
  for (const j of STATES) {
    for (const c of STATES) {
      for (const s of STATES) {
        const states = [j, c, s] as const;
        test(`manifest.json ${j}, manifest.copy.json ${c}, manifest.b3 ${s}`, async () => {
          const renamed = edit((m) => (m.name = 'renamed.bin'));
          await setUp(states, renamed);
          const before = await files();
          const intactSurvives = j === 'intact' || c === 'intact';
          const editedSurvives = j === 'edited' || c === 'edited';
          const v = await verify([dir], { archive });
          const a = v.archives[0]!;
          const manifestProblems = a.problems.filter((p) => p.kind === 'manifest');
          if (intactSurvives) {
            const bad = SET.filter((_, i) => states[i] !== 'intact');
            assert.equal(a.status, bad.length ? 'repairable' : 'healthy');
            assert.equal(a.name, 'orig.bin', 'the proven copy is chosen');
            assert.deepEqual(manifestProblems.map((p) => p.path).sort(), [...bad].sort());
            assert.ok(manifestProblems.every((p) => p.repairable));
            const r = await repair([dir], { archive });
            assert.equal(r.archives[0]!.outcome, bad.length ? 'repaired' : 'healthy');
            assert.deepEqual(await files(), [orig.text, orig.text, orig.sum], 'the set is rewritten from the proven copy');
            assert.equal((await verify([dir], { archive })).status, 'healthy');
          } else {
            assert.equal(a.status, 'unrecoverable');
            assert.ok(manifestProblems.some((p) => !p.repairable));
            if (editedSurvives) assert.ok(manifestProblems.some((p) => /does not match the directory name/.test(p.detail)), JSON.stringify(manifestProblems));
            const r = await repair([dir], { archive });
            assert.equal(r.archives[0]!.outcome, 'unrecoverable');
            assert.deepEqual(await files(), before, 'nothing is rewritten from a copy that can\'t be proven');
          }
        });
      }
    }
  }

  test('only a renamed copy left: committing the file again rewrites the archive under its own name', async () => {
    const renamed = edit((m) => (m.name = 'renamed.bin'));
    await setUp(['edited', 'missing', 'edited'], renamed);
    const r = await commit(join(root, 'orig.bin'), { archive, tier: 2, segmentSize: 64 * 1024 });
    assert.equal(r.status, 'rewritten');
    assert.equal(r.dir, dir);
    const now = await files();
    assert.equal(JSON.parse(now[0]!).name, 'orig.bin');
    assert.equal((await verify([dir], { archive })).status, 'healthy');
    orig = { text: now[0]!, sum: now[2]! };
  });

  // Edits the directory name can't see: then the chunk index and the shard files, then a checksum match, then reading order.
  const rows: { what: string; text: () => string; states: readonly CopyState[]; chosen: 'orig' | 'edited' }[] = [
    { what: 'generator edited in manifest.json, checksum intact: the copy the checksum proves', text: () => edit((m) => (m.generator = 'someone else')), states: ['edited', 'intact', 'intact'], chosen: 'orig' },
    { what: 'generator edited in manifest.copy.json, checksum intact', text: () => edit((m) => (m.generator = 'someone else')), states: ['intact', 'edited', 'intact'], chosen: 'orig' },
    { what: 'chunks_hash edited in manifest.json, checksum missing: the copy chunks.idx confirms', text: () => edit((m) => (m.stripes[1].chunks_hash = '0'.repeat(64))), states: ['edited', 'intact', 'missing'], chosen: 'orig' },
    { what: 'chunks_hash edited in manifest.json, checksum forged to match it: chunks.idx outranks the checksum', text: () => edit((m) => (m.stripes[1].chunks_hash = '0'.repeat(64))), states: ['edited', 'intact', 'edited'], chosen: 'orig' },
    { what: 'a shard hash (and the Merkle root) edited in manifest.json, checksum missing: the copy the shard file confirms', text: () => edit(forgeShardHash), states: ['edited', 'intact', 'missing'], chosen: 'orig' },
    { what: 'a shard hash (and the Merkle root) edited in manifest.json, checksum forged to match it: the shard file outranks the checksum', text: () => edit(forgeShardHash), states: ['edited', 'intact', 'edited'], chosen: 'orig' },
    { what: 'created_at edited in manifest.json, checksum missing: nothing tells them apart, reading order (manifest.json)', text: () => edit((m) => (m.created_at = '2000-01-01T00:00:00.000Z')), states: ['edited', 'intact', 'missing'], chosen: 'edited' },
    { what: 'created_at edited in manifest.copy.json, checksum missing: reading order (manifest.json)', text: () => edit((m) => (m.created_at = '2000-01-01T00:00:00.000Z')), states: ['intact', 'edited', 'missing'], chosen: 'orig' },
  ];
  for (const row of rows) {
    test(`unprovable by name: ${row.what}`, async () => {
      const text = row.text();
      await setUp(row.states, text);
      const want = row.chosen === 'orig' ? orig.text : text;
      const v = await verify([dir], { archive });
      const a = v.archives[0]!;
      assert.deepEqual(a.manifestText, want);
      const r = await repair([dir], { archive });
      assert.notEqual(r.archives[0]!.outcome, 'unrecoverable', JSON.stringify(a.problems));
      assert.deepEqual(await files(), [want, want, sumOf(want)]);
    });
  }
});
