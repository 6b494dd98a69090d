// blockframe scrub on real directories: stalest first, a ledger that is rebuildable, repair, budgets, kill -9, Ctrl-C.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ComputePool, commit } from '../../src/index.js';
import { CLI, runCli, tempDir, writeRandomFile } from '../helpers/fixtures.js';

let root: string;
let pristine: string;
let cleanup: () => Promise<void>;
let big: string;
let caseNo = 0;

// One Tier 3 archive of 12 blocks (RS(30,3) of 4 KiB segments: 12 stripes of ~135 KB) and three Tier 1 archives.
before(async () => {
  ({ dir: root, cleanup } = await tempDir('bf-scrub-'));
  pristine = join(root, 'pristine');
  await mkdir(pristine);
  const pool = ComputePool.start();
  try {
    const src = join(root, 'big.bin');
    await writeRandomFile(src, 12 * 30 * 4096 - 500, 7);
    big = (await commit(src, { archive: pristine, tier: 3, segmentSize: 4096, pool })).dir;
    for (let i = 0; i < 3; i++) {
      const s = join(root, `small${i}.bin`);
      await writeRandomFile(s, 3000 + i, 100 + i);
      await commit(s, { archive: pristine, pool });
    }
  } finally {
    await pool.close();
  }
});

after(() => cleanup());

const TOTAL_STRIPES = 12 + 3;

async function fresh(): Promise<{ archive: string; ledger: string }> {
  const d = join(root, `case${caseNo++}`);
  await cp(pristine, join(d, 'a'), { recursive: true });
  return { archive: join(d, 'a'), ledger: join(d, 'ledger') };
}

function scrubJson(archive: string, ledger: string, ...args: string[]) {
  const r = runCli(['scrub', '--archive', archive, '--ledger', ledger, '--json', ...args]);
  return { status: r.status, doc: JSON.parse(r.stdout || '{}'), stderr: r.stderr };
}

/** Stripes the ledger has a proof for (entries parse: atomic writes leave no torn file). */
async function provenInLedger(ledger: string): Promise<number> {
  let n = 0;
  const base = join(ledger, 'archives');
  for (const fan of await readdir(base).catch(() => [] as string[])) {
    for (const f of await readdir(join(base, fan))) {
      if (!f.endsWith('.json')) continue;
      const e = JSON.parse(await readFile(join(base, fan, f), 'utf8')) as { proofs: [number, number, number][] };
      for (const [a, b, t] of e.proofs) if (t > 0) n += b - a + 1;
    }
  }
  return n;
}

async function flipByte(path: string, at: number): Promise<void> {
  const buf = await readFile(path);
  buf[at] = buf[at]! ^ 0xff;
  await writeFile(path, buf);
}

describe('scrub', () => {
  test('a full run proves every stripe and records it; deleting the ledger only makes everything stale again', async () => {
    const { archive, ledger } = await fresh();
    const r = scrubJson(archive, ledger);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.doc.status, 'healthy');
    assert.equal(r.doc.checked.stripes, TOTAL_STRIPES);
    assert.equal(r.doc.coverage.coverage, 1);
    assert.equal(r.doc.coverage.onTrack, true);
    assert.equal(await provenInLedger(ledger), TOTAL_STRIPES);
    const st = runCli(['scrub', '--archive', archive, '--ledger', ledger, '--status', '--json']);
    assert.equal(JSON.parse(st.stdout).freshStripes, TOTAL_STRIPES);
    await rm(ledger, { recursive: true });
    const none = JSON.parse(runCli(['scrub', '--archive', archive, '--ledger', ledger, '--status', '--json']).stdout);
    assert.equal(none.provenStripes, 0);
    assert.equal(none.onTrack, false);
    const again = scrubJson(archive, ledger);
    assert.equal(again.status, 0);
    assert.equal(again.doc.checked.stripes, TOTAL_STRIPES);
  });

  test('bit rot is found, repaired lowest margin first, recorded; --no-repair reports it and exits 3; list shows the lower margin', async () => {
    const { archive, ledger } = await fresh();
    const seg = join(archive, big, 'blocks/block_5/segments/segment_151.dat');
    await flipByte(seg, 10);
    await rm(join(archive, big, 'blocks/block_2/parity/block_parity_0.dat'));
    await rm(join(archive, big, 'blocks/block_2/parity/block_parity_1.dat'));
    const only = scrubJson(archive, ledger, '--no-repair');
    assert.equal(only.status, 3, only.stderr);
    assert.equal(only.doc.status, 'repairable');
    assert.deepEqual(only.doc.damaged.map((d: { outcome: string }) => d.outcome), ['not-repaired']);
    assert.equal(only.doc.damaged[0].margin, 1, 'block 2 lost two of its three parity shards');
    const l = JSON.parse(runCli(['list', '--archive', archive, '--ledger', ledger, '--json']).stdout);
    const entry = l.archives.find((a: { dir: string }) => a.dir === big);
    assert.deepEqual([entry.margin, entry.marginFrom], [1, 'scrub']);
    const healed = scrubJson(archive, ledger);
    assert.equal(healed.status, 0, healed.stderr);
    assert.deepEqual(healed.doc.damaged.map((d: { outcome: string }) => d.outcome), ['repaired']);
    assert.equal(runCli(['verify', '--archive', archive]).status, 0);
    const runs = JSON.parse(await readFile(join(ledger, 'runs.json'), 'utf8'));
    assert.deepEqual(runs.at(-1).healed, [big]);
    const after = JSON.parse(runCli(['list', '--archive', archive, '--ledger', ledger, '--json']).stdout);
    assert.equal(after.archives.find((a: { dir: string }) => a.dir === big).margin, 3);
  });

  test('budgeted, rate-limited runs resume with the stalest stripes and reach full coverage in the planned number of runs', async () => {
    const { archive, ledger } = await fresh();
    // 1.64 MB of shards at 1 MB/s with 1.5 s budgets: ceil(1.64 / 1.5) = 2 runs planned; 2 more allowed for the
    // time each run spends starting, listing and writing the ledger on a busy machine.
    const seen: number[] = [];
    for (let run = 0; run < 6 && (seen.at(-1) ?? 0) < 1; run++) {
      const r = scrubJson(archive, ledger, '--rate', '1MB/s', '--budget', '1500ms', '--batch', '64KiB');
      assert.equal(r.status, 0, r.stderr);
      seen.push(r.doc.coverage.coverage);
      assert.ok(r.doc.rate.observed <= 1.1e6, `rate ${r.doc.rate.observed} B/s within 10% of the 1 MB/s limit`);
    }
    assert.equal(seen.at(-1), 1, `coverage per run: ${seen.join(', ')}`);
    assert.ok(seen.length >= 2 && seen.length <= 4, `full coverage in ${seen.length} runs: ${seen.join(', ')}`);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!, 'each run proves stripes no earlier run proved');
  });

  test('kill -9 mid-run: the next run redoes at most the one batch under way, and nothing recorded', async () => {
    const { archive, ledger } = await fresh();
    const child = spawn(process.execPath, [CLI, 'scrub', '--archive', archive, '--ledger', ledger, '--rate', '400KB/s', '--batch', '64KiB'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    const lines = await new Promise<number>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        const n = (err.match(/^scrub: proved /gm) ?? []).length;
        if (n >= 4) {
          child.kill('SIGKILL');
          resolve(n);
        }
      });
      child.once('exit', () => reject(new Error(`scrub ended before it was killed: ${err}`)));
    });
    await new Promise((r) => child.once('exit', r));
    // A batch is printed after its ledger entry is written: the ledger holds at least those, at most one more batch.
    const recorded = await provenInLedger(ledger);
    const printed = [...err.matchAll(/^scrub: proved \S+ stripes (\S+) /gm)].reduce((n, m) => n + m[1]!.split(',').length, 0);
    assert.ok(lines >= 4);
    assert.ok(recorded >= printed && recorded <= printed + 1, `recorded ${recorded}, printed ${printed}`);
    const next = scrubJson(archive, ledger);
    assert.equal(next.status, 0, next.stderr);
    assert.equal(next.doc.checked.stripes, TOTAL_STRIPES - recorded, 'nothing the killed run recorded is proven again');
    assert.equal(next.doc.coverage.coverage, 1);
  });

  test('Ctrl-C exits 130 and leaves a ledger that parses; bad --rate, --budget and --period are one-line usage errors', async () => {
    const { archive, ledger } = await fresh();
    const child = spawn(process.execPath, [CLI, 'scrub', '--archive', archive, '--ledger', ledger, '--rate', '300KB/s', '--batch', '64KiB'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    let sent = false;
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (!sent && err.includes('scrub: proved')) sent = child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    assert.equal(code, 130, err);
    assert.match(err, /\[BF_ABORTED\]/);
    assert.ok((await provenInLedger(ledger)) >= 1);
    for (const [opt, val] of [['--rate', 'fast'], ['--budget', '10 parsecs'], ['--period', '-1d']] as const) {
      const r = runCli(['scrub', '--archive', archive, '--ledger', ledger, opt, val, '--json']);
      assert.equal(r.status, 2, `${opt} ${val}`);
      assert.equal(JSON.parse(r.stdout).error.code, 'BF_USAGE');
      assert.equal(r.stderr.trim().split('\n').length, 1);
      assert.match(r.stderr, new RegExp(`invalid ${opt.slice(2)}`));
    }
  });
});
