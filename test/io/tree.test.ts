// Tree walk and safe tree writer on real directories: walk -> write -> walk round-trips; escapes are refused (FORMAT.md 13.3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { chmod, lstat, mkdir, readdir, readFile, readlink, symlink, utimes, lutimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isBlockFrameError, type BlockFrameError, type ErrorCode } from '../../src/errors.js';
import { blake3Hex } from '../../src/integrity/blake3.js';
import { BodyReader, EMPTY_BLOB, encodeEntryLine, type SnapshotEntry } from '../../src/layout/snapshot.js';
import { walkTree, walkTrees, type WalkEntry, type WalkOptions, type WalkSummary } from '../../src/io/tree-walk.js';
import { TreeWriter, utimesSeconds, type TreeWriterOptions } from '../../src/io/tree-write.js';
import { prng, randomBytesSeeded, tempDir, REPO_ROOT } from '../helpers/fixtures.js';

const B = (s: string | number[]) => (typeof s === 'string' ? Buffer.from(s) : Buffer.from(s));
const fsPath = (root: string, rel: Buffer) => Buffer.concat([B(root), B('/'), rel]);
const NON_UTF8 = B([0x6e, 0xff, 0xfe, 0x2e, 0x6a, 0x70, 0x67]); // "n\xff\xfe.jpg"

/** A seeded tree: nested and empty dirs, files 0 B..200 KB, links in and out, a non-UTF-8 name, modes, old mtimes. */
async function makeTree(root: string, seed: number): Promise<{ outside: string }> {
  const next = prng(seed);
  const outside = join(root, '..', 'outside-target');
  await writeFile(outside, 'outside, never to be touched\n');
  const dirs = ['a', 'a/b', 'a/b/c', 'a/empty', 'empty', 'z.dir', 'ro'];
  for (const d of dirs) await mkdir(join(root, d), { recursive: true });
  const sizes = [0, 1, 4095, 4096, 65536, 65537, 200_000];
  const files: [string, number][] = [
    ['a.b', 0o644],
    ['a/b/c/deep.bin', 0o600],
    ['a/b/run.sh', 0o755],
    ['a/0', 0o640],
    ['a/A', 0o644],
    ['z.dir/x', 0o600],
    ['ro/inside', 0o444],
    ['top', 0o644],
  ];
  for (let i = 0; i < 12; i++) files.push([`a/b/f${i}`, i % 2 ? 0o600 : 0o644]);
  let n = 0;
  for (const [f, mode] of files) {
    const size = n < sizes.length ? sizes[n]! : next() % 200_001;
    await writeFile(join(root, f), randomBytesSeeded(size, seed + n++));
    await chmod(join(root, f), mode);
  }
  await writeFile(fsPath(root, NON_UTF8), 'not utf-8 name');
  await symlink('b/c/deep.bin', join(root, 'a/link-in'));
  await symlink(outside, join(root, 'link-out'));
  await symlink('../../nowhere', join(root, 'a/b/dangling'));
  await symlink('b', join(root, 'a/dirlink'));
  await symlink(B([0x78, 0xff]), fsPath(root, B('a/b/bad-target')));
  // Old mtimes, to the microsecond (what Node can set), files and links first, then directories deepest first.
  const old = (i: number) => 946_684_800 + i * 86_400 + ((i * 7919) % 1_000_000) / 1e6;
  n = 0;
  for (const [f] of files) await utimes(join(root, f), old(n), old(n++));
  for (const l of ['a/link-in', 'link-out', 'a/b/dangling', 'a/dirlink']) await lutimes(join(root, l), old(n), old(n++));
  for (const d of [...dirs].reverse()) await utimes(join(root, d), old(n), old(n++));
  await chmod(join(root, 'ro'), 0o555);
  return { outside };
}

interface Seen {
  path: string; // base64 of the bytes
  type: string;
  mode: number;
  mtimeUs: bigint;
  target?: string;
  blob?: string;
}

async function walkAll(root: string, opts: WalkOptions = {}): Promise<{ entries: WalkEntry[]; summary: WalkSummary }> {
  const it = walkTree(root, opts);
  const entries: WalkEntry[] = [];
  for (;;) {
    const r = await it.next();
    if (r.done) return { entries, summary: r.value };
    entries.push(r.value);
  }
}

async function toSnapshotEntry(root: string, e: WalkEntry): Promise<SnapshotEntry> {
  if (e.type === 'dir') return { type: 'dir', path: e.path, mode: e.mode, mtimeNs: e.mtimeNs };
  if (e.type === 'symlink') return { type: 'symlink', path: e.path, target: e.target!, mtimeNs: e.mtimeNs };
  const blob = e.size === 0 ? EMPTY_BLOB : blake3Hex(await readFile(fsPath(root, e.path)));
  return { type: 'file', path: e.path, mode: e.mode, mtimeNs: e.mtimeNs, size: e.size, blob };
}

function seen(e: SnapshotEntry): Seen {
  const us = e.mtimeNs / 1000n;
  const base = { path: e.path.toString('base64'), type: e.type, mtimeUs: us };
  if (e.type === 'symlink') return { ...base, mode: 0, target: e.target.toString('base64') };
  if (e.type === 'dir') return { ...base, mode: e.mode };
  return { ...base, mode: e.mode, blob: e.blob };
}

async function writeAll(src: string, out: string, entries: SnapshotEntry[], opts: TreeWriterOptions = {}) {
  const errors: [string, BlockFrameError][] = [];
  const w = await TreeWriter.open(out, { ...opts, onError: (p, e) => errors.push([p.toString(), e]) });
  for (const e of entries) {
    await w.add(e, e.type === 'file' ? () => createReadStream(fsPath(src, e.path), { highWaterMark: 65536 }) : undefined);
  }
  return { summary: await w.close(), errors };
}

async function listAll(dir: string): Promise<string[]> {
  const out: string[] = [];
  const rec = async (d: Buffer, rel: string) => {
    for (const n of await readdir(d, { encoding: 'buffer' })) {
      const r = rel ? `${rel}/${n.toString('latin1')}` : n.toString('latin1');
      out.push(r);
      const p = Buffer.concat([d, B('/'), n]);
      if ((await lstat(p)).isDirectory()) await rec(p, r);
    }
  };
  await rec(B(dir), '');
  return out.sort();
}

test('a seeded tree walks in path order, writes to OUT and walks back identical (paths, types, modes, mtimes to the µs, targets, hashes)', async () => {
  const { dir, cleanup } = await tempDir('bf-tree-');
  try {
    const src = join(dir, 'src');
    const out = join(dir, 'out');
    await mkdir(src);
    const { outside } = await makeTree(src, 1919);
    const before = await walkAll(src);
    assert.deepEqual(before.summary, { entries: before.entries.length, skipped: 0, errors: 0 });
    const entries = await Promise.all(before.entries.map((e) => toSnapshotEntry(src, e)));
    // The walk's order and shape are a valid body (path order, parents before children).
    const reader = new BodyReader();
    for (const e of entries) reader.line(encodeEntryLine(e).subarray(0, -1));
    assert.ok(entries.some((e) => e.path.equals(NON_UTF8)), 'the non-UTF-8 name is walked byte for byte');
    assert.deepEqual(
      entries.slice(0, 4).map((e) => e.path.toString()),
      ['a', 'a/0', 'a/A', 'a/b'],
    );
    assert.ok(entries.findIndex((e) => e.path.toString() === 'a.b') > entries.findIndex((e) => e.path.toString() === 'a/link-in'), 'a/... before a.b');
    const link = before.entries.find((e) => e.path.toString() === 'link-out')!;
    assert.equal(link.type, 'symlink');
    assert.equal(link.target!.toString(), outside);

    const { summary, errors } = await writeAll(src, out, entries);
    assert.deepEqual(errors, []);
    assert.equal(summary.failed, 0);
    assert.equal(summary.files + summary.dirs + summary.symlinks, entries.length);
    const after = await Promise.all((await walkAll(out)).entries.map((e) => toSnapshotEntry(out, e)));
    assert.deepEqual(after.map(seen), entries.map(seen));
    // Times the source holds to the microsecond come back to the nanosecond; finer ones (the files made without
    // utimes) are cut to the microsecond, all Node's fs API can set.
    let exact = 0;
    for (let i = 0; i < entries.length; i++) {
      const want = entries[i]!.mtimeNs;
      assert.equal(after[i]!.mtimeNs, (want / 1000n) * 1000n, entries[i]!.path.toString());
      if (want % 1000n === 0n) exact++;
    }
    assert.ok(exact >= entries.length - 3, `${exact} of ${entries.length} times exact`);
    assert.equal(await readFile(outside, 'utf8'), 'outside, never to be touched\n');
    assert.ok(!(await listAll(out)).some((n) => n.includes('.bf-')), 'no temp file left');
    assert.equal(await readlink(join(out, 'a/b/c/../../link-in')), 'b/c/deep.bin');
  } finally {
    await chmod(join(dir, 'src', 'ro'), 0o755).catch(() => undefined);
    await chmod(join(dir, 'out', 'ro'), 0o755).catch(() => undefined);
    await cleanup();
  }
});

test('utimesSeconds aims inside the wanted microsecond, also before 1970', async () => {
  const { dir, cleanup } = await tempDir('bf-tree-');
  try {
    const f = join(dir, 'f');
    await writeFile(f, '');
    for (const ns of [0n, 1_715_531_412_123_456_789n, 4_102_444_800_999_999_999n, -1_500n, -86_400_000_000_001n, 999n]) {
      const t = utimesSeconds(ns);
      await utimes(f, t, t);
      const got = (await lstat(f, { bigint: true })).mtimeNs;
      const us = ns >= 0n ? ns / 1000n : (ns - 999n) / 1000n;
      assert.equal(got, us * 1000n, String(ns));
    }
  } finally {
    await cleanup();
  }
});

type Step = { entry: SnapshotEntry; content?: Buffer | Buffer[]; want: ErrorCode | 'ok' };
const dirE = (p: string | Buffer): SnapshotEntry => ({ type: 'dir', path: B(p as string), mode: 0o755, mtimeNs: 1_000_000_000n });
const fileE = (p: string | Buffer, data: Buffer): SnapshotEntry => ({ type: 'file', path: typeof p === 'string' ? B(p) : p, mode: 0o644, mtimeNs: 2_000_000_000n, size: data.length, blob: data.length ? blake3Hex(data) : EMPTY_BLOB });
const linkE = (p: string, target: string): SnapshotEntry => ({ type: 'symlink', path: B(p), target: B(target), mtimeNs: 3_000_000_000n });

async function runSteps(out: string, steps: Step[], opts: TreeWriterOptions = {}): Promise<void> {
  const got: (ErrorCode | 'ok')[] = [];
  const w = await TreeWriter.open(out, opts);
  for (const s of steps) {
    let code: ErrorCode | 'ok' = 'ok';
    const w2 = w as unknown as { opts: TreeWriterOptions };
    w2.opts.onError = (_p, e) => (code = e.code);
    await w.add(s.entry, s.content ? async function* () { yield* [s.content!].flat(); } : undefined);
    got.push(code);
  }
  await w.close();
  assert.deepEqual(got, steps.map((s) => s.want), steps.map((s) => s.entry.path.toString()).join(', '));
}

test('restore refuses to escape OUT: "..", absolute paths, NUL, a link entry then a file below it, links in the way', async () => {
  const { dir, cleanup } = await tempDir('bf-tree-');
  try {
    const outsideDir = join(dir, 'outside');
    const outsideFile = join(dir, 'outside-file');
    await mkdir(outsideDir);
    await writeFile(outsideFile, 'keep');
    const evil = B('evil');
    const out = join(dir, 'out');
    await runSteps(out, [
      { entry: fileE('../escaped', evil), content: evil, want: 'BF_PATH_UNSAFE' },
      { entry: fileE(`${dir}/abs-escaped`, evil), content: evil, want: 'BF_PATH_UNSAFE' },
      { entry: fileE(B([0x61, 0x00, 0x62]), evil), content: evil, want: 'BF_PATH_UNSAFE' },
      { entry: linkE('a', outsideDir), want: 'ok' },
      { entry: fileE('a/evil', evil), content: evil, want: 'BF_PATH_UNSAFE' },
      { entry: dirE('b'), want: 'ok' },
      { entry: fileE('b/../../escaped2', evil), content: evil, want: 'BF_PATH_UNSAFE' },
      { entry: fileE('b/ok', evil), content: evil, want: 'ok' },
      { entry: fileE('b/wrong', evil), content: B('something else'), want: 'BF_HASH_MISMATCH' },
      { entry: fileE('b/x-longer', evil), content: [evil, B('+more')], want: 'BF_HASH_MISMATCH' }, // its first 4 bytes hash right
    ]);
    assert.deepEqual(await readdir(outsideDir), [], 'nothing written through the link');
    assert.deepEqual((await readdir(dir)).sort(), ['out', 'outside', 'outside-file']);
    assert.equal(await readlink(join(out, 'a')), outsideDir, 'the link entry itself is created as a link');
    assert.deepEqual(await listAll(out), ['a', 'b', 'b/ok'], 'no temp file of the failed file is left');

    // An existing symlink in OUT where a directory goes, and where a file goes: refused without force.
    const out2 = join(dir, 'out2');
    await mkdir(out2);
    await symlink(outsideDir, join(out2, 'd'));
    await symlink(outsideFile, join(out2, 'f'));
    await writeFile(join(out2, 'g'), 'existing');
    const steps = (force: boolean): Step[] => [
      { entry: dirE('d'), want: force ? 'ok' : 'BF_PATH_UNSAFE' },
      { entry: fileE('d/evil', evil), content: evil, want: force ? 'ok' : 'BF_OUTPUT_INVALID' },
      { entry: fileE('f', evil), content: evil, want: force ? 'ok' : 'BF_PATH_UNSAFE' },
      { entry: fileE('g', evil), content: evil, want: force ? 'ok' : 'BF_OUTPUT_EXISTS' },
    ];
    await runSteps(out2, steps(false));
    assert.deepEqual(await readdir(outsideDir), []);
    assert.equal(await readFile(outsideFile, 'utf8'), 'keep');
    assert.equal(await readFile(join(out2, 'g'), 'utf8'), 'existing');
    // With force the links themselves are replaced; their targets are untouched.
    await runSteps(out2, steps(true), { force: true });
    assert.deepEqual(await readdir(outsideDir), []);
    assert.equal(await readFile(outsideFile, 'utf8'), 'keep');
    assert.ok((await lstat(join(out2, 'd'))).isDirectory());
    assert.equal(await readFile(join(out2, 'd/evil'), 'utf8'), 'evil');
    assert.ok((await lstat(join(out2, 'f'))).isFile());
    assert.equal(await readFile(join(out2, 'g'), 'utf8'), 'evil');
    assert.deepEqual((await readdir(dir)).sort(), ['out', 'out2', 'outside', 'outside-file']);
  } finally {
    await cleanup();
  }
});

test('the walk skips and reports a FIFO, and several trees go under their base names (equal base names: BF_USAGE)', async () => {
  const { dir, cleanup } = await tempDir('bf-tree-');
  try {
    const one = join(dir, 'x', 'photos');
    const two = join(dir, 'y', 'docs');
    await mkdir(one, { recursive: true });
    await mkdir(two, { recursive: true });
    await writeFile(join(one, 'p.jpg'), 'jpg');
    await writeFile(join(two, 'd.txt'), 'txt');
    execFileSync('mkfifo', [join(one, 'pipe')]);
    const skipped: [string, string][] = [];
    const { entries, summary } = await walkAll(one, { onSkip: (p, k) => skipped.push([p.toString(), k]) });
    assert.deepEqual(entries.map((e) => e.path.toString()), ['p.jpg']);
    assert.deepEqual(skipped, [['pipe', 'fifo']]);
    assert.deepEqual(summary, { entries: 1, skipped: 1, errors: 0 });

    const paths: string[] = [];
    for await (const e of walkTrees([one, two])) paths.push(`${e.type}:${e.path.toString()}`);
    assert.deepEqual(paths, ['dir:docs', 'file:docs/d.txt', 'dir:photos', 'file:photos/p.jpg']);
    await mkdir(join(dir, 'z', 'photos'), { recursive: true });
    await assert.rejects(async () => {
      for await (const _ of walkTrees([one, join(dir, 'z', 'photos')])) void _;
    }, (e) => isBlockFrameError(e, 'BF_USAGE'));
    await assert.rejects(async () => {
      for await (const _ of walkTree(join(one, 'p.jpg'))) void _;
    }, (e) => isBlockFrameError(e, 'BF_USAGE'));
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(async () => {
      for await (const _ of walkTree(one, { signal: ac.signal })) void _;
    }, (e) => isBlockFrameError(e, 'BF_ABORTED'));
  } finally {
    await cleanup();
  }
});

test('an unreadable directory and file are reported with coded errors and the walk goes on (run as an unprivileged user)', async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('needs root to drop to an unprivileged user with setpriv');
    return;
  }
  const { dir, cleanup } = await tempDir('bf-tree-');
  try {
    await chmod(dir, 0o755);
    const root = join(dir, 'r');
    await mkdir(join(root, 'closed'), { recursive: true });
    await mkdir(join(root, 'open'));
    await writeFile(join(root, 'closed', 'hidden'), 'x');
    await writeFile(join(root, 'open', 'secret'), 'x');
    await writeFile(join(root, 'open', 'z'), 'x');
    await chmod(join(root, 'closed'), 0o700);
    await chmod(join(root, 'open', 'secret'), 0o600);
    const mod = join(REPO_ROOT, 'dist', 'src', 'io', 'tree-walk.js');
    const script = `const { walkTree } = await import(${JSON.stringify(mod)});
      const errors = []; const paths = [];
      for await (const e of walkTree(${JSON.stringify(root)}, { onError: (p, e) => errors.push([p.toString(), e.code]) })) paths.push(e.path.toString());
      console.log(JSON.stringify({ paths, errors }));`;
    const outText = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8' });
    const got = JSON.parse(outText) as { paths: string[]; errors: [string, string][] };
    assert.deepEqual(got.paths, ['closed', 'open', 'open/z']);
    assert.deepEqual(got.errors, [['closed', 'BF_FILE_UNREADABLE'], ['open/secret', 'BF_FILE_UNREADABLE']]);
  } finally {
    await cleanup();
  }
});

test('the writer drops set-user-ID, set-group-ID and sticky, applies a directory\'s mode after its children, and stops on abort', async () => {
  const { dir, cleanup } = await tempDir('bf-tree-');
  try {
    const out = join(dir, 'out');
    const data = B('x');
    const ac = new AbortController();
    const w = await TreeWriter.open(out, { signal: ac.signal });
    assert.ok(await w.add({ type: 'dir', path: B('s'), mode: 0o1555, mtimeNs: 5_000_000_000n }));
    assert.ok(await w.add({ ...fileE('s/suid', data), mode: 0o6755 } as SnapshotEntry, async function* () { yield data; }));
    assert.ok(await w.add({ ...fileE('s/t', data), mode: 0o400 } as SnapshotEntry, async function* () { yield data; }));
    ac.abort();
    await assert.rejects(w.add(fileE('u', data), async function* () { yield data; }), (e) => isBlockFrameError(e, 'BF_ABORTED'));
    await w.close();
    assert.equal((await lstat(join(out, 's/suid'))).mode & 0o7777, 0o755);
    assert.equal((await lstat(join(out, 's/t'))).mode & 0o7777, 0o400);
    const s = await lstat(join(out, 's'), { bigint: true });
    assert.equal(Number(s.mode & 0o7777n), 0o555);
    assert.equal(s.mtimeNs, 5_000_000_000n, 'the directory mtime is set after its last child');
    assert.deepEqual(await readdir(out), ['s']);
    await chmod(join(out, 's'), 0o755);
  } finally {
    await cleanup();
  }
});
