// On a real pseudo-terminal (util-linux `script`) long work shows a progress bar; on a pipe it shows nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, readdir } from 'node:fs/promises';
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

test('Ctrl-C on a TTY clears the progress bar before "interrupted" (issue 18 item 20)', { skip: !haveCommand('script') && 'util-linux script not installed' }, async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const src = join(dir, 'big.bin');
    await writeRandomFile(src, 192 * 1024 * 1024, 6);
    const archive = join(dir, 'a');
    await mkdir(archive);
    const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const cmd = [process.execPath, CLI, 'commit', src, '--archive', archive, '--tier', '3', '--segment-size', '1MiB'].map(quote).join(' ');
    const child = spawn('script', ['-qec', cmd, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    // The spool directory is named after the CLI's pid: signal that process itself, as a terminal's Ctrl-C does.
    let pid = 0;
    for (let i = 0; i < 6000 && !pid; i++) {
      const spools = await readdir(join(archive, '.staging')).catch(() => [] as string[]);
      if (spools.length && /\[#*-*\]/.test(out)) pid = Number(spools[0]!.split('-')[0]);
      else await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(pid > 0, `the commit did not start writing: ${out}`);
    process.kill(pid, 'SIGINT');
    assert.equal(await exited, 130, out);
    assert.match(out, /\] +\d+% [^\r\n]*\x1b\[K\r\x1b\[Kblockframe: interrupted by SIGINT/, 'the bar line is cleared, then the message');
    assert.deepEqual(await readdir(join(archive, '.staging')), []);
  } finally {
    await cleanup();
  }
});
