// On a real pseudo-terminal (util-linux `script`) long work shows a progress bar; on a pipe it shows nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { CLI, haveCommand, runCli, tempDir, writeRandomFile } from '../helpers/fixtures.js';

test('progress bar with bytes, MB/s and ETA on a TTY only', { skip: !haveCommand('script') && 'util-linux script not installed' }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const src = join(dir, 'big.bin');
    await writeRandomFile(src, 48 * 1024 * 1024, 5);
    const archive = join(dir, 'a');
    const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const cmd = [process.execPath, CLI, 'commit', src, '--archive', archive, '--tier', '3', '--segment-size', '1MiB'].map(quote).join(' ');
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /\[#*-*\] +\d+% .*MiB\/.*MiB \d+ MB\/s ETA \d+s/);
    assert.match(r.stdout, /archived: big\.bin/);
    const v = spawnSync('script', ['-qec', [process.execPath, CLI, 'verify', '--archive', archive].map(quote).join(' '), '/dev/null'], { encoding: 'utf8' });
    assert.match(v.stdout, /verify \[/);
    // The same commands on a pipe print no bar.
    const piped = runCli(['verify', '--archive', archive]);
    assert.equal(piped.status, 0);
    assert.doesNotMatch(piped.stderr + piped.stdout, /MB\/s/);
  } finally {
    await cleanup();
  }
});
