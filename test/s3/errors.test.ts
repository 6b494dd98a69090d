// The S3 column of the error catalogue: docs/errors.md and src/s3/errors.ts in step, both ways; every S3 code used.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BlockFrameError, ERROR_CODES, type ErrorCode } from '../../src/errors.js';
import { S3_ERRORS, S3_FOR_BF, s3CodeFor } from '../../src/s3/errors.js';
import { REPO_ROOT } from '../helpers/fixtures.js';

const doc = () => readFile(join(REPO_ROOT, 'docs', 'errors.md'), 'utf8');

test('every BlockFrame code has its S3 code and status in docs/errors.md, and every row names a real code', async () => {
  const text = await doc();
  const rows = [...text.matchAll(/^\| (BF_[A-Z0-9_]+) \| ([A-Za-z0-9]+) \| (\d{3}) \|$/gm)].map((m) => [m[1]!, m[2]!, Number(m[3])] as const);
  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
    const want = s3CodeFor(new BlockFrameError(code, 'x'));
    const row = rows.find((r) => r[0] === code);
    assert.ok(row, `${code} has no row in the S3 column of docs/errors.md`);
    assert.deepEqual([row[1], row[2]], [want.code, want.status], `${code}: stale S3 mapping in docs/errors.md`);
  }
  assert.equal(rows.length, Object.keys(ERROR_CODES).length, 'each BlockFrame code once in the S3 column');
  for (const code of Object.keys(S3_FOR_BF)) assert.ok(code in ERROR_CODES, `S3_FOR_BF maps ${code}, which does not exist`);
});

test('every S3 error code the endpoint sends is documented with its status and BlockFrame code, and nothing else is', async () => {
  const text = await doc();
  const rows = [...text.matchAll(/^\| ([A-Z][A-Za-z0-9]+) \| (\d{3}) \| (BF_[A-Z0-9_]+) \|$/gm)].map((m) => [m[1]!, Number(m[2]), m[3]!] as const);
  for (const [s3, info] of Object.entries(S3_ERRORS)) {
    assert.ok(rows.some((r) => r[0] === s3 && r[1] === info.status && r[2] === info.bf), `${s3} missing or stale in docs/errors.md`);
    assert.ok(info.bf in ERROR_CODES, `${s3} carries unknown ${info.bf}`);
  }
  assert.equal(rows.length, Object.keys(S3_ERRORS).length);
});

test('every S3 error code is raised somewhere in src/s3 (or is the S3 code of a BlockFrame code)', async () => {
  const dir = join(REPO_ROOT, 'src', 's3');
  let src = '';
  for (const f of await readdir(dir)) if (f.endsWith('.ts')) src += await readFile(join(dir, f), 'utf8');
  const used = src.replace(/export const S3_ERRORS = \{[\s\S]*?\} as const/, '').replace(/export const S3_FOR_BF[\s\S]*?\n\};/, '');
  const mapped = new Set(Object.values(S3_FOR_BF));
  for (const s3 of Object.keys(S3_ERRORS)) assert.ok(used.includes(`'${s3}'`) || mapped.has(s3 as never), `${s3} is never raised`);
});
