// Failure domains end to end on real directories: an archive over several stores survives losing any one of them
// (removed, emptied like an unmounted disk, hung, or failing), repair rebuilds it, and commit is all or nothing.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { commit, list, read, repair, restore, verify } from '../../src/index.js';
import { isBlockFrameError } from '../../src/errors.js';
import { LocalBackend } from '../../src/store/local.js';
import { StoreSet } from '../../src/store/store-set.js';
import { FaultBackend, TimeoutBackend, type FaultOp } from '../../src/store/wrap.js';
import { CLI, runCli, tempDir, writeRandomFile } from '../helpers/fixtures.js';
import { flipBitsRandom } from '../helpers/faults.js';
import { prng } from '../helpers/fixtures.js';

const KiB = 1024;

/** Every file under a directory with its bytes (relative paths), to compare store trees. */
async function tree(dir: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const walk = async (rel: string) => {
    for (const e of await readdir(join(dir, rel), { withFileTypes: true }).catch(() => [])) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.name === '.staging') continue;
      if (e.isDirectory()) await walk(p);
      else out.set(p, await readFile(join(dir, p)));
    }
  };
  await walk('');
  return out;
}

const codeOf = async (p: Promise<unknown>) => p.then(() => 'ok', (e) => (isBlockFrameError(e) ? e.code : `uncoded ${String(e)}`));

/** Shards of each level-1 stripe on each store, read from the archive as stored (count files by store). */
async function filesPerStore(stores: string[], dir: string): Promise<number[]> {
  return Promise.all(stores.map(async (s) => [...(await tree(join(s, dir))).keys()].filter((k) => k.endsWith('.dat')).length));
}

describe('an archive over 4 local stores (failure domains)', () => {
  let work: string;
  let cleanup: () => Promise<void>;
  const cases = [
    { name: 't1.bin', size: 200 * KiB, tier: 1 as const, segmentSize: undefined as number | undefined },
    { name: 't2.bin', size: 300 * KiB + 11, tier: 2 as const, segmentSize: 64 * KiB },
    { name: 't3.bin', size: 1500 * KiB + 7, tier: 3 as const, segmentSize: 16 * KiB },
    { name: 't4.bin', size: 1200 * KiB + 3, tier: 4 as const, segmentSize: 4 * KiB },
  ];
  const data = new Map<string, Uint8Array>();
  let pristine: string;
  const stores = (root: string) => [1, 2, 3, 4].map((i) => join(root, `disk${i}`));

  before(async () => {
    ({ dir: work, cleanup } = await tempDir('bf-stores-'));
    pristine = join(work, 'pristine');
    for (const [i, c] of cases.entries()) {
      const file = join(work, c.name);
      data.set(c.name, await writeRandomFile(file, c.size, 9000 + i));
      const r = await commit(file, { stores: stores(pristine), tier: c.tier, segmentSize: c.segmentSize, groupBlocks: 2 });
      assert.equal(r.status, 'archived');
      assert.equal(r.manifest.placement?.stores, 4);
      assert.equal(r.manifest.placement?.failures, 1);
    }
  });
  after(() => cleanup());

  test('the code follows from the stores: RS(23,9) blocks over 4 stores, each store holds 8 shards of a full block', async () => {
    assert.equal((await verify([], { stores: stores(pristine) })).status, 'healthy', 'every shard is on the store placement names');
    const l = await list({ stores: stores(pristine) });
    const t3 = l.archives.find((a) => a.name === 't3.bin')!;
    assert.equal(t3.dataShards, 23);
    assert.equal(t3.parityShards, 9);
    assert.deepEqual(t3.placement, { stores: 4, failures: 1, rule: 'rotate-v1', shardsPerStore: 8 });
    const files = await filesPerStore(stores(pristine), t3.dir);
    // 1500 KiB in 16 KiB segments = 94 segments = 4 full blocks of 23 + one of 2, each with 9 parity shards.
    assert.equal(files.reduce((a, b) => a + b, 0), 94 + 5 * 9);
    assert.ok(Math.max(...files) - Math.min(...files) <= 2, `balanced: ${files}`);
    // The manifest set and the chunk index are on every store.
    for (const s of stores(pristine)) for (const f of ['manifest.json', 'manifest.copy.json', 'manifest.b3', 'chunks.idx']) await stat(join(s, t3.dir, f));
  });

  for (const lost of [0, 1, 2, 3]) {
    for (const how of lost === 2 ? (['removed', 'emptied'] as const) : (['removed'] as const)) {
      test(`store ${lost + 1} ${how === 'removed' ? 'removed' : 'empty (an unmounted or replaced disk)'}: reads are byte-exact, verify names it, repair returns every archive to healthy`, async () => {
        const root = join(work, `case-${lost}-${how}`);
        await cp(pristine, root, { recursive: true });
        const s = stores(root);
        await rm(s[lost]!, { recursive: true, force: true });
        if (how === 'emptied') await mkdir(s[lost]!);
        for (const c of cases) {
          const out = join(root, `${c.name}.out`);
          await restore(c.name, out, { stores: s });
          assert.deepEqual(new Uint8Array(await readFile(out)), data.get(c.name), `${c.name} restored byte-exact`);
          const off = Math.floor(c.size / 3);
          assert.deepEqual(new Uint8Array(await read(c.name, off, 5000, { stores: s })), data.get(c.name)!.subarray(off, off + 5000));
        }
        const v = await verify([], { stores: s });
        assert.equal(v.status, 'repairable');
        for (const a of v.archives) {
          const st = a.stores[lost]!;
          assert.equal(st.state, 'lost', `${a.name}: store ${lost + 1} reported lost`);
          assert.ok(a.problems.every((p) => p.store === lost + 1), `${a.name}: only store ${lost + 1} has problems`);
        }
        const r = await repair([], { stores: s });
        assert.equal(r.status, 'healthy');
        for (const a of r.archives) {
          // Only what the rebuild needs is read: at most k shard bytes per rebuilt shard byte.
          const k = (await list({ stores: s })).archives.find((x) => x.dir === a.dir)!.dataShards;
          assert.ok(a.bytesReadForRebuild <= k * a.bytesWritten, `${a.name}: read ${a.bytesReadForRebuild} for ${a.bytesWritten} rebuilt (k=${k})`);
        }
        assert.equal((await verify([], { stores: s })).status, 'healthy');
        // Rebuilt files are the originals, byte for byte.
        assert.deepEqual(await tree(s[lost]!), await tree(stores(pristine)[lost]!));
      });
    }
  }

  test('bit rot on a surviving store is still found and healed while another store is dead', async () => {
    const root = join(work, 'rot');
    await cp(pristine, root, { recursive: true });
    const s = stores(root);
    await rm(s[0]!, { recursive: true, force: true });
    const t3 = (await list({ stores: s })).archives.find((a) => a.name === 't3.bin')!;
    const victims = [...(await tree(join(s[1]!, t3.dir))).keys()].filter((k) => k.includes('block_1/segments'));
    await flipBitsRandom(join(s[1]!, t3.dir, victims[0]!), prng(5));
    assert.deepEqual(new Uint8Array(await read('t3.bin', 0, 1500 * KiB + 7, { stores: s })), data.get('t3.bin'));
    const v = await verify(['t3.bin'], { stores: s });
    assert.ok(v.archives[0]!.problems.some((p) => p.kind === 'corrupt' && p.store === 2 && p.path === victims[0]), 'the rotten shard is named on its store');
    assert.equal((await repair(['t3.bin'], { stores: s })).status, 'healthy');
    assert.equal((await verify(['t3.bin'], { stores: s })).status, 'healthy');
  });

  test('a store that hangs costs a read its timeout, not forever; the other stores heal it', async () => {
    const root = join(work, 'hang');
    await cp(pristine, root, { recursive: true });
    const faults = stores(root).map((d) => new FaultBackend(new LocalBackend(d)));
    const set = new StoreSet(
      faults.map((f) => new TimeoutBackend(f, 300)),
      1,
    );
    faults[2]!.hang();
    const start = Date.now();
    const got = await read('t3.bin', 0, 1500 * KiB + 7, { storeSet: set });
    assert.deepEqual(new Uint8Array(got), data.get('t3.bin'));
    assert.ok(Date.now() - start < 15_000, `bounded: ${Date.now() - start} ms`);
    const v = await verify(['t3.bin'], { storeSet: set });
    assert.equal(v.archives[0]!.stores[2]!.state, 'unavailable');
    assert.equal(v.status, 'repairable');
    assert.equal(await codeOf(repair(['t3.bin'], { storeSet: set })), 'BF_STORE_UNAVAILABLE', 'repair refuses to write to a store that does not answer');
    faults[2]!.heal();
    await sleep(5100); // the breaker lets the store back in after 5 s
    assert.equal((await verify(['t3.bin'], { storeSet: set })).status, 'healthy');
  });

  test('the wrong number of stores is refused with a clear error', async () => {
    assert.equal(await codeOf(read('t3.bin', 0, 10, { stores: stores(pristine).slice(0, 3) })), 'BF_STORE_CONFIG');
  });
});

describe('commit across stores is all or nothing', () => {
  let work: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir: work, cleanup } = await tempDir('bf-stores-commit-')));
  after(() => cleanup());

  test('an impossible request (2 stores, survive 2) is refused before anything is written', async () => {
    const file = join(work, 'x.bin');
    await writeRandomFile(file, 50 * KiB, 1);
    const s = [join(work, 'p1'), join(work, 'p2')];
    assert.equal(await codeOf(commit(file, { stores: s, failures: 2 })), 'BF_PLACEMENT_IMPOSSIBLE');
    for (const d of s) assert.deepEqual(await readdir(d).catch(() => []), []);
    const cli = runCli(['commit', '--store', s[0]!, '--store', s[1]!, '--failures', '2', '--json', file]);
    assert.equal(cli.status, 2);
    assert.match(cli.stderr, /cannot survive 2 store failures.*\[BF_PLACEMENT_IMPOSSIBLE\]/);
  });

  for (const [failAt, what] of [
    [{ ops: ['put'] as FaultOp[], key: /segment_5\.dat$/ }, 'a shard put'],
    [{ ops: ['put'] as FaultOp[], key: /manifest\.json$/ }, 'the manifest put'],
  ] as const) {
    test(`a store failing during ${what} fails the commit; nothing stays visible on any store`, async () => {
      const file = join(work, 'y.bin');
      await writeRandomFile(file, 400 * KiB, 2);
      const dirs = [1, 2, 3, 4].map((i) => join(work, `f-${what.replace(/ /g, '_')}-${i}`));
      const faults = dirs.map((d) => new FaultBackend(new LocalBackend(d)));
      for (const f of faults) f.rules.push({ ...failAt, error: 'BF_NO_SPACE' });
      const set = new StoreSet(faults, 1);
      assert.equal(await codeOf(commit(file, { storeSet: set, tier: 3, segmentSize: 16 * KiB })), 'BF_NO_SPACE');
      assert.deepEqual((await list({ storeSet: set })).archives, []);
      for (const d of dirs) {
        const left = [...(await tree(d)).keys()];
        assert.deepEqual(left, [], `${d} holds ${left.join(', ')}`);
      }
      for (const f of faults) f.heal();
      assert.equal((await commit(file, { storeSet: set, tier: 3, segmentSize: 16 * KiB })).status, 'archived');
      assert.equal((await verify([], { storeSet: set })).status, 'healthy');
    });
  }

  test('commit killed (SIGKILL) while publishing: no store shows a half-archive, and the next commit cleans up', async () => {
    const file = join(work, 'z.bin');
    const bytes = await writeRandomFile(file, 6 * 1024 * KiB, 3);
    const s = [1, 2, 3].map((i) => join(work, `k${i}`));
    const args = ['commit', ...s.flatMap((d) => ['--store', d]), '--tier', '3', '--segment-size', '16KiB', file];
    // Kill at an observed point: the moment the pending marker of the publish step exists on the first store.
    const child = spawn(process.execPath, [CLI, ...args], { stdio: 'ignore' });
    const exited = new Promise((r) => child.once('exit', r));
    let killed = false;
    for (let i = 0; i < 4000 && child.exitCode === null; i++) {
      const names = await readdir(s[0]!).catch(() => [] as string[]);
      const dir = names.find((n) => n.startsWith('z.bin_'));
      if (dir && (await stat(join(s[0]!, dir, '.bf-pending')).catch(() => null))) {
        child.kill('SIGKILL');
        killed = true;
        break;
      }
      await sleep(2);
    }
    await exited;
    assert.ok(killed, 'the kill landed while the commit was publishing');
    const l = await list({ stores: s });
    assert.deepEqual(l.damaged, [], 'no half-archive is listed as damaged');
    if (l.archives.length) {
      // The manifests had landed: then it is complete.
      assert.equal((await verify([], { stores: s })).status, 'healthy');
    }
    // The next commit (of anything) removes the leftovers of the dead one, then the file commits whole.
    const other = join(work, 'other.bin');
    await writeRandomFile(other, 10 * KiB, 4);
    await commit(other, { stores: s });
    const r = await commit(file, { stores: s, tier: 3, segmentSize: 16 * KiB });
    assert.ok(r.status === 'archived' || r.status === 'already-archived');
    assert.equal((await verify([], { stores: s })).status, 'healthy');
    assert.deepEqual(new Uint8Array(await read('z.bin', 0, bytes.length, { stores: s })), bytes);
    for (const d of s) for (const name of await readdir(d)) if (name !== '.staging') await stat(join(d, name, 'manifest.json'));
  });
});

describe('blockframe init and repair --replace (CLI)', () => {
  let work: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir: work, cleanup } = await tempDir('bf-stores-cli-')));
  after(() => cleanup());

  test('init saves the stores; a dead disk is rebuilt onto a new one and the config follows', async () => {
    const file = join(work, 'data.bin');
    const bytes = await writeRandomFile(file, 700 * KiB, 8);
    const cwd = work;
    const init = runCli(['init', '--store', 'd1', '--store', 'd2', '--store', 'd3', '--store', 'd4'], { cwd });
    assert.equal(init.status, 0, init.stderr);
    assert.match(init.stdout, /tier 3: RS\(23,9\)/);
    assert.equal(runCli(['commit', '--tier', '3', '--segment-size', '16KiB', 'data.bin'], { cwd }).status, 0);
    assert.match(runCli(['info', 'data.bin'], { cwd }).stdout, /stores\s+4 stores, 8 shards of each stripe per store; survives losing 1/);
    await rm(join(work, 'd3'), { recursive: true });
    const v = runCli(['verify'], { cwd });
    assert.equal(v.status, 3);
    // init gave every store a marker: a missing directory is a disk not mounted, not an empty one (issue 20).
    assert.match(v.stdout, /store 3 \(.*d3\): NOT MOUNTED/);
    const r = runCli(['repair', '--replace', 'd3=d5'], { cwd });
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /updated .*blockframe\.json/);
    const cfg = JSON.parse(await readFile(join(work, 'blockframe.json'), 'utf8'));
    assert.deepEqual(cfg.stores.map((x: string) => x.slice(-2)), ['d1', 'd2', 'd5', 'd4']);
    assert.equal(runCli(['verify'], { cwd }).status, 0);
    const out = runCli(['cat', 'data.bin'], { cwd });
    assert.equal(out.status, 0);
    assert.equal(Buffer.from(out.stdout, 'latin1').length > 0, true);
    await rm(join(work, 'restored.bin'), { force: true });
    assert.equal(runCli(['restore', 'data.bin', '-o', 'restored.bin'], { cwd }).status, 0);
    assert.deepEqual(new Uint8Array(await readFile(join(work, 'restored.bin'))), bytes);
    // A replacement that names no store of the set is refused.
    const bad = runCli(['repair', '--replace', 'nope=d6'], { cwd });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /is not one of the stores.*\[BF_STORE_CONFIG\]/);
    await writeFile(join(work, 'blockframe.json'), '{"version": 1, "stores": []}');
    const broken = runCli(['list'], { cwd });
    assert.equal(broken.status, 2);
    assert.match(broken.stderr, /blockframe\.json.*\[BF_STORE_CONFIG\]/);
  });
});
