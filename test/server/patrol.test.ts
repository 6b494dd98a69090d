// The background patrol of a running `serve`: bit rot is found and healed with no request touching the archive.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ComputePool, commit } from '../../src/index.js';
import { openServing } from '../../src/engine/serving.js';
import { startPatrol } from '../../src/engine/patrol.js';
import type { PatrolEvent } from '../../src/engine/scrub.js';
import { b3sum, tempDir, writeRandomFile } from '../helpers/fixtures.js';
import { startChild } from './serve-helpers.js';

let root: string;
let cleanup: () => Promise<void>;

before(async () => {
  ({ dir: root, cleanup } = await tempDir('bf-patrol-'));
});
after(() => cleanup());

async function archiveWith(name: string): Promise<{ archive: string; dir: string; shard: string; hash: string }> {
  const archive = join(root, name);
  await mkdir(archive);
  const pool = ComputePool.start();
  try {
    const src = join(root, `${name}.bin`);
    await writeRandomFile(src, 6 * 30 * 4096, 11);
    const r = await commit(src, { archive, tier: 3, segmentSize: 4096, pool });
    const seg = r.manifest.stripes[3]!.data[7]!;
    return { archive, dir: r.dir, shard: join(archive, r.dir, seg.path), hash: seg.hash };
  } finally {
    await pool.close();
  }
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('patrol', () => {
  test('serve --patrol finds and heals injected bit rot by itself: no request touches the archive', async () => {
    const a = await archiveWith('served');
    const ledger = join(root, 'served-ledger');
    // A webhook receiver on 127.0.0.1: the patrol's finding must reach it exactly once.
    const alerts: { kind: string; archive?: string }[] = [];
    const hook = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        alerts.push(JSON.parse(body) as { kind: string; archive?: string });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alert`;
    const s = await startChild(a.archive, ['--patrol', '--patrol-interval', '200ms', '--patrol-period', '2s', '--patrol-rate', '50MB/s', '--ledger', ledger, '--notify-url', hookUrl]);
    try {
      await until('the first patrol run', () => /patrol: run done/.test(s.stderr()));
      const buf = await readFile(a.shard);
      buf[100] = buf[100]! ^ 0x40;
      await writeFile(a.shard, buf);
      assert.notEqual(b3sum(a.shard), a.hash);
      await until('the patrol to heal it', () => /patrol: damage-healed/.test(s.stderr()));
      assert.equal(b3sum(a.shard), a.hash, 'the shard is rebuilt byte-exact');
      const found = s.stderr().match(/patrol: damage-found/g) ?? [];
      assert.equal(found.length, 1, 'one damage-found event');
      assert.match(s.stderr(), new RegExp(`damage-found: .*"archive":"${a.dir}".*segment_97\\.dat`));
      // Later runs find it healthy: still exactly one alert, for that archive.
      await until('the alert', () => alerts.length > 0);
      await until('two more patrol runs', () => (s.stderr().match(/patrol: run done/g) ?? []).length >= 4);
      assert.deepEqual(alerts.map((x) => [x.kind, x.archive]), [['damage-found', a.dir]]);
      // The patrol's coverage and margins are in /metrics.
      const metrics = await (await fetch(`${s.base}/metrics`)).text();
      assert.match(metrics, /^blockframe_scrub_coverage_ratio \d/m);
      assert.match(metrics, /^blockframe_margin_min 3$/m);
    } finally {
      assert.equal(await s.stop(), 0);
      hook.close();
    }
  });

  test('the event hook hears state changes once, and the status gives coverage, oldest proof age and margins', async () => {
    const a = await archiveWith('inproc');
    const serving = openServing({ archive: a.archive });
    const events: PatrolEvent[] = [];
    // A period well above a run's length on a loaded machine: with 1 s, a slow run made the proofs overdue and the
    // hook rightly said so (an 'overdue' event this test does not look for).
    const p = startPatrol(serving, { intervalMs: 100, periodMs: 30_000, ledger: join(root, 'inproc-ledger'), onEvent: (e) => events.push(e) });
    try {
      await until('a first run', () => p.lastRun() !== null);
      const st = p.status()!;
      assert.equal(st.coverage, 1);
      assert.equal(st.onTrack, true);
      assert.equal(st.margin, 3);
      assert.ok(st.oldestProofAgeSeconds !== null && st.oldestProofAgeSeconds < 5);
      await writeFile(a.shard, (await readFile(a.shard)).subarray(10));
      await until('healed', () => events.some((e) => e.kind === 'damage-healed'));
      assert.deepEqual(events.map((e) => e.kind), ['damage-found', 'damage-healed']);
      assert.equal(b3sum(a.shard), a.hash);
    } finally {
      await p.stop();
      await serving.close();
    }
  });

  test('damage beyond repair is announced once, though every run finds it again', async () => {
    const a = await archiveWith('lost');
    const seg = (await readFile(a.shard)).length;
    assert.ok(seg > 0);
    // Four segments of block 3 gone: RS(30,3) can't rebuild them (Tier 3 has no level 2).
    const blockDir = join(a.archive, a.dir, 'blocks', 'block_3', 'segments');
    for (const n of [90, 91, 92, 93]) await rm(join(blockDir, `segment_${n}.dat`));
    const serving = openServing({ archive: a.archive });
    const events: PatrolEvent[] = [];
    let runs = 0;
    const p = startPatrol(serving, { intervalMs: 50, periodMs: 200, ledger: join(root, 'lost-ledger'), onEvent: (e) => events.push(e), onRun: () => runs++ });
    try {
      await until('three runs', () => runs >= 3);
      assert.deepEqual(events.filter((e) => e.kind !== 'overdue').map((e) => e.kind), ['damage-found', 'beyond-repair']);
      assert.equal(p.lastRun()!.status, 'unrecoverable');
      assert.equal(p.status()!.margin, -1);
    } finally {
      await p.stop();
      await serving.close();
    }
  });
});
