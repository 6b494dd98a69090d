// The CLI and the server with format v2 transforms: --compress, --encrypt, keys from files and the environment, `key`,
// one-line coded errors (also in --json), and `serve` decoding with its start-up key (curl ranges).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytesSeeded, runCli, tempDir } from '../helpers/fixtures.js';
import { curl, startChild } from '../server/serve-helpers.js';

describe('cli with transforms', () => {
  let root: string;
  let archive: string;
  let cleanup: () => Promise<void>;
  let src: string;
  let data: Uint8Array;
  let key: string;
  let dir: string;
  before(async () => {
    ({ dir: root, cleanup } = await tempDir());
    archive = join(root, 'archive');
    src = join(root, 'notes.txt');
    // Text-like and compressible, with a random tail.
    const text = Buffer.from('BlockFrame keeps every byte verified. '.repeat(60_000));
    data = Buffer.concat([text, randomBytesSeeded(300_000, 3)]);
    await writeFile(src, data);
    key = join(root, 'archive.key');
    await writeFile(key, randomBytesSeeded(32, 77));
  });
  after(() => cleanup());

  test('commit --compress zstd:5 --encrypt --key-file: stored smaller, name sealed, restore byte-exact', async () => {
    const r = runCli(['commit', src, '--archive', archive, '--compress', 'zstd:5', '--encrypt', '--key-file', key, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const res = JSON.parse(r.stdout).results[0];
    dir = res.dir;
    assert.match(dir, /^encrypted_[0-9a-f]{64}$/);
    const info = JSON.parse(runCli(['info', dir, '--archive', archive, '--json']).stdout);
    assert.equal(info.manifest.content.transforms[0].level, 5);
    assert.ok(info.summary.storedSize < data.length / 3, 'text compresses');
    const out = join(root, 'restored.txt');
    const rr = runCli(['restore', 'notes.txt', '-o', out, '--archive', archive, '--key-file', key]);
    assert.equal(rr.status, 0, rr.stderr);
    assert.deepEqual(await readFile(out), Buffer.from(data));
    const cat = runCli(['cat', dir, '--range', '1000-1999', '--archive', archive], { env: { BLOCKFRAME_KEY_FILE: key } });
    assert.equal(cat.status, 0, cat.stderr);
    assert.equal(cat.stdout, Buffer.from(data.subarray(1000, 2000)).toString('utf8'));
  });

  test('without a key: list shows it encrypted, verify is healthy, restore is a one-line BF_KEY_REQUIRED (also --json)', () => {
    const l = runCli(['list', '--archive', archive]);
    assert.equal(l.status, 0, l.stderr);
    assert.match(l.stdout, /^\(encrypted\)\t.*\tzstd [\d.]+x, encrypted$/m);
    const v = runCli(['verify', '--archive', archive]);
    assert.equal(v.status, 0, v.stdout + v.stderr);
    const r = runCli(['restore', dir, '-o', join(root, 'nokey.txt'), '--archive', archive, '--json']);
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stderr, /\[BF_KEY_REQUIRED\]$/m);
    assert.equal(JSON.parse(r.stdout).error.code, 'BF_KEY_REQUIRED');
    const w = runCli(['cat', dir, '--archive', archive, '--passphrase-file', key]);
    assert.equal(w.status, 1);
    assert.match(w.stderr, /\[BF_KEY_WRONG\]/);
    const info = runCli(['info', dir, '--archive', archive]);
    assert.match(info.stdout, /encryption\s+AES-256-GCM, 1 keyslot \(no key given/);
  });

  test('regression: verify and repair find an encrypted archive by its sealed name with the key given (they ignored --key-file)', () => {
    const v = runCli(['verify', 'notes.txt', '--archive', archive, '--key-file', key]);
    assert.equal(v.status, 0, v.stdout + v.stderr);
    assert.match(v.stdout, /^ok: /m);
    const p = runCli(['repair', 'notes.txt', '--archive', archive, '--key-file', key]);
    assert.equal(p.status, 0, p.stdout + p.stderr);
    // Without it, the name stays sealed: the one-line error says a key is needed.
    const n = runCli(['verify', 'notes.txt', '--archive', archive]);
    assert.notEqual(n.status, 0);
    assert.match(n.stderr, /\[BF_KEY_REQUIRED\]/);
  });

  test('key add with a passphrase from the environment, key list, key remove; bad input is refused', () => {
    const add = runCli(['key', 'add', dir, '--archive', archive, '--key-file', key], { env: { BLOCKFRAME_NEW_PASSPHRASE: 'second key' } });
    assert.equal(add.status, 0, add.stderr);
    const list = runCli(['key', 'list', dir, '--archive', archive, '--json'], { env: { BLOCKFRAME_PASSPHRASE: 'second key' } });
    const slots = JSON.parse(list.stdout).slots as { id: string; kind: string; opens: boolean }[];
    assert.deepEqual(slots.map((s) => [s.kind, s.opens]), [['keyfile', false], ['passphrase', true]]);
    const cat = runCli(['cat', dir, '--range', '0-9', '--archive', archive], { env: { BLOCKFRAME_PASSPHRASE: 'second key' } });
    assert.equal(cat.stdout, Buffer.from(data.subarray(0, 10)).toString('utf8'));
    const rm = runCli(['key', 'remove', dir, slots[0]!.id, '--archive', archive], { env: { BLOCKFRAME_PASSPHRASE: 'second key' } });
    assert.equal(rm.status, 0, rm.stderr);
    const last = runCli(['key', 'remove', dir, slots[1]!.id, '--archive', archive, '--json'], { env: { BLOCKFRAME_PASSPHRASE: 'second key' } });
    assert.equal(last.status, 2);
    assert.equal(JSON.parse(last.stdout).error.code, 'BF_USAGE');
    const bad = runCli(['commit', src, '--archive', archive, '--compress', 'lz4']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--compress takes zstd, zstd:LEVEL \(1-19\) or auto.*\[BF_USAGE\]/);
    const nokey = runCli(['commit', src, '--archive', archive, '--encrypt', '--json']);
    assert.equal(nokey.status, 1);
    assert.equal(JSON.parse(nokey.stdout).error.code, 'BF_KEY_REQUIRED');
  });

  test('serve decodes with its start-up key: full GET and a range match; no key gives a coded 403', async () => {
    const plain = join(root, 'served');
    const r = runCli(['commit', src, '--archive', plain, '--compress', 'auto', '--encrypt'], { env: { BLOCKFRAME_PASSPHRASE: 'serve me' } });
    assert.equal(r.status, 0, r.stderr);
    const keyed = await startChild(plain, [], { BLOCKFRAME_PASSPHRASE: 'serve me' });
    try {
      const full = await curl(['-s', `${keyed.base}/files/notes.txt`]);
      assert.ok(Buffer.from(data).equals(full.stdout), 'full GET');
      const part = await curl(['-s', '-H', 'Range: bytes=2000000-2100000', `${keyed.base}/files/notes.txt`]);
      assert.ok(Buffer.from(data.subarray(2_000_000, 2_100_001)).equals(part.stdout), 'range GET');
    } finally {
      await keyed.stop();
    }
    const blind = await startChild(plain, [], { BLOCKFRAME_PASSPHRASE: '' });
    try {
      const list = JSON.parse((await curl(['-s', `${blind.base}/api/archives`])).stdout.toString('utf8'));
      const a = list.archives[0];
      assert.equal(a.name, '(encrypted)');
      const res = await curl(['-s', '-w', '\n%{http_code}', `${blind.base}/files/${a.dir}`]);
      const text = res.stdout.toString('utf8');
      const cut = text.lastIndexOf('\n');
      assert.equal(text.slice(cut + 1), '403');
      assert.equal(JSON.parse(text.slice(0, cut)).error.code, 'BF_KEY_REQUIRED');
    } finally {
      await blind.stop();
    }
  });

  test('serve --allow-upload --compress zstd --encrypt: an upload is stored compressed and encrypted, and reads back', async () => {
    const up = join(root, 'uploads');
    const keyed = await startChild(up, ['--allow-upload', '--token', 't0k', '--compress', 'zstd', '--encrypt', '--key-file', key]);
    try {
      const put = await curl(['-s', '-X', 'PUT', '-H', 'Authorization: Bearer t0k', '--data-binary', `@${src}`, `${keyed.base}/files/up.txt`]);
      const doc = JSON.parse(put.stdout.toString('utf8'));
      assert.equal(doc.status, 'archived', put.stdout.toString('utf8'));
      assert.deepEqual(doc.manifest.content.transforms.map((t: { type: string }) => t.type), ['zstd', 'aes-256-gcm']);
      const back = await curl(['-s', `${keyed.base}/files/up.txt`]);
      assert.ok(Buffer.from(data).equals(back.stdout));
    } finally {
      await keyed.stop();
    }
  });

  test('a key file or passphrase file readable by others is used with a warning on stderr naming it; --json stays one document', async () => {
    const loose = join(root, 'loose.key');
    await writeFile(loose, randomBytesSeeded(32, 91));
    await chmod(loose, 0o644);
    const r = runCli(['commit', src, '--archive', join(root, 'loose-archive'), '--encrypt', '--key-file', loose, '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).results[0].status, 'archived');
    assert.match(r.stderr, /^blockframe: warning: key file .*loose\.key is open to other users \(mode 0644\).*chmod 600/m);
    const pass = join(root, 'loose.pass');
    await writeFile(pass, 'a passphrase\n');
    await chmod(pass, 0o640);
    const p = runCli(['list', '--archive', join(root, 'loose-archive'), '--passphrase-file', pass]);
    assert.equal(p.status, 0, p.stderr);
    assert.match(p.stderr, /warning: passphrase file .*loose\.pass is open to other users \(mode 0640\)/);
    const env = runCli(['list', '--archive', join(root, 'loose-archive')], { env: { BLOCKFRAME_KEY_FILE: loose } });
    assert.match(env.stderr, /warning: key file .*loose\.key is open to other users/, 'also from $BLOCKFRAME_KEY_FILE');
    await chmod(loose, 0o600);
    const tight = runCli(['list', '--archive', join(root, 'loose-archive'), '--key-file', loose]);
    assert.equal(tight.status, 0, tight.stderr);
    assert.equal(tight.stderr, '', 'mode 0600: no warning');
  });

  test('a plain archive swapped in under the name of an encrypted one: restore/cat with --key-file refuse it (BF_NOT_ENCRYPTED, nothing written)', async () => {
    const a = join(root, 'swapped');
    const secret = join(root, 'secret.bin');
    await writeFile(secret, randomBytesSeeded(200_000, 5));
    const mine = join(root, 'mine.key');
    await writeFile(mine, randomBytesSeeded(32, 6));
    await chmod(mine, 0o600);
    const c = runCli(['commit', secret, '--archive', a, '--encrypt', '--key-file', mine, '--json']);
    assert.equal(c.status, 0, c.stderr);
    // The attacker can write every store: they drop the encrypted archive and publish a plain one named secret.bin,
    // with every hash and manifest copy consistent (what a downgraded manifest plus a rename amounts to).
    await rm(join(a, JSON.parse(c.stdout).results[0].dir), { recursive: true, force: true });
    const theirs = join(root, 'theirs', 'secret.bin');
    await mkdir(join(root, 'theirs'));
    await writeFile(theirs, Buffer.from('attacker-chosen bytes\n'));
    assert.equal(runCli(['commit', theirs, '--archive', a]).status, 0);
    const out = join(root, 'swapped-out');
    await mkdir(out);
    const r = runCli(['restore', 'secret.bin', '-o', out, '--archive', a, '--key-file', mine]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /is not encrypted, but a key was given.*\[BF_NOT_ENCRYPTED\]$/m);
    assert.deepEqual(await readdir(out), [], 'nothing written, not even a partial file');
    const rj = runCli(['restore', 'secret.bin', '-o', out, '--archive', a, '--key-file', mine, '--json']);
    assert.equal(JSON.parse(rj.stdout).error.code, 'BF_NOT_ENCRYPTED');
    const cat = runCli(['cat', 'secret.bin', '--archive', a, '--key-file', mine]);
    assert.equal(cat.status, 1);
    assert.equal(cat.stdout, '', 'cat writes nothing');
    assert.match(cat.stderr, /\[BF_NOT_ENCRYPTED\]/);
    // Asked for explicitly, it is read, and said (also in the result).
    const allow = runCli(['restore', 'secret.bin', '-o', out, '--archive', a, '--key-file', mine, '--allow-unencrypted', '--json']);
    assert.equal(allow.status, 0, allow.stderr);
    const doc = JSON.parse(allow.stdout);
    assert.equal(doc.encrypted, false);
    assert.equal(doc.keyUnused, true);
    assert.match(allow.stderr, /warning: archive secret\.bin_[0-9a-f]{64} is not encrypted: the key given was not used/);
    // A key from the environment applies to every archive: a plain one is read, with the same warning.
    const env = runCli(['cat', 'secret.bin', '--archive', a], { env: { BLOCKFRAME_KEY_FILE: mine } });
    assert.equal(env.status, 0, env.stderr);
    assert.match(env.stderr, /warning: archive .* is not encrypted: the key given was not used/);
  });
});
