// Ctrl-C and SIGTERM on the real CLI (issue 18, item 20): real child processes, real signals, real files. An
// interrupted commit or restore removes what it half-wrote, says so and exits 130/143; what a killed one left is
// removed by the next run (dead processes only) and reported by verify and list meanwhile.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI, runCli, tempDir, writeRandomFile } from '../helpers/fixtures.js';

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Start the CLI, wait until `ready()` says it is mid-work, send `sig`, and wait for it to exit. */
async function interrupt(args: string[], ready: () => Promise<boolean>, sig: NodeJS.Signals): Promise<Exit & { sentMidWork: boolean }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.once('exit', (code, signal) => res({ code, signal })));
  let done = false;
  void exited.then(() => (done = true));
  let sentMidWork = false;
  const deadline = Date.now() + 60_000;
  while (!done && Date.now() < deadline) {
    if (await ready()) {
      sentMidWork = !done;
      child.kill(sig);
      break;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const { code, signal } = await exited;
  clearTimeout(killer);
  return { code, signal, stdout, stderr, sentMidWork };
}

/** Bytes of every file under `dir` (0 when it does not exist). */
async function bytesUnder(dir: string): Promise<number> {
  const st = await stat(dir).catch(() => null);
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  let n = 0;
  for (const e of await readdir(dir)) n += await bytesUnder(join(dir, e));
  return n;
}

/** The pid of a process that has exited (so it is not running). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('interrupted commands', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let big: string;
  let archive: string;
  before(async () => {
    ({ dir: root, cleanup } = await tempDir());
    big = join(root, 'big.bin');
    await writeRandomFile(big, 192 * 1024 * 1024, 20);
    archive = join(root, 'archive');
  });
  after(() => cleanup());

  test('Ctrl-C during commit removes its staging, says "interrupted" and exits 130 (--json stays one document)', async () => {
    const staging = join(archive, '.staging');
    const r = await interrupt(['commit', big, '--archive', archive, '--tier', '3', '--segment-size', '1MiB', '--json'], async () => (await bytesUnder(staging)) > 4 * 1024 * 1024, 'SIGINT');
    assert.ok(r.sentMidWork, 'the signal reached the commit while it was writing');
    assert.equal(r.signal, null, `the CLI handles SIGINT itself: ${r.stderr}`);
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /^blockframe: interrupted by SIGINT: .*\[BF_ABORTED\]$/m);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.error.code, 'BF_ABORTED');
    assert.equal(doc.error.signal, 'SIGINT');
    assert.deepEqual(await readdir(staging), [], 'nothing left in .staging');
    assert.equal(runCli(['list', '--archive', archive]).stdout, 'no archives\n');
  });

  test('SIGTERM during restore removes the partial output and exits 143; the output never appears', async () => {
    const c = runCli(['commit', big, '--archive', archive, '--tier', '3', '--segment-size', '1MiB']);
    assert.equal(c.status, 0, c.stderr);
    const out = join(root, 'out');
    await mkdir(out);
    const partial = async () => (await readdir(out)).filter((n) => n.includes('.partial-'));
    const r = await interrupt(['restore', 'big.bin', '-o', out, '--archive', archive], async () => {
      const p = await partial();
      return p.length > 0 && (await bytesUnder(join(out, p[0]!))) > 4 * 1024 * 1024;
    }, 'SIGTERM');
    assert.ok(r.sentMidWork, 'the signal reached the restore while it was writing');
    assert.equal(r.code, 143, r.stderr);
    assert.match(r.stderr, /interrupted by SIGTERM.*\[BF_ABORTED\]/);
    assert.deepEqual(await readdir(out), [], 'no partial file and no output');
  });

  test("restore removes partial files that dead processes left (never a live process's), and says so", async () => {
    const out = join(root, 'out2');
    await mkdir(out);
    const dead = join(out, `.big.bin.partial-${deadPid()}-0badf00d`);
    const live = join(out, `.big.bin.partial-${process.pid}-cafe0001`);
    await writeFile(dead, Buffer.alloc(70_000));
    await writeFile(live, Buffer.alloc(10));
    const r = runCli(['restore', 'big.bin', '-o', out, '--archive', archive, '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual((await readdir(out)).sort(), [`.big.bin.partial-${process.pid}-cafe0001`, 'big.bin']);
    assert.match(r.stderr, /note: removed .*\.big\.bin\.partial-\d+-0badf00d \(68\.4 KiB\), left by an interrupted restore/);
    assert.deepEqual(JSON.parse(r.stdout).removedPartials, [{ path: dead, bytes: 70_000 }]);
  });

  test('verify and list report what a killed commit left in .staging; the next commit removes it', async () => {
    const stale = join(archive, '.staging', `${deadPid()}-0123456789ab`);
    await mkdir(join(stale, 'segments'), { recursive: true });
    await writeFile(join(stale, 'segments', 'segment_0.dat'), Buffer.alloc(5000));
    const v = runCli(['verify', '--archive', archive]);
    assert.equal(v.status, 0, 'leftovers are not damage');
    assert.match(v.stderr, new RegExp(`note: .*/${stale.split('/').pop()} holds 4\\.88 KiB, left by an interrupted commit \\(pid \\d+, not running\\); the next commit removes it`));
    const vj = JSON.parse(runCli(['verify', '--archive', archive, '--json']).stdout);
    assert.deepEqual(vj.leftovers.map((l: { path: string; bytes: number; running: boolean }) => [l.path, l.bytes, l.running]), [[stale, 5000, false]]);
    const l = runCli(['list', '--archive', archive]);
    assert.match(l.stdout, /^big\.bin\t/);
    assert.match(l.stderr, /left by an interrupted commit/);
    assert.equal(JSON.parse(runCli(['list', '--archive', archive, '--json']).stdout).leftovers[0].path, stale);
    const small = join(root, 'small.bin');
    await writeRandomFile(small, 1000, 3);
    assert.equal(runCli(['commit', small, '--archive', archive]).status, 0);
    assert.deepEqual(await readdir(join(archive, '.staging')), []);
    assert.doesNotMatch(runCli(['verify', '--archive', archive]).stderr, /interrupted/);
  });
});
