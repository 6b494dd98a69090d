// Repository locks on real directories as stores (docs/FORMAT.md §13.6 "Locks"): shared beside shared, exclusive
// alone, stale locks (old or of a dead pid) taken over, refresh and release, and two racing processes.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { acquireExclusive, acquireShared, listLocks, LOCK_STALE_MS } from '../../src/archive/repo-lock.js';
import { lockKey } from '../../src/layout/keys.js';
import { codeOf, openStores } from './catalog-helpers.js';

async function lockFiles(dir: string): Promise<string[]> {
  return existsSync(join(dir, 'locks')) ? (await readdir(join(dir, 'locks'))).sort() : [];
}

test('two shared locks stand side by side on every store; release removes each from every store', async () => {
  const s = await openStores(3);
  try {
    const a = await acquireShared(s.repo);
    const b = await acquireShared(s.repo);
    for (const d of s.dirs) assert.deepEqual(await lockFiles(d), [a.key, b.key].map((k) => k.slice('locks/'.length)).sort());
    const f = JSON.parse(await readFile(join(s.dirs[2]!, a.key), 'utf8'));
    assert.deepEqual(Object.keys(f).sort(), ['host', 'kind', 'pid', 'refreshed', 'started']);
    assert.equal(f.kind, 'shared');
    assert.equal(f.pid, process.pid);
    assert.equal(f.host, hostname());
    await a.release();
    await b.release();
    await b.release(); // twice is fine
    for (const d of s.dirs) assert.deepEqual(await lockFiles(d), []);
  } finally {
    await s.cleanup();
  }
});

test('exclusive is refused (BF_REPO_LOCKED, naming the holder) while a fresh shared lock exists, and leaves no lock of its own', async () => {
  const s = await openStores(3);
  try {
    const shared = await acquireShared(s.repo);
    const e = await codeOf(() => acquireExclusive(s.repo));
    assert.equal(e.code, 'BF_REPO_LOCKED');
    assert.equal(e.context.lock, shared.key);
    assert.deepEqual((e.context.holder as { pid: number; kind: string }).pid, process.pid);
    for (const d of s.dirs) assert.equal((await lockFiles(d)).length, 1);
    await shared.release();
    const ex = await acquireExclusive(s.repo);
    // ...and shared is refused while the exclusive one is fresh.
    const e2 = await codeOf(() => acquireShared(s.repo));
    assert.equal(e2.code, 'BF_REPO_LOCKED');
    assert.equal((e2.context.holder as { kind: string }).kind, 'exclusive');
    assert.equal((await codeOf(() => acquireExclusive(s.repo))).code, 'BF_REPO_LOCKED');
    await ex.release();
    await (await acquireShared(s.repo)).release();
  } finally {
    await s.cleanup();
  }
});

test('a stale lock is taken over by exclusive: one not refreshed for 30 minutes (injected clock), or one of a dead pid on this host', async () => {
  const s = await openStores(3);
  try {
    const t0 = Date.parse('2026-12-03T15:00:00.000Z');
    let now = t0;
    const clock = { now: () => now, refreshMs: 0 };
    const old = await acquireShared(s.repo, clock);
    now = t0 + LOCK_STALE_MS - 1000;
    assert.equal((await codeOf(() => acquireExclusive(s.repo, clock))).code, 'BF_REPO_LOCKED', 'still fresh at 29:59');
    now = t0 + LOCK_STALE_MS + 1000;
    const ex = await acquireExclusive(s.repo, clock);
    for (const d of s.dirs) assert.deepEqual(await lockFiles(d), [ex.key.slice('locks/'.length)], 'the stale one is gone from every store');
    await ex.release();
    await old.release(); // already gone: fine

    // A dead pid on this host: a process that has exited.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const t = new Date().toISOString();
    const deadLock = { kind: 'exclusive', pid: dead, host: hostname(), started: t, refreshed: t };
    const elsewhere = { kind: 'shared', pid: dead, host: 'another-host.invalid', started: t, refreshed: t };
    for (const d of s.dirs) {
      await mkdir(join(d, 'locks'), { recursive: true });
      await writeFile(join(d, lockKey('00'.repeat(16))), JSON.stringify(deadLock));
    }
    const sh = await acquireShared(s.repo); // a dead exclusive does not keep a commit out
    await sh.release();
    const ex2 = await acquireExclusive(s.repo);
    for (const d of s.dirs) assert.equal(existsSync(join(d, lockKey('00'.repeat(16)))), false);
    await ex2.release();
    // The same pid on another host is not known to be dead: its lock is fresh for 30 minutes.
    for (const d of s.dirs) {
      await mkdir(join(d, 'locks'), { recursive: true });
      await writeFile(join(d, lockKey('11'.repeat(16))), JSON.stringify(elsewhere));
    }
    const e = await codeOf(() => acquireExclusive(s.repo));
    assert.equal(e.code, 'BF_REPO_LOCKED');
    assert.equal((e.context.holder as { host: string }).host, 'another-host.invalid');
    // An unreadable lock file is damage, not a holder: exclusive removes it.
    for (const d of s.dirs) await writeFile(join(d, lockKey('11'.repeat(16))), 'garbage');
    assert.deepEqual((await listLocks(s.repo)).map((l) => l.lock), [undefined]);
    await (await acquireExclusive(s.repo)).release();
    for (const d of s.dirs) assert.deepEqual(await lockFiles(d), []);
  } finally {
    await s.cleanup();
  }
});

test('a held lock is refreshed on its timer (injected clock and interval) and stays fresh past 30 minutes; abort releases it', async () => {
  const s = await openStores(1);
  try {
    const t0 = Date.parse('2026-12-03T15:00:00.000Z');
    let now = t0;
    const ctl = new AbortController();
    const lock = await acquireShared(s.repo, { now: () => now, refreshMs: 20, signal: ctl.signal });
    now = t0 + LOCK_STALE_MS + 60_000;
    await new Promise((r) => setTimeout(r, 120));
    const f = JSON.parse(await readFile(join(s.dirs[0]!, lock.key), 'utf8'));
    assert.equal(f.started, new Date(t0).toISOString());
    assert.equal(f.refreshed, new Date(now).toISOString());
    // Fresh at the new time, so an exclusive acquirer with the same clock is refused.
    assert.equal((await codeOf(() => acquireExclusive(s.repo, { now: () => now, refreshMs: 0 }))).code, 'BF_REPO_LOCKED');
    ctl.abort();
    // The release runs in the background: wait for it (a refresh in flight must not bring the lock back after it).
    for (let i = 0; i < 100 && (await lockFiles(s.dirs[0]!)).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await lockFiles(s.dirs[0]!), []);
  } finally {
    await s.cleanup();
  }
});

test('a lock taken over by another process is not written back by its refresh: the holder learns it is lost', async () => {
  const s = await openStores(3);
  try {
    const errors: string[] = [];
    const lock = await acquireShared(s.repo, { refreshMs: 0, onRefreshError: (e) => errors.push(String((e as { code?: string }).code)) });
    for (const d of s.dirs) await rm(join(d, lock.key));
    assert.equal((await codeOf(() => lock.refresh())).code, 'BF_REPO_LOCKED');
    assert.equal(lock.lost, true);
    for (const d of s.dirs) assert.deepEqual(await lockFiles(d), []);
    await lock.release();
  } finally {
    await s.cleanup();
  }
});

test('with waitMs an acquirer waits for a blocking lock to go; an abort ends the wait with BF_ABORTED', async () => {
  const s = await openStores(1);
  try {
    const shared = await acquireShared(s.repo);
    setTimeout(() => void shared.release(), 300);
    const ex = await acquireExclusive(s.repo, { waitMs: 10_000 });
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 300);
    assert.equal((await codeOf(() => acquireShared(s.repo, { waitMs: 60_000, signal: ctl.signal }))).code, 'BF_ABORTED');
    await ex.release();
    assert.deepEqual(await lockFiles(s.dirs[0]!), []);
  } finally {
    await s.cleanup();
  }
});

const REPO_LOCK = fileURLToPath(new URL('../../src/archive/repo-lock.js', import.meta.url));
const REPO = fileURLToPath(new URL('../../src/archive/repo.js', import.meta.url));

/**
 * A child that says "ready" once its modules and stores are open, waits for a line on stdin (the parent sends it to
 * both children at once), tries the exclusive lock, holds it a while, and says what happened: {out, from, to}
 * (from/to: when it held the lock, ms since the epoch).
 */
const CHILD = `
import { acquireExclusive } from ${JSON.stringify(REPO_LOCK)};
import { Repository } from ${JSON.stringify(REPO)};
import { once } from 'node:events';
const [settle, ...stores] = process.argv.slice(1);
const repo = await Repository.open({ stores, failures: 1 });
process.stdout.write('ready\\n');
await once(process.stdin, 'data');
let out, from, to;
try {
  const lock = await acquireExclusive(repo, { settleMs: Number(settle) });
  from = Date.now();
  await new Promise((r) => setTimeout(r, 400));
  to = Date.now();
  await lock.release();
  out = 'won';
} catch (err) {
  out = err.code;
}
await repo.close();
console.log(JSON.stringify({ out, from, to }));
process.exit(0);
`;

interface ChildResult {
  out: string;
  from?: number;
  to?: number;
}

/** Start a child; `ready` resolves once it is set to go, `go()` lets it try, `done` gives its result. */
function child(settle: number, stores: string[]): { ready: Promise<void>; go: () => void; done: Promise<ChildResult> } {
  const p = spawn(process.execPath, ['--input-type=module', '-e', CHILD, String(settle), ...stores], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let onReady!: () => void;
  const ready = new Promise<void>((r) => (onReady = r));
  p.stdout.on('data', (b: Buffer) => {
    out += b;
    if (out.startsWith('ready\n')) onReady();
  });
  p.stderr.on('data', (b: Buffer) => (err += b));
  const done = new Promise<ChildResult>((resolve, reject) => {
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out.slice('ready\n'.length).trim())) : reject(new Error(`child exited ${code}: ${err}`))));
  });
  return { ready, go: () => p.stdin.end('go\n'), done };
}

test('two processes racing for the exclusive lock at the same instant: never both hold it at once', async () => {
  const s = await openStores(3);
  try {
    const tally = { rounds: 0, oneWon: 0, noneWon: 0, bothInTurn: 0 };
    for (let round = 0; round < 6; round++) {
      // Half the rounds wait between writing and listing again, so both locks are surely written before either looks.
      const settle = round % 2 === 0 ? 0 : 100;
      const kids = [child(settle, s.dirs), child(settle, s.dirs)];
      await Promise.all(kids.map((k) => k.ready));
      for (const k of kids) k.go();
      const got = await Promise.all(kids.map((k) => k.done));
      for (const g of got) assert.ok(g.out === 'won' || g.out === 'BF_REPO_LOCKED', g.out);
      const won = got.filter((g) => g.out === 'won');
      // Holding intervals never overlap (a winner that came after the other released is fine: the lock was free).
      if (won.length === 2) {
        const [a, b] = won.sort((x, y) => x.from! - y.from!);
        assert.ok(b!.from! >= a!.to!, `round ${round}: both held the exclusive lock at once ${JSON.stringify(got)}`);
        tally.bothInTurn++;
      } else if (won.length === 1) tally.oneWon++;
      else tally.noneWon++;
      tally.rounds++;
      for (const d of s.dirs) assert.deepEqual(await lockFiles(d), [], 'no lock left behind');
    }
    console.log(`# exclusive race: ${JSON.stringify(tally)}`);
  } finally {
    await s.cleanup();
  }
});
