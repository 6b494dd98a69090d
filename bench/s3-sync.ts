// `npm run bench` S3 sync row (issue 19, FORMAT.md §13.9): `aws s3 sync` of the seeded 2,000-file tree into BlockFrame's S3 endpoint and into radosgw in the same run: bytes on disk ÷ file bytes and small-PUT rate.
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { cephMissing, startCeph, type CephS3 } from '../test/helpers/ceph.js';
import { awsEnv, findAws, startCliS3 } from '../test/s3/helpers.js';
import type { S3User } from '../src/s3/users.js';
import { bytesUnder, makeTree } from './trees.js';

const USER: S3User = { accessKey: 'BENCHKEY', secretKey: 'bench-secret-0000' };
/** The issue's tree: 2,000 files of 20–500 KB, seed 19 (the folder-commit rows use the same one). */
const TREE = { count: 2000, min: 20_000, max: 500_000, seed: 19 };

export interface SyncRow {
  measure: string;
  value: string;
  target: string;
  met: boolean | null;
}

interface Endpoint {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
}

async function makeBucket(e: Endpoint, bucket: string): Promise<void> {
  const c = new S3Client({ endpoint: e.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: e.accessKeyId, secretAccessKey: e.secretAccessKey }, maxAttempts: 1 });
  try {
    await c.send(new CreateBucketCommand({ Bucket: bucket }));
  } finally {
    c.destroy();
  }
}

/** `aws s3 sync TREE s3://BUCKET/photos` against `e` (awscli's defaults: 10 requests at once); seconds. */
function sync(aws: string, work: string, e: Endpoint, tree: string, bucket: string): number {
  const env: NodeJS.ProcessEnv = { ...process.env, ...awsEnv(work, { accessKey: e.accessKeyId, secretKey: e.secretAccessKey }) };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(aws, ['--endpoint-url', e.endpoint, 's3', 'sync', '--only-show-errors', tree, `s3://${bucket}/photos`], { env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`aws s3 sync failed (${r.status}): ${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/**
 * The row: the seeded tree synced by awscli into a fresh BlockFrame `serve --s3-port` on one local store, which is
 * then stopped (SIGTERM: what is staged is flushed into packs) and its directory measured (apparent bytes of every
 * file, records and index included); then, in the same run, into a fresh one-node radosgw (memstore OSD: its rate
 * only, its bytes are in memory). Rate: files ÷ seconds of the sync. Skips radosgw with a row saying why.
 * `noPacks` serves with `--s3-no-packs` (an archive per object, as before format v3) and skips radosgw: the before row.
 */
export async function benchS3Sync(o: { work: string; log(msg: string): void; noPacks?: boolean }): Promise<{ rows: SyncRow[]; raw: Record<string, unknown> }> {
  const rows: SyncRow[] = [];
  const row = (measure: string, value: string, target = '', met: boolean | null = null) => rows.push({ measure, value, target, met });
  const aws = findAws();
  if (!aws) {
    row('S3 sync of the 2,000-file tree', 'skipped: awscli not available');
    return { rows, raw: {} };
  }
  const dir = join(o.work, 's3-sync');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const tree = join(dir, 'tree');
  const raw: Record<string, unknown> = { files: TREE.count, loadBefore: loadavg()[0] };
  let bf: Awaited<ReturnType<typeof startCliS3>> | undefined;
  let ceph: CephS3 | undefined;
  try {
    const bytes = await makeTree(tree, TREE.count, TREE.min, TREE.max, TREE.seed);
    raw.fileBytes = bytes;
    const root = join(dir, 'archive');
    bf = await startCliS3(root, [USER], o.noPacks ? ['--s3-no-packs'] : []);
    const mine = { endpoint: bf.endpoint, accessKeyId: USER.accessKey, secretAccessKey: USER.secretKey };
    await makeBucket(mine, 'photos');
    o.log('S3 sync: aws s3 sync of the 2,000-file tree into BlockFrame');
    const s = sync(aws, dir, mine, tree, 'photos');
    await bf.stop();
    raw.serverLog = bf.stderr().split('\n').filter((l) => /flush|staging/.test(l)).slice(0, 20);
    bf = undefined;
    const onDisk = await bytesUnder(root);
    const breakdown: Record<string, number> = {};
    for (const e of await readdir(root)) breakdown[e] = await bytesUnder(join(root, e));
    raw.breakdown = breakdown;
    raw.blockframe = { seconds: s, bytesOnDisk: onDisk, ratio: onDisk / bytes, rate: TREE.count / s };
    const ratio = onDisk / bytes;
    const how = o.noPacks ? ' (--s3-no-packs: an archive per object, as before format v3)' : '';
    row(`aws s3 sync, ${TREE.count} files (${(bytes / 1e6).toFixed(0)} MB)${how}: bytes on disk ÷ file bytes, one store`, `${ratio.toFixed(3)} (${onDisk} bytes)`, '≤ 1.2', ratio <= 1.2);
    const why = o.noPacks ? 'not run with --s3-no-packs' : cephMissing();
    let ref: number | undefined;
    if (why === null) {
      o.log('S3 sync: starting the reference radosgw (one-node Ceph)');
      ceph = await startCeph();
      const e = { endpoint: ceph.endpoint, accessKeyId: ceph.accessKeyId, secretAccessKey: ceph.secretAccessKey };
      await makeBucket(e, 'photos');
      o.log('S3 sync: aws s3 sync of the 2,000-file tree into radosgw');
      const r = sync(aws, dir, e, tree, 'photos');
      ref = TREE.count / r;
      raw.radosgw = { seconds: r, rate: ref };
    } else row('S3 sync reference (radosgw)', `skipped: ${why}`);
    row(
      `aws s3 sync, ${TREE.count} files: small-PUT rate, BlockFrame vs radosgw`,
      `${(TREE.count / s).toFixed(1)} objects/s (${s.toFixed(1)} s)${ref === undefined ? '' : ` vs ${ref.toFixed(1)} objects/s (${(TREE.count / ref).toFixed(1)} s): ${(TREE.count / s / ref).toFixed(2)}×`}`,
    );
    raw.loadAfter = loadavg()[0];
    return { rows, raw };
  } finally {
    await bf?.stop();
    await ceph?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
