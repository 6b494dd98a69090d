// --quiet and --log-level: notes, warnings and progress on stderr obey them; errors always show; a bad level is BF_USAGE.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli, tempDir, writeRandomFile } from '../helpers/fixtures.js';

test('--quiet silences notes and the restore line; --log-level warn keeps warnings and drops notes; errors always show', async () => {
  const t = await tempDir('bf-loglevel-');
  try {
    const input = join(t.dir, 'in.bin');
    await writeRandomFile(input, 200 * 1024, 3);
    const quietRoot = join(t.dir, 'q');
    let r = runCli(['commit', input, '--archive', quietRoot, '--quiet']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '', 'no "created new archive" note with --quiet');
    const root = join(t.dir, 'a');
    r = runCli(['commit', input, '--archive', root, '--tier', '2', '--segment-size', '16KiB']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^blockframe: note: created new archive at /, 'the note shows by default');

    r = runCli(['restore', 'in.bin', '--archive', root, '-o', join(t.dir, 'out1')]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^restored in\.bin /);
    r = runCli(['restore', 'in.bin', '--archive', root, '-o', join(t.dir, 'out2'), '--quiet']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');

    // Damage one data shard: restore heals it and warns; at --log-level warn the warning stays, the note goes.
    const dir = (await readdir(root)).find((d) => !d.startsWith('.'))!;
    const seg = (await readdir(join(root, dir), { recursive: true })).find((f) => /segment_0\.dat$/.test(String(f)))!;
    await rm(join(root, dir, String(seg)));
    r = runCli(['restore', 'in.bin', '--archive', root, '-o', join(t.dir, 'out3'), '--log-level', 'warn']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^blockframe: warning: damaged /);
    assert.doesNotMatch(r.stderr, /^restored /m);
    r = runCli(['restore', 'in.bin', '--archive', root, '-o', join(t.dir, 'out4'), '--log-level', 'error']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');

    // Errors are never silenced.
    r = runCli(['restore', 'nope', '--archive', root, '-o', join(t.dir, 'out5'), '--quiet']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /\[BF_ARCHIVE_NOT_FOUND\]\n$/);
  } finally {
    await t.cleanup();
  }
});

test('a bad --log-level is one BF_USAGE line (and a JSON error with --json), exit 2', async () => {
  const t = await tempDir('bf-loglevel-');
  try {
    let r = runCli(['list', '--archive', t.dir, '--log-level', 'loud']);
    assert.equal(r.status, 2);
    assert.equal(r.stderr, 'blockframe: --log-level must be error, warn or info, not "loud" [BF_USAGE]\n');
    r = runCli(['list', '--archive', t.dir, '--log-level', 'loud', '--json']);
    assert.equal(r.status, 2);
    assert.equal(JSON.parse(r.stdout).error.code, 'BF_USAGE');
    r = runCli(['list', '--archive', t.dir, '--log-level', 'info', '--quiet']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--quiet means --log-level error/);
  } finally {
    await t.cleanup();
  }
});
