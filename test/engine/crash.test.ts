// kill -9 during commit: no half-archive is ever visible, and the next run cleans the stale staging. Kill points
// are observed, not timed: the commit is killed once its staging holds a seeded number of files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { commit, restore } from '../../src/index.js';
import { CLI, prng, tempDir, writeRandomFile } from '../helpers/fixtures.js';

/** Files under a directory tree (0 when it does not exist). */
async function countFiles(dir: string): Promise<number> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).length;
}

test('commit killed at seeded points (after N staged files) leaves either nothing or a complete archive', async () => {
  const { dir: root, cleanup } = await tempDir();
  try {
    const src = join(root, 'crash.bin');
    const data = await writeRandomFile(src, 24 * 1024 * 1024, 77);
    const rand = prng(2026);
    let killedMidCommit = 0;
    for (let i = 0; i < 8; i++) {
      const archive = join(root, `archive-${i}`);
      // Tier 2, and Tier 4 (384 segments in 13 blocks, one level-2 group) every other run.
      const [tier, segmentSize] = i % 2 ? ([4, 64 * 1024] as const) : ([2, 1024 * 1024] as const);
      const child = spawn(process.execPath, [CLI, 'commit', src, '--archive', archive, '--tier', String(tier), '--segment-size', String(segmentSize)], { stdio: 'ignore' });
      const exited = new Promise((r) => child.once('exit', r));
      // Tier 2 stages 24 segments + 72 parity files; Tier 4 stages hundreds: kill after 1..60 of them.
      const target = 1 + (rand() % 60);
      while (child.exitCode === null && (await countFiles(join(archive, '.staging'))) < target) await sleep(1);
      const killed = child.exitCode === null;
      child.kill('SIGKILL');
      await exited;
      if (killed) killedMidCommit++;
      const dirs = (await readdir(archive).catch(() => [] as string[])).filter((d) => !d.startsWith('.'));
      assert.ok(dirs.length <= 1, dirs.join());
      if (dirs.length === 1) {
        const out = join(root, `out-${i}`);
        await restore('crash.bin', out, { archive });
        assert.deepEqual(new Uint8Array(await readFile(out)), data);
      }
      // The next commit succeeds and removes what the killed one left in staging.
      const r = await commit(src, { archive, tier, segmentSize });
      assert.equal(r.status, dirs.length === 1 ? 'already-archived' : 'archived');
      assert.deepEqual(await readdir(join(archive, '.staging')), []);
    }
    // Every kill lands while staging holds files (the commit can't finish before its target count is reached).
    assert.equal(killedMidCommit, 8);
  } finally {
    await cleanup();
  }
});
