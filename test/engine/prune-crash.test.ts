// kill -9 of `blockframe prune` at each step of docs/FORMAT.md §13.6 (a child process stopped by the test-only hook
// BLOCKFRAME_TEST_PRUNE_PAUSE, then SIGKILL): every snapshot still reads back byte-exact, and the next prune finishes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ComputePool } from '../../src/index.js';
import { loadBlobIndex } from '../../src/archive/blob-index.js';
import { Repository } from '../../src/archive/repo.js';
import { deleteSnapshots } from '../../src/engine/delete-snapshot.js';
import { prune, PRUNE_STEPS } from '../../src/engine/prune.js';
import { listPackDirs } from '../../src/archive/v3-dirs.js';
import { blake3Hex, initBlake3 } from '../../src/integrity/blake3.js';
import { CLI, tempDir } from '../helpers/fixtures.js';
import { assertSnapshots, expected, twoSnapshots, writeSnapshot } from './v3-repo.js';

/** Run `blockframe prune` in a child, wait until it says it paused at `step`, kill -9 it. */
async function pruneKilledAt(archive: string, step: string): Promise<void> {
  const child = spawn(process.execPath, [CLI, 'prune', '--archive', archive], { env: { ...process.env, BLOCKFRAME_TEST_PRUNE_PAUSE: step }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  const paused = await new Promise<boolean>((res) => {
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString();
      if (err.includes(`prune: paused at ${step}\n`)) res(true);
    });
    void exited.then(() => res(false));
  });
  assert.ok(paused, `prune never reached step ${step}: ${err}`);
  child.kill('SIGKILL');
  await exited;
}

describe('kill -9 during prune', () => {
  let pool: ComputePool;
  let root: string;
  let cleanup: () => Promise<void>;
  let template: string;
  let want: Map<string, Map<string, string>>;
  let gone: string[];
  before(async () => {
    await initBlake3();
    pool = ComputePool.start(2);
    ({ dir: root, cleanup } = await tempDir('bf-prune-crash-'));
    template = join(root, 'template');
    await mkdir(template);
    const repo = await Repository.open({ archive: template });
    try {
      const { shared, onlyOne, onlyTwo } = twoSnapshots();
      await writeSnapshot(repo, pool, 'one', [...shared, ...onlyOne], '2026-12-03T10:00:00.000Z');
      const two = await writeSnapshot(repo, pool, 'two', [...shared, ...onlyTwo], '2026-12-03T11:00:00.000Z');
      await deleteSnapshots({ specs: ['one'] }, { archive: template, pool });
      want = new Map([[two.id, expected([...shared, ...onlyTwo])]]);
      gone = onlyOne.map((f) => blake3Hex(f.bytes));
    } finally {
      await repo.close();
    }
  });
  after(async () => {
    await pool.close();
    await cleanup();
  });

  for (const step of PRUNE_STEPS.filter((s) => s !== 'done')) {
    test(`killed at step "${step}": every snapshot reads back byte-exact, and the next prune finishes the job`, async () => {
      const dir = join(root, `at-${step}`);
      await cp(template, dir, { recursive: true });
      await pruneKilledAt(dir, step);
      const repo = await Repository.open({ archive: dir });
      try {
        await assertSnapshots(repo, pool, want, `after a kill at ${step}`);
        const r = await prune({ archive: dir, pool, packTarget: 64 * 1024 });
        await assertSnapshots(repo, pool, want, `after the next prune (${step})`);
        const { index, files } = await loadBlobIndex(repo);
        assert.equal(files, 1, 'one index file is left');
        for (const h of gone) assert.equal(index.has(h), false, 'the deleted snapshot\'s unique blobs are reclaimed');
        // Every pack on disk is indexed and whole (no orphan, no half-deleted pack).
        for (const p of await listPackDirs(repo)) assert.ok(await repo.hasManifest(p.dir), `${p.dir} has a manifest`);
        const indexed = new Set([...index.entries()].map((e) => (e.loc.kind === 'pack' ? e.loc.pack : '')));
        assert.deepEqual((await listPackDirs(repo)).map((p) => p.id).sort(), [...indexed].filter(Boolean).sort(), 'the packs on disk are the indexed ones');
        const again = await prune({ archive: dir, pool });
        assert.deepEqual([again.packs.deleted, again.packs.repacked, again.indexFiles.deleted], [0, 0, 0], `a third prune has nothing to do (second: ${JSON.stringify(r)})`);
      } finally {
        await repo.close();
      }
    });
  }
});
