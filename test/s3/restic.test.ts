// restic (Debian `restic`) against `blockframe serve --s3-port`: init, backup, check --read-data, restore, prune.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { haveCommand, tempDir, writeRandomFile } from '../helpers/fixtures.js';
import { ALICE, run, startCliS3 } from './helpers.js';

const restic = haveCommand('restic') ? 'restic' : undefined;
const MiB = 1024 * 1024;

let work: string;
let cleanup: () => Promise<void>;
let server: Awaited<ReturnType<typeof startCliS3>> | undefined;

before(async () => {
  ({ dir: work, cleanup } = await tempDir('bf-s3-restic-'));
  if (restic) server = await startCliS3(join(work, 'archive'), [ALICE]);
});
after(async () => {
  await server?.stop();
  await cleanup?.();
});

/** Every file under `dir` as relative path → SHA-256. */
async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out[relative(dir, p)] = createHash('sha256').update(await readFile(p)).digest('hex');
    }
  };
  await walk(dir);
  return out;
}

test('restic: init, backup twice, check --read-data, restore byte-exact, forget --prune, check', { skip: restic ? false : 'restic not installed (apt-get install restic)' }, async () => {
  const src = join(work, 'src');
  for (const [i, [name, size]] of ([['a.bin', 1000], ['sub/b.bin', 3 * MiB + 7], ['sub/deeper/c d é.txt', 17], ['empty.txt', 0]] as const).entries()) {
    await mkdir(join(src, name, '..'), { recursive: true });
    await writeRandomFile(join(src, name), size, 40 + i);
  }
  const env: NodeJS.ProcessEnv = {
    AWS_ACCESS_KEY_ID: ALICE.accessKey,
    AWS_SECRET_ACCESS_KEY: ALICE.secretKey,
    AWS_CA_BUNDLE: undefined,
    AWS_PROFILE: undefined,
    AWS_SESSION_TOKEN: undefined,
    RESTIC_REPOSITORY: `s3:${server!.endpoint}/backups`,
    RESTIC_PASSWORD: 'restic-test-password',
    RESTIC_CACHE_DIR: join(work, 'restic-cache'),
    HOME: work,
    HTTP_PROXY: undefined,
    HTTPS_PROXY: undefined,
    http_proxy: undefined,
    https_proxy: undefined,
    NO_PROXY: '127.0.0.1,localhost',
  };
  const r = async (...args: string[]) => {
    const out = await run(restic!, args, env, work);
    assert.equal(out.code, 0, `restic ${args.join(' ')}: ${out.stderr}${out.stdout}`);
    return out.stdout;
  };
  await r('init');
  await r('backup', '--host', 'bf', src);
  await writeFile(join(src, 'a.bin'), 'changed between the two backups');
  await r('backup', '--host', 'bf', src);
  const snaps = JSON.parse(await r('snapshots', '--json')) as unknown[];
  assert.equal(snaps.length, 2);
  await r('check', '--read-data');
  const out = join(work, 'restored');
  await r('restore', 'latest', '--target', out);
  assert.deepEqual(await tree(join(out, src)), await tree(src), 'the restored tree is byte-exact');
  await r('forget', '--keep-last', '1', '--prune');
  assert.equal((JSON.parse(await r('snapshots', '--json')) as unknown[]).length, 1);
  await r('check', '--read-data');
});
