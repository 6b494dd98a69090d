// Request bodies to spool files: streamed in constant memory, hashed on the way, checked before anyone commits.
import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import * as zlib from 'node:zlib';
import { BlockFrameError } from '../errors.js';
import type { Payload } from './auth.js';
import { decodeChunked, type Trailers } from './chunked.js';
import { s3Error } from './errors.js';

/** Largest single PUT (and part): 5 GiB, as AWS. */
export const MAX_PUT_BYTES = 5 * 1024 ** 3;

export interface Ingested {
  /** Bytes of the decoded body. */
  size: number;
  /** MD5 of the decoded body, lower-case hex (the ETag of a single PUT). */
  md5: string;
  /** x-amz-checksum-* values that were given and verified (name → base64). */
  checksums: Record<string, string>;
}

const CHECKSUMS = ['x-amz-checksum-crc32', 'x-amz-checksum-crc32c', 'x-amz-checksum-sha1', 'x-amz-checksum-sha256'] as const;
type ChecksumName = (typeof CHECKSUMS)[number];

let crc32cTable: Uint32Array | undefined;
/** CRC-32C (Castagnoli, reflected 0x82F63B78), incremental: pass the previous value. */
export function crc32c(buf: Uint8Array, prev = 0): number {
  if (!crc32cTable) {
    crc32cTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
      crc32cTable[n] = c >>> 0;
    }
  }
  let c = ~prev >>> 0;
  for (let i = 0; i < buf.length; i++) c = crc32cTable[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** An incremental checksum giving the base64 S3 uses (CRCs as 4 big-endian bytes). */
interface Summer {
  update(b: Buffer): void;
  base64(): string;
}

function summer(name: ChecksumName): Summer {
  if (name === 'x-amz-checksum-sha1' || name === 'x-amz-checksum-sha256') {
    const h: Hash = createHash(name === 'x-amz-checksum-sha1' ? 'sha1' : 'sha256');
    return { update: (b) => h.update(b), base64: () => h.digest('base64') };
  }
  let v = 0;
  const crc32 = (zlib as unknown as { crc32?: (b: Uint8Array, v: number) => number }).crc32;
  const step = name === 'x-amz-checksum-crc32c' ? crc32c : crc32;
  if (!step) throw s3Error('NotImplemented', 'CRC32 checksums need Node.js 20.15 or newer on the server');
  return {
    update: (b) => (v = step(b, v)),
    base64: () => {
      const out = Buffer.alloc(4);
      out.writeUInt32BE(v >>> 0);
      return out.toString('base64');
    },
  };
}

/** Bytes gathered from the request before one write (one writev of the received chunks, no copy): 128 parts in flight hold at most 64 MiB. */
export const WRITE_BATCH_BYTES = 256 * 1024;

/**
 * Sequential appends to `fh` in batches of about WRITE_BATCH_BYTES, with one batch in flight while the next is
 * received: a few large writes instead of one per 64 KiB socket chunk, and at most two batches in memory.
 * `add` waits only when a full batch finds the previous one still being written (backpressure).
 */
class BatchWriter {
  private batch: Buffer[] = [];
  private bytes = 0;
  private pos = 0;
  private inflight: Promise<void> | null = null;

  constructor(private readonly fh: FileHandle) {}

  async add(chunk: Buffer): Promise<void> {
    this.batch.push(chunk);
    this.bytes += chunk.length;
    if (this.bytes >= WRITE_BATCH_BYTES) await this.start();
  }

  /** Write what is left and wait for every write. */
  async flush(): Promise<void> {
    if (this.bytes > 0) await this.start();
    await this.inflight;
    this.inflight = null;
  }

  /** Wait for the write in flight, ignoring its outcome (before closing the file on an error path). */
  async settle(): Promise<void> {
    await this.inflight?.catch(() => undefined);
    this.inflight = null;
  }

  private async start(): Promise<void> {
    await this.inflight;
    const bufs = this.batch;
    const at = this.pos;
    this.pos += this.bytes;
    this.batch = [];
    this.bytes = 0;
    this.inflight = writeAllv(this.fh, bufs, at);
    this.inflight.catch(() => undefined); // observed by the next start, flush or settle
  }
}

/** writev until every byte of `bufs` is at `position` (writev may write less than asked). */
async function writeAllv(fh: FileHandle, bufs: Buffer[], position: number): Promise<void> {
  let rest = bufs;
  let at = position;
  while (rest.length > 0) {
    let n = (await fh.writev(rest, at)).bytesWritten;
    at += n;
    const left: Buffer[] = [];
    for (const b of rest) {
      if (n >= b.length) n -= b.length;
      else {
        left.push(n > 0 ? b.subarray(n) : b);
        n = 0;
      }
    }
    rest = left;
  }
}

function hdr(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The decoded length the client promises: x-amz-decoded-content-length for aws-chunked bodies, else
 * Content-Length. Missing: MissingContentLength (411). Above `max`: EntityTooLarge.
 */
export function declaredLength(req: IncomingMessage, payload: Payload, max = MAX_PUT_BYTES): number {
  const text = payload.kind === 'chunked' ? hdr(req, 'x-amz-decoded-content-length') : hdr(req, 'content-length');
  if (text === undefined) throw s3Error('MissingContentLength', `You must provide the ${payload.kind === 'chunked' ? 'x-amz-decoded-content-length' : 'Content-Length'} HTTP header.`);
  if (!/^\d{1,16}$/.test(text)) throw s3Error('InvalidArgument', `the content length ${JSON.stringify(text)} is not a byte count`);
  const n = Number(text);
  if (n > max) throw s3Error('EntityTooLarge', `Your proposed upload exceeds the maximum allowed size (${n} > ${max} bytes)`, { size: n, max });
  return n;
}

/**
 * Stream the body of `req` into a new file `path` (mode 0600; fsynced when `durable`, as a multipart part must be
 * to outlive a crash; a PutObject spool is read back by the commit at once and discarded, so it need not), decoding aws-chunked framing, while
 * computing MD5, the payload SHA-256 when it was signed, and any x-amz-checksum-* the client sent (as a header,
 * or announced in x-amz-trailer). Then check, in order: the length (IncompleteBody), the signed SHA-256
 * (XAmzContentSHA256Mismatch), Content-MD5 (InvalidDigest when malformed, BadDigest when wrong) and the
 * checksums (BadDigest). On any failure the caller must discard the file: nothing has been committed.
 */
export async function ingest(req: IncomingMessage, payload: Payload, path: string, length: number, durable = true, signal?: AbortSignal): Promise<Ingested> {
  const md5Header = hdr(req, 'content-md5');
  if (md5Header !== undefined && !/^[A-Za-z0-9+/]{22}==$/.test(md5Header)) throw s3Error('InvalidDigest', 'The Content-MD5 you specified was invalid.');
  const md5 = createHash('md5');
  const sha = payload.kind === 'sha256' ? createHash('sha256') : undefined;
  const announced = (hdr(req, 'x-amz-trailer') ?? '').toLowerCase().split(',').map((s) => s.trim());
  const sums = new Map<ChecksumName, Summer>();
  for (const name of CHECKSUMS) if (hdr(req, name) !== undefined || announced.includes(name)) sums.set(name, summer(name));
  const trailers: Trailers = new Map();
  const body: AsyncIterable<Buffer> = payload.kind === 'chunked' ? decodeChunked(req, payload, trailers) : req;
  const fh = await open(path, 'wx', 0o600);
  const out = new BatchWriter(fh);
  let size = 0;
  try {
    try {
      for await (const chunk of body) {
        if (signal?.aborted) throw new BlockFrameError('BF_ABORTED', 'the upload was cancelled');
        size += chunk.length;
        if (size > length) throw s3Error('IncompleteBody', 'the body is longer than its declared length');
        md5.update(chunk);
        sha?.update(chunk);
        for (const s of sums.values()) s.update(chunk);
        await out.add(chunk);
      }
      await out.flush();
      if (durable) await fh.sync();
    } catch (err) {
      await out.settle();
      if (err instanceof BlockFrameError) throw err;
      const code = (err as NodeJS.ErrnoException)?.code;
      if (code === 'ENOSPC' || code === 'EDQUOT') throw new BlockFrameError('BF_NO_SPACE', 'no space left for the upload', {}, { cause: err });
      throw s3Error('IncompleteBody', 'the request body was cut off', {}, 'BF_ABORTED');
    }
  } finally {
    await fh.close();
  }
  if (size !== length || (payload.kind !== 'chunked' && !req.complete)) {
    throw s3Error('IncompleteBody', `You did not provide the number of bytes specified by the Content-Length HTTP header (${size} of ${length})`);
  }
  if (sha && sha.digest('hex') !== (payload as { hex: string }).hex) throw s3Error('XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.');
  const md5hex = md5.digest('hex');
  if (md5Header !== undefined && Buffer.from(md5Header, 'base64').toString('hex') !== md5hex) throw s3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.');
  const checksums: Record<string, string> = {};
  for (const [name, s] of sums) {
    const given = hdr(req, name) ?? trailers.get(name);
    if (given === undefined) throw s3Error('InvalidRequest', `${name} was announced in x-amz-trailer but not sent`);
    const got = s.base64();
    if (given !== got) throw s3Error('BadDigest', `The ${name.slice('x-amz-checksum-'.length).toUpperCase()} you specified did not match the calculated checksum.`);
    checksums[name] = got;
  }
  return { size, md5: md5hex, checksums };
}
