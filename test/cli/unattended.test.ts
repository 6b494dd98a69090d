// The systemd units and container recipe of docs/unattended: the units pass `systemd-analyze verify`, and every
// blockframe option they use is one the CLI accepts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { CLI, REPO_ROOT, haveCommand, runCli, tempDir } from '../helpers/fixtures.js';

const DIR = join(REPO_ROOT, 'docs', 'unattended');
const UNITS = ['blockframe-serve.service', 'blockframe-scrub.service', 'blockframe-scrub.timer'];

let tmp: string;
let cleanup: () => Promise<void>;
before(async () => ({ dir: tmp, cleanup } = await tempDir('bf-units-')));
after(() => cleanup());

/** The blockframe command lines of a unit or the container recipe. */
async function commandLines(file: string): Promise<string[][]> {
  const text = await readFile(join(DIR, file), 'utf8');
  const out: string[][] = [];
  for (const m of text.matchAll(/^ExecStart=\/usr\/local\/bin\/blockframe (.*)$/gm)) out.push(m[1]!.split(/\s+/));
  for (const m of text.matchAll(/^CMD \[(.*)\]$/gm)) out.push(JSON.parse(`[${m[1]}]`) as string[]);
  return out;
}

describe('running unattended', () => {
  test('systemd-analyze verify accepts the service and timer units', async (t) => {
    if (!haveCommand('systemd-analyze')) return t.skip('systemd-analyze is not installed (Debian package systemd)');
    // ExecStart must name an executable: a stand-in at the path the units use is not possible without root, so the
    // units are checked as copies whose ExecStart points at a shim that runs this checkout's CLI.
    const shim = join(tmp, 'blockframe');
    await writeFile(shim, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`);
    await chmod(shim, 0o755);
    const files: string[] = [];
    for (const u of UNITS) {
      const text = (await readFile(join(DIR, u), 'utf8')).replaceAll('/usr/local/bin/blockframe', shim);
      await writeFile(join(tmp, u), text);
      files.push(join(tmp, u));
    }
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...files], { encoding: 'utf8' });
    // Outside a booted systemd (a container), verify may warn about the environment; only unit errors count.
    const errors = r.stderr.split('\n').filter((l) => /blockframe-/.test(l) && !/RequiresMountsFor|Failed to (create|connect)|User=|Group=/.test(l));
    assert.deepEqual(errors, [], r.stderr);
    assert.equal(r.status, 0, r.stderr);
  });

  test('every blockframe command line in the units and the container recipe parses', async () => {
    for (const f of [...UNITS.filter((u) => u.endsWith('.service')), 'Containerfile']) {
      for (const args of await commandLines(f)) {
        // --help after the options: commander checks every option and value, and nothing runs.
        const r = runCli([...args, '--help']);
        assert.equal(r.status, 0, `${f}: blockframe ${args.join(' ')}: ${r.stderr}`);
        const [cmd] = args;
        // The values too: a scrub with a bad rate or period would fail at 2:30 at night.
        if (cmd === 'scrub') {
          const s = runCli([...args, '--status', '--archive', tmp, '--ledger', join(tmp, 'ledger')], { env: { BLOCKFRAME_CONFIG: '' } });
          assert.equal(s.status, 0, `${f}: ${s.stderr}`);
        }
      }
    }
  });
});
