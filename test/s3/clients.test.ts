// Real clients against `blockframe serve --s3-port` (the CLI, in a child process): awscli, rclone and curl, with damage.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rm, unlink, writeFile, open } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { haveCommand, randomBytesSeeded, tempDir, writeRandomFile } from '../helpers/fixtures.js';
import { ALICE, archiveDirs, awsEnv, findAws, run, startCliS3 } from './helpers.js';

const aws = findAws();
const rclone = haveCommand('rclone') ? 'rclone' : undefined;
const curl = haveCommand('curl') ? 'curl' : undefined;
const MiB = 1024 * 1024;

let work: string;
let root: string;
let cleanup: () => Promise<void>;
let server: Awaited<ReturnType<typeof startCliS3>>;

before(async () => {
  ({ dir: work, cleanup } = await tempDir('bf-s3-clients-'));
  root = join(work, 'archive');
  server = await startCliS3(root, [ALICE]);
});
after(async () => {
  await server?.stop();
  await cleanup?.();
});

async function fileMd5(path: string): Promise<string> {
  const h = createHash('md5');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}

/** Every file under `dir` as relative path → MD5. */
async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out[relative(dir, p)] = await fileMd5(p);
    }
  };
  await walk(dir);
  return out;
}

async function makeTree(dir: string, seed: number): Promise<void> {
  const files: [string, number][] = [['a.bin', 1000], ['sub/b.bin', 300_000], ['sub/deeper/c d é.txt', 17], ['empty.txt', 0], [`many/${seed}.dat`, 16 * MiB + 5]];
  for (const [i, [name, size]] of files.entries()) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeRandomFile(join(dir, name), size, seed * 100 + i);
  }
}

/** Corrupt a data shard and delete a parity shard of the archive holding bucket/key (a local store; any tier). */
async function damage(bucket: string, key: string): Promise<void> {
  const dirs = await archiveDirs(root, `${bucket}_${key.replace(/\//g, '_')}_`);
  assert.equal(dirs.length, 1, `one archive for ${bucket}/${key}: ${dirs}`);
  const files: string[] = [];
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else files.push(join(d, e.name));
    }
  };
  await walk(join(root, dirs[0]!));
  const data = files.filter((f) => /(segment_\d+|data)\.dat$/.test(f)).sort();
  const parity = files.filter((f) => /parity_\d+\.dat$/.test(f)).sort();
  assert.ok(data.length > 0 && parity.length > 1, `shards in ${dirs[0]}`);
  const fh = await open(data[0]!, 'r+');
  await fh.write(Buffer.alloc(4096, 0xee), 1000);
  await fh.close();
  await unlink(parity[parity.length - 1]!);
}

test('awscli: mb, cp up and down (>= 100 MiB, multipart), ls, get-object --range, sync both ways, presign + curl, rm; damage', { skip: aws ? false : 'awscli not installed (apt-get install awscli)' }, async () => {
  const env = awsEnv(work);
  const a = (...args: string[]) => run(aws!, ['--endpoint-url', server.endpoint, ...args], env, work);
  const ok = async (...args: string[]) => {
    const r = await a(...args);
    assert.equal(r.code, 0, `aws ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  await ok('s3', 'mb', 's3://awscli');
  const big = join(work, 'big.bin');
  await writeRandomFile(big, 100 * MiB + 12345, 2024);
  const want = await fileMd5(big);
  await ok('s3', 'cp', big, 's3://awscli/dir/big.bin', '--no-progress');
  const head = JSON.parse(await ok('s3api', 'head-object', '--bucket', 'awscli', '--key', 'dir/big.bin'));
  assert.match(head.ETag, /-\d+"$/, 'a multipart ETag');
  assert.equal(head.ContentLength, 100 * MiB + 12345);
  await ok('s3', 'cp', 's3://awscli/dir/big.bin', join(work, 'big.back'), '--no-progress');
  assert.equal(await fileMd5(join(work, 'big.back')), want);
  await rm(join(work, 'big.back'));
  assert.match(await ok('s3', 'ls', 's3://awscli/'), /PRE dir\//);
  assert.match(await ok('s3', 'ls', 's3://awscli/', '--recursive'), /104869945 dir\/big\.bin/);
  await ok('s3api', 'get-object', '--bucket', 'awscli', '--key', 'dir/big.bin', '--range', 'bytes=50000000-50099999', join(work, 'range.out'));
  const ranged = await readFile(join(work, 'range.out'));
  const fh = await open(big, 'r');
  const expect = Buffer.alloc(100_000);
  await fh.read(expect, 0, 100_000, 50_000_000);
  await fh.close();
  assert.deepEqual(ranged, expect);
  // sync up, change the local tree, sync again (with --delete), then sync down into an empty directory.
  const src = join(work, 'sync-src');
  await makeTree(src, 1);
  await ok('s3', 'sync', src, 's3://awscli/tree/', '--no-progress');
  await rm(join(src, 'a.bin'));
  await writeFile(join(src, 'sub/new.txt'), 'new file');
  await ok('s3', 'sync', src, 's3://awscli/tree/', '--delete', '--no-progress');
  const dst = join(work, 'sync-dst');
  await ok('s3', 'sync', 's3://awscli/tree/', dst, '--no-progress');
  assert.deepEqual(await tree(dst), await tree(src));
  // presign + curl (GET), and an expired presigned URL refused.
  if (curl) {
    const url = (await ok('s3', 'presign', 's3://awscli/tree/sub/new.txt', '--expires-in', '300')).trim();
    const got = await run(curl, ['-sS', '--fail', url]);
    assert.equal(got.stdout, 'new file');
  }
  // Damage: a corrupted data shard and a deleted parity shard; every client still gets exact bytes.
  await damage('awscli', 'dir/big.bin');
  await ok('s3', 'cp', 's3://awscli/dir/big.bin', join(work, 'big.healed'), '--no-progress');
  assert.equal(await fileMd5(join(work, 'big.healed')), want);
  await rm(join(work, 'big.healed'));
  if (curl) {
    const url = (await ok('s3', 'presign', 's3://awscli/dir/big.bin')).trim();
    const r = await run(curl, ['-sS', '--fail', '-r', '0-999999', '-o', join(work, 'curl.part'), url]);
    assert.equal(r.code, 0, r.stderr);
    const part = Buffer.alloc(1_000_000);
    const f = await open(big, 'r');
    await f.read(part, 0, part.length, 0);
    await f.close();
    assert.deepEqual(await readFile(join(work, 'curl.part')), part);
  }
  await ok('s3', 'rm', 's3://awscli/tree', '--recursive');
  assert.doesNotMatch(await ok('s3', 'ls', 's3://awscli/', '--recursive'), /tree\//);
  await rm(big);
});

test('rclone: copy, check (hashes agree), cat --offset --count, lsf -R, sync both ways, delete; damage', { skip: rclone ? false : 'rclone not installed (apt-get install rclone)' }, async () => {
  const env: NodeJS.ProcessEnv = {
    RCLONE_CONFIG: join(work, 'no-rclone.conf'),
    RCLONE_CONFIG_BF_TYPE: 's3',
    RCLONE_CONFIG_BF_PROVIDER: 'Other',
    RCLONE_CONFIG_BF_ACCESS_KEY_ID: ALICE.accessKey,
    RCLONE_CONFIG_BF_SECRET_ACCESS_KEY: ALICE.secretKey,
    RCLONE_CONFIG_BF_ENDPOINT: server.endpoint,
    RCLONE_CONFIG_BF_REGION: 'us-east-1',
    AWS_CA_BUNDLE: undefined,
    HTTP_PROXY: undefined,
    HTTPS_PROXY: undefined,
    http_proxy: undefined,
    https_proxy: undefined,
  };
  const r = (...args: string[]) => run(rclone!, ['--retries', '1', '--low-level-retries', '1', ...args], env, work);
  const ok = async (...args: string[]) => {
    const x = await r(...args);
    assert.equal(x.code, 0, `rclone ${args.join(' ')}: ${x.stderr}`);
    return x.stdout;
  };
  const src = join(work, 'rc-src');
  await makeTree(src, 2);
  await ok('mkdir', 'bf:rclone');
  await ok('copy', src, 'bf:rclone/t');
  const check = await r('check', src, 'bf:rclone/t');
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stderr, /0 differences found/);
  assert.doesNotMatch(check.stderr, /hash.*(not|un)supported|no hashes/i);
  const listed = (await ok('lsf', '-R', 'bf:rclone/t')).split('\n').filter(Boolean).sort();
  assert.deepEqual(listed, ['a.bin', 'empty.txt', 'many/', 'many/2.dat', 'sub/', 'sub/b.bin', 'sub/deeper/', 'sub/deeper/c d é.txt'].sort());
  const whole = await readFile(join(src, 'sub/b.bin'));
  const catOut = join(work, 'cat.out');
  const catFile = await run('sh', ['-c', `"$0" cat --offset 12345 --count 1000 bf:rclone/t/sub/b.bin > "$1"`, rclone!, catOut], env, work);
  assert.equal(catFile.code, 0, catFile.stderr);
  assert.deepEqual(await readFile(catOut), whole.subarray(12345, 13345));
  // sync: local changes go up (with deletions), then down into an empty directory.
  await rm(join(src, 'a.bin'));
  await writeFile(join(src, 'sub/added.txt'), randomBytesSeeded(5000, 3));
  await ok('sync', src, 'bf:rclone/t');
  const dst = join(work, 'rc-dst');
  await ok('sync', 'bf:rclone/t', dst);
  assert.deepEqual(await tree(dst), await tree(src));
  // Damage the 16 MiB object (an archive: smaller objects are packed, whose damage s3-packs.test.ts covers): rclone still reads exact bytes, and check still agrees.
  await damage('rclone', 't/many/2.dat');
  const healed = join(work, 'rc-healed');
  await ok('copy', 'bf:rclone/t/many', healed);
  assert.equal(await fileMd5(join(healed, '2.dat')), await fileMd5(join(src, 'many/2.dat')));
  assert.equal((await r('check', src, 'bf:rclone/t', '--download')).code, 0);
  assert.match(server.stderr(), /rebuilt from parity on read/);
  await ok('delete', 'bf:rclone/t');
  assert.equal((await ok('lsf', '-R', 'bf:rclone')).trim(), '');
});
