// Store identity (issue 20): every store of an init'ed set carries a marker, so a missing disk is "not mounted"
// (never an empty one to write onto), swapped disks are recognised and read where they are, an unplugged disk is a
// state repair works around, and a wrong S3 secret is denied, not absent. Real directories as disks, the real CLI.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ListObjectsV2Command, CreateBucketCommand } from '@aws-sdk/client-s3';
import { runCli, tempDir, writeRandomFile } from '../helpers/fixtures.js';
import { flipBitsRandom } from '../helpers/faults.js';
import { prng } from '../helpers/fixtures.js';
import { ALICE, startS3, type TestS3 } from '../s3/helpers.js';
import { runCliAsync } from '../store/peers.js';
import { startServe } from '../server/serve-helpers.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const KiB = 1024;

/** Every file under `dir` (relative path → size and BLAKE-free sha256), to show that nothing was written. */
async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (rel: string) => {
    for (const e of await readdir(join(dir, rel), { withFileTypes: true }).catch(() => [])) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(p);
      else out[p] = createHash('sha256').update(await readFile(join(dir, p))).digest('hex');
    }
  };
  await walk('');
  return out;
}

/** A set of `n` directories made with `blockframe init` in `cwd`, holding one committed file. */
async function initSet(cwd: string, n: number, file: string, size: number, seed: number, tier = '3'): Promise<{ disks: string[]; bytes: Uint8Array }> {
  const disks = Array.from({ length: n }, (_, i) => join(cwd, `d${i + 1}`));
  const r = runCli(['init', ...disks.flatMap((d) => ['--store', d])], { cwd });
  assert.equal(r.status, 0, r.stderr);
  const bytes = await writeRandomFile(join(cwd, file), size, seed);
  const c = runCli(['commit', '--tier', tier, '--segment-size', '16KiB', file], { cwd });
  assert.equal(c.status, 0, c.stderr);
  return { disks, bytes };
}

describe('store identity: markers on every store of a set', () => {
  let work: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir: work, cleanup } = await tempDir('bf-identity-')));
  after(() => cleanup());

  test('init writes a marker to every store and records the ids in blockframe.json', async () => {
    const cwd = join(work, 'init');
    await mkdir(cwd);
    const { disks } = await initSet(cwd, 3, 'a.bin', 100 * KiB, 1);
    const cfg = JSON.parse(await readFile(join(cwd, 'blockframe.json'), 'utf8')) as Json;
    assert.match(cfg.set_id, /^[0-9a-f]{32}$/);
    assert.equal(cfg.store_ids.length, 3);
    for (const [i, d] of disks.entries()) {
      const m = JSON.parse(await readFile(join(d, '.bf-store.json'), 'utf8')) as Json;
      assert.deepEqual([m.blockframe_store, m.set_id, m.index, m.stores, m.store_id], [1, cfg.set_id, i, 3, cfg.store_ids[i]]);
      assert.ok(!Number.isNaN(Date.parse(m.created)));
    }
    // init run again over the same disks keeps their ids.
    const again = runCli(['init', '--force', ...disks.flatMap((d) => ['--store', d])], { cwd });
    assert.equal(again.status, 0, again.stderr);
    const cfg2 = JSON.parse(await readFile(join(cwd, 'blockframe.json'), 'utf8')) as Json;
    assert.deepEqual([cfg2.set_id, cfg2.store_ids], [cfg.set_id, cfg.store_ids]);
  });

  test('an unmounted store (directory removed, then recreated empty by hand) is not mounted: no byte lands on it, and after remounting verify says healthy', async () => {
    const cwd = join(work, 'unmounted');
    await mkdir(cwd);
    const { disks, bytes } = await initSet(cwd, 3, 'a.bin', 300 * KiB + 5, 2);
    const d2 = disks[1]!;
    // Unmount: the disk's contents go away, the mount point is gone (then recreated empty by hand).
    await rename(d2, join(cwd, 'd2.disk'));
    for (const recreated of [false, true]) {
      if (recreated) await mkdir(d2);
      await writeRandomFile(join(cwd, 'b.bin'), 50 * KiB, 3);
      const c = runCli(['commit', '--json', 'b.bin'], { cwd });
      assert.equal(c.status, 1, c.stdout);
      assert.equal((JSON.parse(c.stdout) as Json).error.code, 'BF_STORE_NOT_MOUNTED');
      assert.match(c.stderr, /store 2 \(.*d2\) is not mounted.*\[BF_STORE_NOT_MOUNTED\]/);
      const del = runCli(['delete', '--json', 'a.bin'], { cwd });
      assert.equal((JSON.parse(del.stdout) as Json).error.code, 'BF_STORE_NOT_MOUNTED', 'delete would leave the archive on the absent disk');
      const v = runCli(['verify'], { cwd });
      assert.equal(v.status, 3, v.stderr);
      assert.match(v.stdout, /store 2 \(.*d2\): NOT MOUNTED/);
      assert.match(v.stderr, /warning: store 2 \(.*d2\) is not mounted/);
      const vj = JSON.parse(runCli(['verify', '--json'], { cwd }).stdout) as Json;
      assert.deepEqual(vj.archives[0].stores.map((s: Json) => s.state), ['ok', 'absent', 'ok']);
      // Repair rebuilds nothing onto the mount point: what belongs there is queued.
      const r = runCli(['repair', '--json'], { cwd });
      assert.equal(r.status, 3, r.stderr);
      const rj = JSON.parse(r.stdout) as Json;
      assert.equal(rj.archives[0].outcome, 'partial');
      assert.ok(rj.archives[0].queued.length > 0 && rj.archives[0].queued.every((a: Json) => a.store === 2));
      // Reads work from the rest.
      assert.equal(runCli(['restore', 'a.bin', '-o', join(cwd, `out-${recreated}.bin`)], { cwd }).status, 0);
      assert.deepEqual(new Uint8Array(await readFile(join(cwd, `out-${recreated}.bin`))), bytes);
      // Not one byte (not even a directory) was written where the disk should be.
      assert.deepEqual(await readdir(d2).catch(() => null), recreated ? [] : null);
    }
    // Remount: the disk is back where it was.
    await rm(d2, { recursive: true });
    await rename(join(cwd, 'd2.disk'), d2);
    const v = runCli(['verify'], { cwd });
    assert.equal(v.status, 0, v.stdout + v.stderr);
    assert.doesNotMatch(v.stderr, /warning/);
    assert.equal(runCli(['commit', 'b.bin'], { cwd }).status, 0);
    assert.equal(runCli(['verify'], { cwd }).status, 0);
  });

  test('serve checks the markers too: an upload over an unmounted store is refused and writes nothing there; reads work from the rest', async () => {
    // serve opened its stores without the marker check, so PUT /files wrote a commit onto the empty mount point.
    const cwd = join(work, 'serve-unmounted');
    await mkdir(cwd);
    const { disks, bytes } = await initSet(cwd, 3, 'a.bin', 200 * KiB + 9, 21);
    const d3 = disks[2]!;
    await rename(d3, join(cwd, 'd3.disk'));
    await mkdir(d3);
    const srv = await startServe(['--config', join(cwd, 'blockframe.json'), '--allow-upload'], { BLOCKFRAME_TOKEN: 'tok-identity-0123456789' });
    try {
      assert.match(srv.stderr(), /store 3 \(.*d3\) is not mounted/);
      const got = new Uint8Array(await (await fetch(`${srv.base}/files/a.bin`)).arrayBuffer());
      assert.deepEqual(got, bytes, 'reads are rebuilt from the other stores');
      const put = await fetch(`${srv.base}/files/new.bin`, { method: 'PUT', headers: { Authorization: 'Bearer tok-identity-0123456789' }, body: new Uint8Array(4096).fill(7) });
      assert.notEqual(put.status, 201, await put.text());
      assert.deepEqual(await readdir(d3), [], 'not one byte on the empty mount point');
    } finally {
      await srv.stop();
    }
  });

  test('a disk unmounted while serve runs: uploads are refused with nothing on the empty mount point, /readyz names it, and remounted it takes uploads again', async () => {
    // serve checked the markers once, before listening: a disk unmounted later left an empty mount point that
    // uploads (and repairs) wrote onto, on the root disk.
    const cwd = join(work, 'serve-unmounted-later');
    await mkdir(cwd);
    const { disks, bytes } = await initSet(cwd, 3, 'a.bin', 150 * KiB + 3, 23);
    const d3 = disks[2]!;
    const token = 'tok-identity-later-0123456789';
    const srv = await startServe(['--config', join(cwd, 'blockframe.json'), '--allow-upload', '--store-check-interval', '0.2'], { BLOCKFRAME_TOKEN: token });
    const put = (name: string) => fetch(`${srv.base}/files/${name}`, { method: 'PUT', headers: { Authorization: `Bearer ${token}` }, body: new Uint8Array(64 * KiB).fill(name.length) });
    try {
      assert.equal((await put('before.bin')).status, 201);
      await rename(d3, join(cwd, 'd3.disk'));
      await mkdir(d3);
      const refused = await put('while-unmounted.bin');
      assert.notEqual(refused.status, 201, await refused.text());
      assert.deepEqual(await readdir(d3), [], 'not one byte on the empty mount point');
      const got = new Uint8Array(await (await fetch(`${srv.base}/files/a.bin`)).arrayBuffer());
      assert.deepEqual(got, bytes, 'reads are rebuilt from the other stores');
      await new Promise((r) => setTimeout(r, 600));
      const ready = (await (await fetch(`${srv.base}/readyz`)).json()) as Json;
      assert.equal(ready.status, 'degraded', JSON.stringify(ready));
      assert.equal(ready.stores[2].state, 'down');
      assert.match(ready.stores[2].reason, /store marker is missing/);
      await rm(d3, { recursive: true });
      await rename(join(cwd, 'd3.disk'), d3);
      await new Promise((r) => setTimeout(r, 1200));
      assert.equal((await put('after.bin')).status, 201, 'remounted, the disk takes uploads again');
    } finally {
      await srv.stop();
    }
    const v = runCli(['verify', '--json', '--config', join(cwd, 'blockframe.json')], { cwd });
    assert.equal(v.status, 0, v.stdout + v.stderr);
  });

  test('two swapped stores are recognised: read where they are, nothing deleted or rebuilt, init --update fixes the config', async () => {
    const cwd = join(work, 'swapped');
    await mkdir(cwd);
    const { disks, bytes } = await initSet(cwd, 4, 't4.bin', 600 * KiB + 1, 4, '4');
    const [d1, d2] = [disks[0]!, disks[1]!];
    await rename(d1, join(cwd, 'tmp'));
    await rename(d2, d1);
    await rename(join(cwd, 'tmp'), d2);
    const before = await Promise.all(disks.map(tree));
    const v = runCli(['verify'], { cwd });
    assert.equal(v.status, 0, v.stdout + v.stderr);
    assert.match(v.stderr, /store 1 of this set is at .*d2 \(configured as store 2\).*init --update/);
    assert.match(v.stderr, /store 2 of this set is at .*d1 \(configured as store 1\)/);
    const r = runCli(['repair', '--json'], { cwd });
    assert.equal(r.status, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as Json).archives[0].outcome, 'healthy');
    assert.equal(runCli(['restore', 't4.bin', '-o', join(cwd, 'out.bin')], { cwd }).status, 0);
    assert.deepEqual(new Uint8Array(await readFile(join(cwd, 'out.bin'))), bytes);
    // A commit while swapped puts each shard on the disk of its store.
    await writeRandomFile(join(cwd, 'c.bin'), 40 * KiB, 5);
    assert.equal(runCli(['commit', 'c.bin'], { cwd }).status, 0);
    const after = await Promise.all(disks.map(tree));
    for (const [i, t] of after.entries()) for (const [k, h] of Object.entries(before[i]!)) assert.equal(t[k], h, `${k} on disk ${i + 1} untouched`);
    const u = runCli(['init', '--update'], { cwd });
    assert.equal(u.status, 0, u.stderr);
    assert.match(u.stdout, /store 1 is .*d2 \(was .*d1\)/);
    const cfg = JSON.parse(await readFile(join(cwd, 'blockframe.json'), 'utf8')) as Json;
    assert.deepEqual(cfg.stores.map((s: string) => s.slice(-2)), ['d2', 'd1', 'd3', 'd4']);
    const v2 = runCli(['verify'], { cwd });
    assert.equal(v2.status, 0, v2.stdout + v2.stderr);
    assert.doesNotMatch(v2.stderr, /warning/);
  });

  test('a store unplugged for a while: damage elsewhere is healed, its share is queued, a restore that needs it names it; back, verify says healthy', async () => {
    const cwd = join(work, 'unplugged');
    await mkdir(cwd);
    const { disks, bytes } = await initSet(cwd, 3, 'u.bin', 400 * KiB + 3, 6);
    const d3 = disks[2]!;
    await rename(d3, join(cwd, 'd3.shelf'));
    // While it is away, bit rot hits a shard on store 1.
    const dir = (await readdir(disks[0]!)).find((n) => n.startsWith('u.bin_'))!;
    const seg = (await readdir(join(disks[0]!, dir), { recursive: true })).find((n) => n.endsWith('.dat'))!;
    await flipBitsRandom(join(disks[0]!, dir, seg), prng(7));
    const r = runCli(['repair', '--json'], { cwd });
    assert.equal(r.status, 3, r.stderr);
    const a = (JSON.parse(r.stdout) as Json).archives[0];
    assert.equal(a.outcome, 'partial');
    assert.ok(a.actions.some((x: Json) => x.store === 1 && x.action === 'rebuild'), 'the rotten shard on store 1 is in the plan');
    assert.ok(a.queued.every((x: Json) => x.store === 3));
    assert.ok(!a.queued.some((x: Json) => x.store === 1), 'the rotten shard was rebuilt, not queued');
    assert.equal(await readdir(d3).catch(() => null), null, 'nothing created where store 3 belongs');
    // With store 1 gone too, the data needs an absent store: restore names the stores to plug in.
    await rename(disks[0]!, join(cwd, 'd1.shelf'));
    const out = runCli(['restore', '--json', 'u.bin', '-o', join(cwd, 'x.bin')], { cwd });
    assert.equal(out.status, 1, out.stdout);
    const e = (JSON.parse(out.stdout) as Json).error;
    assert.equal(e.code, 'BF_STORE_NOT_MOUNTED');
    assert.match(e.message, /store 1 \(.*d1\)/);
    assert.match(e.message, /store 3 \(.*d3\)/);
    assert.match(e.message, /plug them in/);
    await rename(join(cwd, 'd1.shelf'), disks[0]!);
    await rename(join(cwd, 'd3.shelf'), d3);
    const v = runCli(['verify'], { cwd });
    assert.equal(v.status, 0, v.stdout + v.stderr);
    assert.equal(runCli(['restore', 'u.bin', '-o', join(cwd, 'y.bin')], { cwd }).status, 0);
    assert.deepEqual(new Uint8Array(await readFile(join(cwd, 'y.bin'))), bytes);
  });

  test('repair --replace brings in a new disk: it gets the marker first, the config its id', async () => {
    const cwd = join(work, 'replace');
    await mkdir(cwd);
    const { disks } = await initSet(cwd, 3, 'r.bin', 100 * KiB, 8);
    await rm(disks[1]!, { recursive: true });
    const r = runCli(['repair', '--replace', `${disks[1]}=${join(cwd, 'd9')}`], { cwd });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const cfg = JSON.parse(await readFile(join(cwd, 'blockframe.json'), 'utf8')) as Json;
    const m = JSON.parse(await readFile(join(cwd, 'd9', '.bf-store.json'), 'utf8')) as Json;
    assert.deepEqual([m.set_id, m.index, cfg.store_ids[1], cfg.stores[1].slice(-2)], [cfg.set_id, 1, m.store_id, 'd9']);
    assert.equal(runCli(['verify'], { cwd }).status, 0);
  });

  test('a store of another set in a slot is foreign: left alone, named', async () => {
    const cwd = join(work, 'foreign');
    await mkdir(cwd);
    const { disks } = await initSet(cwd, 3, 'f.bin', 60 * KiB, 9);
    const other = join(work, 'other');
    await mkdir(other);
    assert.equal(runCli(['init', '--store', join(other, 'x1'), '--store', join(other, 'x2')], { cwd: other }).status, 0);
    await rename(disks[2]!, join(cwd, 'd3.away'));
    await rename(join(other, 'x2'), disks[2]!);
    const before = await tree(disks[2]!);
    const v = runCli(['verify', '--json'], { cwd });
    assert.equal(v.status, 3, v.stderr);
    assert.match(v.stderr, /store 3 \(.*d3\) holds the marker of another store set/);
    await writeRandomFile(join(cwd, 'g.bin'), 10 * KiB, 10);
    const c = runCli(['commit', '--json', 'g.bin'], { cwd });
    assert.equal((JSON.parse(c.stdout) as Json).error.code, 'BF_STORE_FOREIGN');
    assert.equal(runCli(['repair'], { cwd }).status, 3);
    assert.deepEqual(await tree(disks[2]!), before, 'the foreign store is untouched');
  });

  test('a single --archive directory gets a marker when commit creates it, and an older directory keeps working unmarked', async () => {
    const root = join(work, 'single');
    const f = join(work, 's.bin');
    await writeRandomFile(f, 20 * KiB, 11);
    assert.equal(runCli(['commit', '--archive', root, f]).status, 0);
    const m = JSON.parse(await readFile(join(root, '.bf-store.json'), 'utf8')) as Json;
    assert.deepEqual([m.index, m.stores], [0, 1]);
    assert.equal(runCli(['verify', '--archive', root]).status, 0);
    // An older root: no marker, archives in it. Everything works as before, and no marker is added.
    await rm(join(root, '.bf-store.json'));
    await writeRandomFile(join(work, 's2.bin'), 20 * KiB, 12);
    assert.equal(runCli(['commit', '--archive', root, join(work, 's2.bin')]).status, 0);
    assert.equal(runCli(['verify', '--archive', root]).status, 0);
    assert.deepEqual((await readdir(root)).filter((n) => n === '.bf-store.json'), []);
  });

  test('an older config (no ids) over unmarked stores works as before; init --update gives them markers', async () => {
    const cwd = join(work, 'legacy');
    await mkdir(cwd);
    const disks = [1, 2, 3].map((i) => join(cwd, `d${i}`));
    await writeRandomFile(join(cwd, 'l.bin'), 80 * KiB, 13);
    assert.equal(runCli(['commit', ...disks.flatMap((d) => ['--store', d]), 'l.bin'], { cwd }).status, 0);
    await writeFile(join(cwd, 'blockframe.json'), JSON.stringify({ version: 1, stores: disks, failures: 1 }));
    assert.equal(runCli(['verify'], { cwd }).status, 0);
    for (const d of disks) assert.ok(!(await readdir(d)).includes('.bf-store.json'));
    const u = runCli(['init', '--update'], { cwd });
    assert.equal(u.status, 0, u.stderr);
    assert.match(u.stdout, /markers written on all 3 stores/);
    const cfg = JSON.parse(await readFile(join(cwd, 'blockframe.json'), 'utf8')) as Json;
    assert.equal(cfg.store_ids.length, 3);
    await rename(disks[0]!, join(cwd, 'd1.away'));
    await mkdir(disks[0]!);
    assert.match(runCli(['verify'], { cwd }).stdout, /store 1 \(.*d1\): NOT MOUNTED/);
  });
});

describe('store identity with an S3 store reached with a wrong secret', () => {
  let work: string;
  let cleanup: () => Promise<void>;
  let s3: TestS3;
  const right = { AWS_ACCESS_KEY_ID: ALICE.accessKey, AWS_SECRET_ACCESS_KEY: ALICE.secretKey, AWS_REGION: 'us-east-1' };
  const wrong = { ...right, AWS_SECRET_ACCESS_KEY: `${ALICE.secretKey}-typo` };
  before(async () => {
    ({ dir: work, cleanup } = await tempDir('bf-identity-s3-'));
    s3 = await startS3();
    await s3.client().send(new CreateBucketCommand({ Bucket: 'bfid' }));
  });
  after(async () => {
    await s3.close();
    await cleanup();
  });

  test('a wrong secret is denied (not absent): nothing written anywhere, and with the right one verify says healthy', async () => {
    const stores = [join(work, 'd1'), join(work, 'd2'), `s3://bfid/set?endpoint=${s3.endpoint}`];
    const cli = (args: string[], env: Record<string, string>) => runCliAsync(args, { cwd: work, env, killAfterMs: 60_000 });
    assert.equal((await cli(['init', ...stores.flatMap((s) => ['--store', s])], right)).status, 0);
    await writeRandomFile(join(work, 'w.bin'), 120 * KiB, 14);
    assert.equal((await cli(['commit', 'w.bin'], right)).status, 0);
    const keys = async () => ((await s3.client().send(new ListObjectsV2Command({ Bucket: 'bfid' }))).Contents ?? []).map((o) => `${o.Key}:${o.Size}`).sort();
    const before = [await keys(), await tree(join(work, 'd1')), await tree(join(work, 'd2'))];
    assert.ok((before[0] as string[]).some((k) => k.startsWith('set/.bf-store.json')), 'the bucket prefix carries its marker');
    const v = await cli(['verify', '--json'], wrong);
    assert.equal(v.status, 3, v.stderr);
    assert.deepEqual((JSON.parse(v.stdout.toString()) as Json).archives[0].stores.map((s: Json) => s.state), ['ok', 'ok', 'denied']);
    assert.doesNotMatch(v.stderr, /not mounted/);
    await writeRandomFile(join(work, 'x.bin'), 30 * KiB, 15);
    const c = await cli(['commit', '--json', 'x.bin'], wrong);
    assert.equal(c.status, 1);
    assert.equal((JSON.parse(c.stdout.toString()) as Json).error.code, 'BF_STORE_DENIED');
    const r = await cli(['repair', '--json'], wrong);
    assert.equal((JSON.parse(r.stdout.toString()) as Json).error.code, 'BF_STORE_DENIED');
    assert.deepEqual([await keys(), await tree(join(work, 'd1')), await tree(join(work, 'd2'))], before, 'no byte written to any store');
    const ok = await cli(['verify'], right);
    assert.equal(ok.status, 0, ok.stdout.toString() + ok.stderr);
  });
});

describe('the config file is found by a documented path', () => {
  let work: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir: work, cleanup } = await tempDir('bf-config-path-')));
  after(() => cleanup());

  test('without ./blockframe.json, $XDG_CONFIG_HOME/blockframe/blockframe.json names the stores (the working directory does not matter)', async () => {
    const xdg = join(work, 'xdg');
    const disks = [join(work, 'd1'), join(work, 'd2')];
    const made = runCli(['init', '--config', join(xdg, 'blockframe', 'blockframe.json'), ...disks.flatMap((d) => ['--store', d])], { cwd: work });
    assert.equal(made.status, 0, made.stderr);
    await writeRandomFile(join(work, 'p.bin'), 10 * KiB, 16);
    const elsewhere = join(work, 'elsewhere');
    await mkdir(elsewhere);
    const env = { XDG_CONFIG_HOME: xdg, BLOCKFRAME_CONFIG: '', BLOCKFRAME_ARCHIVE: '' };
    assert.equal(runCli(['commit', join(work, 'p.bin')], { cwd: elsewhere, env }).status, 0);
    const l = runCli(['list', '--json'], { cwd: elsewhere, env });
    assert.equal(l.status, 0, l.stderr);
    assert.equal((JSON.parse(l.stdout) as Json).archives.length, 1);
    assert.deepEqual(await readdir(elsewhere), [], 'no ./archive_directory was made');
    // ./blockframe.json, when present, comes first.
    await writeFile(join(elsewhere, 'blockframe.json'), JSON.stringify({ version: 1, stores: [join(work, 'e1')], failures: 0 }));
    assert.equal(runCli(['list'], { cwd: elsewhere, env }).status, 1, 'the local config wins: its (missing) store is used');
    const help = runCli(['--help']);
    assert.match(help.stdout, /\$XDG_CONFIG_HOME\/blockframe\/blockframe\.json/);
    assert.match(help.stdout, /\/etc\/blockframe\/blockframe\.json/);
  });
});
