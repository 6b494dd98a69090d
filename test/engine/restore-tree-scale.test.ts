// Restore of 20,000 small files through the CLI: time and peak RSS (run with BF_SCALE=1; not a timed unit test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ComputePool } from '../../src/compute/pool.js';
import { CLI, prng, randomBytesSeeded, REPO_ROOT, tempDir } from '../helpers/fixtures.js';
import { commitTestTree } from '../helpers/tree-snapshot.js';

const FILES = Number(process.env.BF_SCALE_FILES ?? 20_000);

test(`restore of ${FILES} small files (1-8 KiB) through the CLI: time and peak RSS`, { skip: !process.env.BF_SCALE }, async () => {
  const { dir, cleanup } = await tempDir('bf-rt-scale-');
  const pool = ComputePool.start(2);
  try {
    const store = join(dir, 'store');
    const src = join(dir, 'src');
    await mkdir(store);
    const next = prng(20_000);
    for (let d = 0; d < FILES / 100; d++) {
      await mkdir(join(src, `d${String(d).padStart(3, '0')}`), { recursive: true });
      for (let f = 0; f < 100; f++) writeFileSync(join(src, `d${String(d).padStart(3, '0')}`, `f${f}.bin`), randomBytesSeeded(1024 + (next() % 7168), d * 100 + f));
    }
    await commitTestTree({ archive: store }, pool, src, 'many', 64 * 1024 * 1024);
    const lib = join(REPO_ROOT, 'dist', 'src', 'index.js');
    const script = join(dir, 'no-fsync.mjs');
    writeFileSync(script, `import { restoreTree } from ${JSON.stringify(lib)};\nconst r = await restoreTree('many', process.argv[2], { archive: ${JSON.stringify(store)}, durability: 'none' });\nprocess.exitCode = r.exitCode;\n`);
    const noFsync = (out: string) => [script, out];
    const runs: [string, (out: string) => string[]][] = [
      ['batched fsync (CLI)', (out) => [CLI, 'restore', 'many', '-o', out, '--archive', store, '--quiet']],
      ['no fsync (library)', noFsync],
    ];
    for (const [label, args] of runs) {
      const out = join(dir, `out-${label.replace(/\W/g, '')}`);
      const t0 = Date.now();
      const r = spawnSync('/usr/bin/time', ['-f', '%M %e', process.execPath, ...args(out)], { encoding: 'utf8' });
      const secs = (Date.now() - t0) / 1000;
      assert.equal(r.status, 0, r.stderr);
      const [kb] = r.stderr.trim().split('\n').at(-1)!.split(' ');
      process.stdout.write(`# restore ${FILES} files (${label}): ${secs.toFixed(1)} s, peak RSS ${(Number(kb) / 1024).toFixed(0)} MiB\n`);
      assert.equal((await readdir(out)).length, FILES / 100);
      assert.deepEqual(await readFile(join(out, 'd007/f42.bin')), await readFile(join(src, 'd007/f42.bin')));
    }
  } finally {
    await pool.close();
    await cleanup();
  }
});
