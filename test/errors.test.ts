// The error catalogue: stable codes, documented in docs/errors.md, with sane exit codes and HTTP statuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BlockFrameError, ERROR_CODES, EXIT } from '../src/errors.js';
import { REPO_ROOT } from './helpers/fixtures.js';

test('every error code is documented in docs/errors.md with its exit code and HTTP status', async () => {
  const doc = await readFile(join(REPO_ROOT, 'docs', 'errors.md'), 'utf8');
  for (const [code, info] of Object.entries(ERROR_CODES)) {
    assert.ok(doc.includes(`| \`${code}\` | ${info.summary} | ${info.exitCode} | ${info.httpStatus} |`), `${code} missing or stale in docs/errors.md`);
    assert.ok(Object.values(EXIT).includes(info.exitCode as never), code);
    assert.ok(info.httpStatus >= 400 && info.httpStatus < 600, code);
  }
});

test('every code in docs/errors.md exists in the catalogue (no dead or stale rows)', async () => {
  const doc = await readFile(join(REPO_ROOT, 'docs', 'errors.md'), 'utf8');
  const documented = [...doc.matchAll(/^\| `(BF_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]!);
  assert.ok(documented.length > 10);
  for (const code of documented) assert.ok(code in ERROR_CODES, `${code} is documented but does not exist`);
  assert.equal(new Set(documented).size, documented.length, 'each code once');
  assert.equal(documented.length, Object.keys(ERROR_CODES).length);
});

test('every code in the catalogue is raised somewhere in the source (no dead codes)', async () => {
  const { readdir } = await import('node:fs/promises');
  const files: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else if (e.name.endsWith('.ts')) files.push(join(d, e.name));
    }
  };
  await walk(join(REPO_ROOT, 'src'));
  // The catalogue itself does not count as raising a code.
  const strip = (t: string) => t.replace(/export const ERROR_CODES = \{[\s\S]*?\} as const/, '');
  const text = (await Promise.all(files.map(async (f) => strip(await readFile(f, 'utf8'))))).join('\n');
  for (const code of Object.keys(ERROR_CODES)) assert.ok(text.includes(`'${code}'`), `${code} is never raised`);
});

test('a BlockFrameError carries its code, context and mapped statuses', () => {
  const e = new BlockFrameError('BF_SHARD_CORRUPT', 'shard x is corrupt', { archive: 'a', shard: 'x' });
  assert.equal(e.code, 'BF_SHARD_CORRUPT');
  assert.equal(e.exitCode, EXIT.FAILURE);
  assert.equal(e.httpStatus, 500);
  assert.deepEqual(e.toJSON(), { code: 'BF_SHARD_CORRUPT', message: 'shard x is corrupt', archive: 'a', shard: 'x' });
});
