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

test('a BlockFrameError carries its code, context and mapped statuses', () => {
  const e = new BlockFrameError('BF_SHARD_CORRUPT', 'shard x is corrupt', { archive: 'a', shard: 'x' });
  assert.equal(e.code, 'BF_SHARD_CORRUPT');
  assert.equal(e.exitCode, EXIT.FAILURE);
  assert.equal(e.httpStatus, 500);
  assert.deepEqual(e.toJSON(), { code: 'BF_SHARD_CORRUPT', message: 'shard x is corrupt', archive: 'a', shard: 'x' });
});
