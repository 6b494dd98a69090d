// S3 load generator for `npm run bench` in its own process: random 1 MiB ranged GETs from N concurrent SDK clients.
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { prng } from '../test/helpers/fixtures.js';

const MiB = 1024 * 1024;

export interface RangeLoad {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
  key: string;
  /** Object size in bytes (ranges stay inside it). */
  size: number;
  /** Timed requests (after `warmup` untimed ones). */
  requests: number;
  warmup: number;
  clients: number;
}

/**
 * `requests` GetObject calls with `Range: bytes=a-(a+1 MiB-1)` at random offsets, `clients` at a time (AWS S3 API
 * Reference, GetObject, "Range"). Each response must be 206 with exactly 1 MiB. Returns the latencies in ms
 * (request sent to last body byte), in completion order.
 */
export async function rangeLoad(o: RangeLoad): Promise<number[]> {
  const client = new S3Client({ endpoint: o.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey }, maxAttempts: 1 });
  const rand = prng(11);
  const span = Math.max(1, o.size - MiB);
  const lat: number[] = [];
  let issued = 0;
  const one = async (timed: boolean) => {
    const start = rand() % span;
    const t0 = process.hrtime.bigint();
    const r = await client.send(new GetObjectCommand({ Bucket: o.bucket, Key: o.key, Range: `bytes=${start}-${start + MiB - 1}` }));
    const body = await r.Body!.transformToByteArray();
    if (timed) lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (body.length !== Math.min(MiB, o.size - start)) throw new Error(`ranged GET returned ${body.length} bytes`);
  };
  try {
    for (let i = 0; i < o.warmup; i++) await one(false);
    const worker = async () => {
      while (issued < o.requests) {
        issued++;
        await one(true);
      }
    };
    await Promise.all(Array.from({ length: o.clients }, worker));
  } finally {
    client.destroy();
  }
  return lat;
}

// node dist/bench/s3-load.js '{"endpoint":…}' prints {"lat":[…]} on one line.
if (process.argv[1]?.endsWith('s3-load.js')) {
  rangeLoad(JSON.parse(process.argv[2]!) as RangeLoad).then(
    (lat) => process.stdout.write(JSON.stringify({ lat }) + '\n'),
    (err) => {
      process.stderr.write(`${(err as Error).stack}\n`);
      process.exit(1);
    },
  );
}
