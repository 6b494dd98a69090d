// Regression tests for faults found by trying BlockFrame against real-world failure reports (issue 13): each test
// names what broke, and covers the whole kind (every command, every printer) rather than the one input.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, cp, mkdir, readFile, readdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { commit, info, read, repair, restore, verify } from '../../src/index.js';
import { isBlockFrameError } from '../../src/errors.js';
import { blake3Hex } from '../../src/integrity/blake3.js';
import { CLI, runCli, tempDir, writeRandomFile } from '../helpers/fixtures.js';

const KiB = 1024;
const codeOf = async (p: Promise<unknown>) => p.then(() => 'ok', (e) => (isBlockFrameError(e) ? e.code : `uncoded: ${String(e)}`));
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/;

/** Rewrite an archive's manifest set consistently (all copies and the checksum agree) with `edit` applied. */
async function forgeManifest(adir: string, edit: (m: any) => void): Promise<void> {
  const m = JSON.parse(await readFile(join(adir, 'manifest.json'), 'utf8'));
  edit(m);
  const text = `${JSON.stringify(m, null, 2)}\n`;
  for (const f of ['manifest.json', 'manifest.copy.json', 'manifest.b3']) await chmod(join(adir, f), 0o644).catch(() => undefined);
  await writeFile(join(adir, 'manifest.json'), text);
  await writeFile(join(adir, 'manifest.copy.json'), text);
  await writeFile(join(adir, 'manifest.b3'), `${blake3Hex(new TextEncoder().encode(text))}  manifest.json\n`);
}

describe('issue 13: faults from the field', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir: root, cleanup } = await tempDir('bf-field-')));
  after(() => cleanup());

  test('two repairs (and a verify) at once: they serialize; no BF_INTERNAL, no temp file reported as damage', async () => {
    const archive = join(root, 'two-repairs');
    const f = join(root, 'c1.bin');
    await writeRandomFile(f, 3 * 1024 * KiB, 1);
    const r = await commit(f, { archive, tier: 2, segmentSize: 256 * KiB });
    await rm(join(r.path, 'segments/segment_0.dat'));
    const p = join(r.path, 'parity/segment_1_parity_1.dat');
    await chmod(p, 0o644);
    const buf = await readFile(p);
    buf[5] ^= 1;
    await writeFile(p, buf);
    const run = (args: string[]) =>
      new Promise<{ code: number; out: string; err: string }>((resolve) => {
        const c = spawn(process.execPath, [CLI, ...args, '--archive', archive], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        c.stdout.on('data', (d) => (out += d));
        c.stderr.on('data', (d) => (err += d));
        c.on('exit', (code) => resolve({ code: code ?? -1, out, err }));
      });
    const [a, b, v] = await Promise.all([run(['repair']), run(['repair']), run(['verify', '--json'])]);
    for (const x of [a, b]) {
      assert.equal(x.code, 0, x.err);
      assert.doesNotMatch(x.err, /BF_INTERNAL/);
    }
    const report = JSON.parse(v.out);
    for (const arch of report.archives) for (const prob of arch.problems) assert.notEqual(prob.kind, 'unexpected', `verify saw ${prob.path}`);
    assert.equal((await verify([], { archive })).status, 'healthy');
  });

  test('a re-commit of the original heals: lost shards are rebuilt (repaired) or rewritten; damaged manifests are replaced', async () => {
    const archive = join(root, 'recommit');
    const f = join(root, 'rc.bin');
    await writeRandomFile(f, 300 * KiB, 2);
    const r = await commit(f, { archive });
    // Repairable damage: repair from what is there.
    await rm(join(r.path, 'parity_1.dat'));
    assert.equal((await commit(f, { archive })).status, 'repaired');
    assert.equal((await verify([], { archive })).status, 'healthy');
    // Every shard gone: rewritten from the file in hand.
    for (const n of ['data.dat', 'parity_0.dat', 'parity_1.dat', 'parity_2.dat']) await rm(join(r.path, n));
    const cli = runCli(['commit', '--archive', archive, f]);
    assert.equal(cli.status, 0, cli.stderr);
    assert.match(cli.stdout, /^rewritten: /);
    assert.equal(runCli(['verify', '--archive', archive]).status, 0);
    // Both manifests invalid: still found as that archive, and rewritten.
    await writeFile(join(r.path, 'manifest.json'), 'garbage');
    await writeFile(join(r.path, 'manifest.copy.json'), 'garbage');
    assert.equal((await commit(f, { archive })).status, 'rewritten');
    assert.equal((await verify([], { archive })).status, 'healthy');
    // Settings that differ are named, and applied only with --force.
    const note = runCli(['commit', '--archive', archive, '--tier', '2', '--segment-size', '64KiB', f]);
    assert.match(note.stderr, /tier 2 \(the archive is tier 1\).*not applied.*--force/);
    const forced = runCli(['commit', '--archive', archive, '--tier', '2', '--segment-size', '64KiB', '--force', f]);
    assert.equal(forced.status, 0, forced.stderr);
    assert.equal((await info('rc.bin', { archive })).manifest.tier, 2);
    assert.equal((await verify([], { archive })).status, 'healthy');
  });

  test('names with control characters are escaped in every human printer; --json keeps them exact', async () => {
    const archive = join(root, 'escape');
    const name = 'x\ny\tz\r\u001b[2J.bin';
    const f = join(root, 'esc.bin');
    await writeRandomFile(f, 5000, 3);
    const r = await commit(f, { archive, name });
    await rm(join(r.path, 'parity_0.dat'));
    for (const args of [['list'], ['verify'], ['info', name], ['find', name], ['repair', '--dry-run'], ['info', 'no\u001b[2Jsuch']]) {
      const x = runCli([...args, '--archive', archive]);
      assert.doesNotMatch(x.stdout, RAW_CONTROL, `${args[0]} stdout`);
      assert.doesNotMatch(x.stderr, RAW_CONTROL, `${args[0]} stderr`);
    }
    assert.match(runCli(['list', '--archive', archive]).stdout, /x\\ny\\tz\\r\\x1b\[2J\.bin/);
    assert.equal(JSON.parse(runCli(['list', '--json', '--archive', archive]).stdout).archives[0].name, name);
  });

  test('a missing archive root is an error for every reading command; an empty one has no archives', async () => {
    const missing = join(root, 'no-such-root');
    for (const args of [['list'], ['verify'], ['repair'], ['find', 'x'], ['info', 'x'], ['cat', 'x'], ['restore', 'x', '-o', join(root, 'o')]]) {
      const x = runCli([...args, '--archive', missing]);
      assert.equal(x.status, 1, `${args[0]}: ${x.stderr}`);
      assert.match(x.stderr, /no archive directory at .*\[BF_ARCHIVE_ROOT_MISSING\]/, args[0]);
    }
    const empty = join(root, 'empty-root');
    await mkdir(empty);
    const l = runCli(['list', '--archive', empty]);
    assert.equal(l.status, 0);
    assert.equal(l.stdout, 'no archives\n');
  });

  test('--json covers errors for every command: one JSON document on stdout with the code, and a non-zero exit', async () => {
    const archive = join(root, 'json');
    const f = join(root, 'j.bin');
    await writeRandomFile(f, 3000, 4);
    await commit(f, { archive });
    for (const args of [
      ['commit', join(root, 'nope.bin')],
      ['list', '--archive', join(root, 'nope')],
      ['find', 'nope'],
      ['info', 'nope'],
      ['verify', '--segment', 'x', 'j.bin'],
      ['repair', 'nope'],
      ['init'],
      ['commit', '--segment-size', '1', f],
      ['commit', '--tier', '9', f],
    ]) {
      const x = runCli([...args, '--json', ...(args.includes('--archive') ? [] : ['--archive', archive])]);
      assert.notEqual(x.status, 0, args.join(' '));
      const doc = JSON.parse(x.stdout);
      assert.match(doc.error?.code ?? doc.errors?.[0]?.code, /^BF_[A-Z_]+$/, args.join(' '));
    }
    // verify A NOSUCH checks A and reports NOSUCH, rather than aborting the run.
    const v = runCli(['verify', '--json', '--archive', archive, 'j.bin', 'nosuch']);
    assert.equal(v.status, 1);
    const doc = JSON.parse(v.stdout);
    assert.equal(doc.archives.length, 1);
    assert.equal(doc.archives[0].status, 'healthy');
    assert.deepEqual(doc.notFound.map((n: any) => [n.name, n.code]), [['nosuch', 'BF_ARCHIVE_NOT_FOUND']]);
  });

  test('error messages name the real subject and cause', async () => {
    const archive = join(root, 'messages');
    const f = join(root, 'm.bin');
    await writeRandomFile(f, 3000, 5);
    const r = await commit(f, { archive });
    const out = runCli(['restore', '--archive', archive, 'm.bin', '-o', '/no/such/dir/x']);
    assert.equal(out.status, 1);
    assert.match(out.stderr, /cannot write \/no\/such\/dir\/x: \/no\/such\/dir is missing \[BF_OUTPUT_INVALID\]/);
    assert.doesNotMatch(out.stderr, /partial/);
    const prefix = runCli(['info', '--archive', archive, r.originalHash.slice(0, 3)]);
    assert.match(prefix.stderr, /a hash prefix needs at least 4 hex digits/);
    const range = runCli(['cat', '--archive', archive, 'm.bin', '--range', '99999999999999999999-']);
    assert.equal(range.status, 2);
    assert.match(range.stderr, /START is too large/);
    const seg = runCli(['commit', '--archive', archive, '--segment-size', '1', f]);
    assert.equal(seg.status, 2);
    assert.match(seg.stderr, /invalid segment size 1: use 4 KiB to 1 GiB \[BF_INVALID_SIZE\]/);
    assert.equal(await codeOf(commit(f, { archive, segmentSize: 1 << 31 })), 'BF_INVALID_SIZE');
    assert.equal(await codeOf(commit(f, { archive, name: 'n'.repeat(5000) })), 'BF_USAGE');
    await writeFile(join(r.path, 'manifest.json'), '{"SECRET-CONTENT": 1');
    await writeFile(join(r.path, 'manifest.copy.json'), 'SECRET-CONTENT');
    const dmg = runCli(['info', '--archive', archive, 'm.bin']);
    assert.equal(dmg.status, 1);
    assert.match(dmg.stderr, /exists but its manifest is damaged.*\[BF_MANIFEST_INVALID\]/);
    assert.doesNotMatch(dmg.stderr, /SECRET/, 'file contents are never echoed');
  });

  test('restore keeps the mode and mtime, writes DIR/name for -o DIR, and - is stdout; old archives restore as before', async () => {
    const archive = join(root, 'restore');
    const f = join(root, 'tool.sh');
    const data = await writeRandomFile(f, 7000, 6);
    await chmod(f, 0o751);
    const when = new Date('2020-02-02T02:02:02.000Z');
    await utimes(f, when, when);
    await commit(f, { archive });
    const dir = join(root, 'outdir');
    await mkdir(dir);
    assert.equal(runCli(['restore', '--archive', archive, 'tool.sh', '-o', dir]).status, 0);
    const st = await stat(join(dir, 'tool.sh'));
    assert.equal(st.mode & 0o777, 0o751);
    assert.equal(st.mtime.toISOString(), when.toISOString());
    assert.deepEqual(new Uint8Array(await readFile(join(dir, 'tool.sh'))), data);
    const { spawnSync } = await import('node:child_process');
    const stdout = spawnSync(process.execPath, [CLI, 'restore', '--archive', archive, 'tool.sh', '-o', '-']);
    assert.equal(stdout.status, 0);
    assert.deepEqual(new Uint8Array(stdout.stdout), data);
    // An archive written before `source` existed restores with default permissions.
    const adir = join(archive, (await readdir(archive)).find((d) => d.startsWith('tool.sh_'))!);
    await forgeManifest(adir, (m) => delete m.source);
    const out = join(root, 'old.out');
    await restore('tool.sh', out, { archive });
    assert.equal((await stat(out)).mode & 0o777, 0o644);
  });

  test('a consistent manifest claiming absurd sizes (2^53-1, 1 TiB shards) fails fast and leaves nothing behind', async () => {
    const archive = join(root, 'absurd');
    const f = join(root, 'a.bin');
    await writeRandomFile(f, 3000, 7);
    const r = await commit(f, { archive });
    const huge = Number.MAX_SAFE_INTEGER;
    await forgeManifest(r.path, (m) => {
      m.size = huge;
      m.segment_size = huge;
      m.stripes[0].shard_size = huge;
      m.stripes[0].data[0].size = huge;
      for (const p of m.stripes[0].parity) p.size = huge;
    });
    for (const args of [['verify'], ['cat', r.dir], ['restore', r.dir, '-o', join(root, 'absurd.out')], ['repair']]) {
      const start = Date.now();
      const x = runCli([...args, '--archive', archive]);
      assert.ok(x.status === 1 || x.status === 4, `${args[0]} exit ${x.status}: ${x.stderr}`);
      assert.doesNotMatch(x.stderr, /BF_INTERNAL|Assertion|heap/);
      assert.ok(Date.now() - start < 20_000, `${args[0]} took ${Date.now() - start} ms`);
    }
    assert.deepEqual((await readdir(root)).filter((n) => n.includes('absurd.out')), []);
    // A Tier 2 archive claiming 1 TiB segments: the chunk index would be read in one 2 GiB read.
    const g = join(root, 't2.bin');
    await writeRandomFile(g, 100 * KiB, 8);
    const t2 = await commit(g, { archive: join(root, 'absurd2'), tier: 2, segmentSize: 64 * KiB });
    await forgeManifest(t2.path, (m) => {
      m.segment_size = 2 ** 40;
      m.size = 2 ** 40 + 1;
    });
    const x = runCli(['verify', '--archive', join(root, 'absurd2')]);
    assert.equal(x.status, 4);
    assert.match(x.stdout, /manifest/);
  });

  test('symlinks inside an archive are never followed: verify, reads and repair agree, and repair never deletes what reads need', async () => {
    const f = join(root, 'sym.bin');
    const data = await writeRandomFile(f, 200 * KiB, 9);
    // Tier 3: a whole block directory replaced by a link to a good copy elsewhere.
    const a3 = join(root, 'sym3');
    const r3 = await commit(f, { archive: a3, tier: 3, segmentSize: 4 * KiB });
    const away = join(root, 'block1-copy');
    await cp(join(r3.path, 'blocks/block_1'), away, { recursive: true });
    await rm(join(r3.path, 'blocks/block_1'), { recursive: true });
    await symlink(away, join(r3.path, 'blocks/block_1'));
    assert.equal((await verify([], { archive: a3 })).status, 'unrecoverable');
    assert.equal(await codeOf(read('sym.bin', 0, 200 * KiB, { archive: a3 })), 'BF_UNRECOVERABLE');
    const rp = await repair([], { archive: a3 });
    assert.equal(rp.status, 'unrecoverable');
    assert.ok((await stat(join(r3.path, 'blocks/block_1')).catch(() => null)) !== null, 'the link is still there');
    assert.equal((await readdir(join(away, 'segments'))).length > 0, true, 'the link target is untouched');
    // Tier 2: the parity directory is a link; reads don't need it, so repair replaces it with a real one.
    const a2 = join(root, 'sym2');
    const r2 = await commit(f, { archive: a2, tier: 2, segmentSize: 64 * KiB });
    const paway = join(root, 'parity-copy');
    await cp(join(r2.path, 'parity'), paway, { recursive: true });
    await rm(join(r2.path, 'parity'), { recursive: true });
    await symlink(paway, join(r2.path, 'parity'));
    assert.equal((await verify([], { archive: a2 })).status, 'repairable');
    assert.deepEqual(new Uint8Array(await read('sym.bin', 0, 200 * KiB, { archive: a2 })), data);
    assert.equal((await repair([], { archive: a2 })).status, 'healthy');
    assert.ok((await stat(join(r2.path, 'parity'))).isDirectory());
    assert.equal((await verify([], { archive: a2 })).status, 'healthy');
    assert.ok((await readdir(paway)).length > 0, 'the link target is untouched');
    // A symlinked manifest is a damaged copy (repaired), not a dead store.
    await rm(join(r2.path, 'manifest.json'));
    await symlink(join(r2.path, 'manifest.copy.json'), join(r2.path, 'manifest.json'));
    const v = await verify([], { archive: a2 });
    assert.deepEqual(v.archives[0]!.problems.map((p) => `${p.kind} ${p.path}`), ['manifest manifest.json']);
    assert.equal((await repair([], { archive: a2 })).status, 'healthy');
  });

  test("commit's stale-staging cleanup removes only its own dead entries, and never through a symlink", async () => {
    const archive = join(root, 'staging');
    const f = join(root, 's.bin');
    await writeRandomFile(f, 3000, 10);
    await commit(f, { archive });
    const st = join(archive, '.staging');
    await mkdir(join(st, 'not-ours'));
    await writeFile(join(st, 'notes.txt'), 'keep');
    await mkdir(join(st, '999999999-aaaaaaaaaaaa'));
    await writeRandomFile(join(root, 's2.bin'), 4000, 11);
    await commit(join(root, 's2.bin'), { archive });
    assert.deepEqual((await readdir(st)).sort(), ['not-ours', 'notes.txt']);
    // A symlinked .staging is refused, and what it points to is untouched.
    const outside = join(root, 'outside');
    await mkdir(join(outside, '999999999-bbbbbbbbbbbb'), { recursive: true });
    await rm(st, { recursive: true });
    await symlink(outside, st);
    await writeRandomFile(join(root, 's3.bin'), 5000, 12);
    assert.equal(await codeOf(commit(join(root, 's3.bin'), { archive })), 'BF_STORE_NOT_A_FILE');
    assert.deepEqual(await readdir(outside), ['999999999-bbbbbbbbbbbb']);
  });

  test('a wrong chunks_hash in a consistent manifest: verify, repair and reads give one verdict, never BF_INTERNAL', async () => {
    const archive = join(root, 'chunks-hash');
    const f = join(root, 'ch.bin');
    await writeRandomFile(f, 100 * KiB, 13);
    const r = await commit(f, { archive, tier: 2, segmentSize: 64 * KiB });
    await forgeManifest(r.path, (m) => (m.stripes[1].chunks_hash = '0'.repeat(64)));
    const v = await verify([], { archive });
    assert.equal(v.status, 'unrecoverable');
    assert.ok(v.archives[0]!.problems.some((p) => p.kind === 'manifest' && /chunks_hash/.test(p.detail)));
    assert.equal((await repair([], { archive })).status, 'unrecoverable');
    assert.equal(await codeOf(read('ch.bin', 70 * KiB, 10, { archive })), 'BF_MANIFEST_INVALID');
    assert.equal(runCli(['cat', '--archive', archive, 'ch.bin']).stderr.includes('BF_INTERNAL'), false);
  });
});

describe('issue 13: full disks (tmpfs mounts, as root)', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let mounted = false;
  const mnt = () => join(root, 'small');
  before(async () => {
    ({ dir: root, cleanup } = await tempDir('bf-full-'));
    await mkdir(mnt());
    const { spawnSync } = await import('node:child_process');
    mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt()]).status === 0;
  });
  after(async () => {
    if (mounted) (await import('node:child_process')).spawnSync('umount', [mnt()]);
    await cleanup();
  });

  test('ENOSPC is BF_NO_SPACE in commit (shards or manifests) and in repair, and nothing half-written stays', async (t) => {
    if (!mounted) return t.skip('needs root to mount a small tmpfs');
    const archive = join(mnt(), 'archive');
    const big = join(root, 'big.bin');
    await writeRandomFile(big, 3 * 1024 * KiB, 14);
    assert.equal(await codeOf(commit(big, { archive })), 'BF_NO_SPACE');
    assert.deepEqual((await readdir(archive)).filter((n) => !n.startsWith('.')), []);
    assert.deepEqual(await readdir(join(archive, '.staging')), []);
    // Near full: fill the disk up to a few KiB, then commit a file whose shards fit but whose manifests do not.
    const small = join(root, 'small.bin');
    await writeRandomFile(small, 100 * KiB, 15);
    const r = await commit(small, { archive });
    await rm(join(r.path, 'parity_2.dat'));
    const filler = join(mnt(), 'filler');
    const { spawnSync } = await import('node:child_process');
    spawnSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4k', 'count=100000'], { stdio: 'ignore' });
    const x = runCli(['repair', '--archive', archive]);
    assert.equal(x.status, 1);
    assert.match(x.stderr, /\[BF_NO_SPACE\]/);
    await rm(filler);
    assert.equal(runCli(['repair', '--archive', archive]).status, 0);
  });

  test('one full disk among three stores: the commit fails with BF_NO_SPACE and no store shows anything', async (t) => {
    if (!mounted) return t.skip('needs root to mount a small tmpfs');
    const stores = [join(root, 'd1'), join(root, 'd2'), join(mnt(), 'd3')];
    const f = join(root, 'three.bin');
    await writeRandomFile(f, 6 * 1024 * KiB, 17);
    assert.equal(await codeOf(commit(f, { stores, tier: 3, segmentSize: 64 * KiB })), 'BF_NO_SPACE');
    for (const d of stores) {
      const left = (await readdir(d, { recursive: true }).catch(() => [] as string[])).filter((n) => !n.startsWith('.staging'));
      assert.deepEqual(left, [], `${d}: ${left.join(', ')}`);
    }
    const small = join(root, 'small3.bin');
    await writeRandomFile(small, 64 * KiB, 18);
    assert.equal((await commit(small, { stores })).status, 'archived');
    assert.equal((await verify([], { stores })).status, 'healthy');
  });

  test('a read-only filesystem is a clear store error, not BF_INTERNAL', async (t) => {
    if (!mounted) return t.skip('needs root to mount a small tmpfs');
    const { spawnSync } = await import('node:child_process');
    const ro = join(root, 'ro');
    await mkdir(ro);
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,ro', 'tmpfs', ro]).status !== 0) return t.skip('mount -o ro failed');
    try {
      const f = join(root, 'x.bin');
      await writeRandomFile(f, 1000, 16);
      const x = runCli(['commit', '--archive', join(ro, 'a'), f]);
      assert.equal(x.status, 1);
      assert.match(x.stderr, /read-only filesystem.*\[BF_(STORE_DENIED|IO)\]/);
    } finally {
      spawnSync('umount', [ro]);
    }
  });
});


