// S3 small-object load for `npm run bench`, in its own process: N SDK clients PUT many small objects, objects/s.
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { randomBytesSeeded } from '../test/helpers/fixtures.js';

export interface SmallPutLoad {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
  /** Keys are `${prefix}${i}` for i in 0..count-1. */
  prefix: string;
  count: number;
  /** Bytes of each object (distinct contents: no two objects share bytes). */
  size: number;
  clients: number;
}

/**
 * `count` PutObject calls of `size` random bytes each (AWS S3 API Reference, PutObject), `clients` at a time, each
 * answered 200 before the next is sent on that client. Returns the wall time in seconds and the per-request
 * latencies in ms (request sent to response read).
 */
export async function smallPuts(o: SmallPutLoad): Promise<{ seconds: number; lat: number[] }> {
  const client = new S3Client({ endpoint: o.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey }, maxAttempts: 1 });
  const bodies = Array.from({ length: o.count }, (_, i) => randomBytesSeeded(o.size, 1000 + i));
  const lat: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < o.count) {
      const i = next++;
      const t0 = process.hrtime.bigint();
      await client.send(new PutObjectCommand({ Bucket: o.bucket, Key: `${o.prefix}${i}`, Body: bodies[i]! }));
      lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  };
  const t0 = process.hrtime.bigint();
  try {
    await Promise.all(Array.from({ length: o.clients }, worker));
  } finally {
    client.destroy();
  }
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, lat };
}

// node dist/bench/s3-small.js '{"endpoint":…}' prints {"seconds":…,"lat":[…]} on one line.
if (process.argv[1]?.endsWith('s3-small.js')) {
  smallPuts(JSON.parse(process.argv[2]!) as SmallPutLoad).then(
    (r) => process.stdout.write(JSON.stringify(r) + '\n'),
    (err) => {
      process.stderr.write(`${(err as Error).stack}\n`);
      process.exit(1);
    },
  );
}
