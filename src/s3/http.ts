// The S3 request context and wire helpers: XML replies, S3 error bodies, small request bodies, access checks.
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ComputePool } from '../compute/pool.js';
import type { Repository } from '../archive/repo.js';
import type { ArchiveCache } from '../engine/archive-cache.js';
import type { S3Staging } from '../engine/s3-staging.js';
import type { ReadAhead } from '../archive/read/read-ahead.js';
import type { Slots } from '../slots.js';
import type { Caller } from './auth.js';
import type { BucketRecord, Catalog } from './catalog.js';
import { decodeChunked } from './chunked.js';
import { clientError, s3Error } from './errors.js';
import type { KeyedMutex } from './names.js';
import type { Uploads } from './uploads.js';
import type { S3Grant, S3Owner } from './users.js';
import { doc, el, esc, type XmlTree } from './xml.js';

/** Everything a handler shares: the archives, the catalogue, staging for multipart uploads, locks. */
export interface S3Context {
  repo: Repository;
  pool: ComputePool;
  cache: ArchiveCache;
  windows: ReadAhead;
  catalog: Catalog;
  /** Small objects' staging segments and their flush into packs (FORMAT.md §13.9). */
  staging: S3Staging;
  /** Objects of this many bytes and more are archives, smaller ones blobs (PACK_THRESHOLD; tests of the archive path use 0). */
  archiveFrom: number;
  uploads: Uploads;
  grants: S3Grant[];
  /** The identity shown as owner for an access key (see ownerOf in users.ts; never the key itself). */
  owner: (accessKey: string) => S3Owner;
  /** Mutations of one archive directory's references (record, retire) run one at a time. */
  dirs: KeyedMutex;
  /** Commits (PutObject, CompleteMultipartUpload) that may run at once; the rest queue. */
  commits: Slots;
  /** Commits of objects up to SMALL_OBJECT_BYTES: a lane of their own, so they never queue behind a large one. */
  smallCommits: Slots;
  /** XML request bodies (CompleteMultipartUpload, DeleteObjects) read and parsed at once; the rest wait unread. */
  bodies: Slots;
  /** How long such a body may take to arrive once its turn has come (ms; SMALL_BODY_DEADLINE_MS). */
  bodyDeadlineMs: number;
  region: string;
  idleMs: number;
  log: (line: string) => void;
}

/** One S3 request, parsed: who, which bucket and key (decoded), and the query. */
export interface S3Request {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  bucket?: string;
  key?: string;
  /** Decoded query parameters; `q.get` gives the first value, `q.has` presence (for subresources like ?uploads). */
  q: Map<string, string>;
  caller: Caller;
  id: string;
}

/** The <Owner>/<Initiator> element of an access key's user: ID and DisplayName. */
export function ownerXml(ctx: S3Context, accessKey: string): XmlTree {
  const o = ctx.owner(accessKey);
  return { ID: o.id, DisplayName: o.displayName };
}

export const newRequestId = (): string => randomBytes(8).toString('hex').toUpperCase();

/** First value of a request header. */
export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Reply with an XML document (no body for HEAD). */
export function sendXml(r: S3Request, status: number, root: string, body: Parameters<typeof doc>[1], headers: Record<string, string | number> = {}): void {
  const text = doc(root, body);
  r.res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(text), ...headers });
  r.res.end(r.method === 'HEAD' ? undefined : text);
}

/** An empty reply (204 after deletes, 200 after HEAD bucket, …). */
export function sendEmpty(r: S3Request, status: number, headers: Record<string, string | number> = {}): void {
  r.res.writeHead(status, { 'Content-Length': 0, ...headers });
  r.res.end();
}

/**
 * Answer `err` as an S3 error document (Amazon S3 API Reference, "Error responses"): Code, Message, Resource,
 * RequestId and the bucket or key involved. HEAD gets the status only. A response already under way is cut off.
 * Server paths never reach the client: only errors raised in this layer for the client keep their text (see
 * clientError); others, and every InternalError, get a fixed message, and their detail goes to `log`.
 */
export function sendS3Error(res: ServerResponse, method: string, resource: string, id: string, err: unknown, log: (l: string) => void, extra: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy(err instanceof Error ? err : undefined);
    return;
  }
  const { code, status, message, context: ctx, withheld } = clientError(err);
  if (withheld) {
    const e = err as { message?: string; code?: string };
    log(`blockframe s3: ${method} ${resource} (${id}): ${code}: ${e?.code ?? 'error'}: ${e?.message ?? String(err)}`);
  }
  const fields = ['bucket', 'key', 'uploadId', 'partNumber', 'accessKey', 'canonicalRequest', 'argument', 'headersNotSigned']
    .filter((f) => typeof ctx[f] === 'string' || typeof ctx[f] === 'number')
    .map((f) => el({ bucket: 'BucketName', key: 'Key', uploadId: 'UploadId', partNumber: 'PartNumber', accessKey: 'AWSAccessKeyId', canonicalRequest: 'CanonicalRequest', argument: 'ArgumentName', headersNotSigned: 'HeadersNotSigned' }[f]!, String(ctx[f])))
    .join('');
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${esc(message)}</Message>${fields}<Resource>${esc(resource)}</Resource><RequestId>${id}</RequestId></Error>`;
  const headers: Record<string, string | number> = { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(body), 'x-amz-request-id': id, ...extra };
  if (code === 'InvalidRange' && typeof ctx.size === 'number') headers['Content-Range'] = `bytes */${ctx.size}`;
  if (code === 'SlowDown' || code === 'ServiceUnavailable') headers['Retry-After'] = '1';
  res.writeHead(status, headers);
  res.end(method === 'HEAD' ? undefined : body);
}

/** XML bodies of CompleteMultipartUpload and DeleteObjects read and parsed at once (each up to 4 MB, see withSmallBody): parsing is main-thread work, so more than the two cores gain nothing but memory. */
export const DEFAULT_BODY_SLOTS = 2;
/** Requests waiting for a body slot beyond which more are turned away (SlowDown) rather than queued. */
export const MAX_BODY_WAITERS = 256;
/** A small body must arrive whole within this long once its turn has come (RequestTimeout otherwise). */
export const SMALL_BODY_DEADLINE_MS = 60_000;

/**
 * A small request body (XML documents), at most `max` bytes after aws-chunked decoding: more is
 * MaxMessageLengthExceeded (refused from Content-Length before a byte is read when it can be). The signed
 * SHA-256 and Content-MD5 are checked when given. With `deadlineMs`, a body not whole by then is RequestTimeout.
 */
export async function readSmallBody(r: S3Request, max: number, deadlineMs?: number): Promise<Buffer> {
  const declared = Number(header(r.req, 'content-length') ?? '0');
  if (r.caller.payload.kind !== 'chunked' && declared > max) throw s3Error('MaxMessageLengthExceeded', `Your request was too big (more than ${max} bytes).`);
  const parts: Buffer[] = [];
  let size = 0;
  const source = r.caller.payload.kind === 'chunked' ? decodeChunked(r.req, r.caller.payload, new Map()) : r.req;
  let timer: NodeJS.Timeout | undefined;
  const late = deadlineMs === undefined ? undefined : new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(s3Error('RequestTimeout', 'Your socket connection to the server was not read from or written to within the timeout period.')), deadlineMs);
  });
  late?.catch(() => undefined);
  const it = source[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = late ? await Promise.race([it.next(), late]) : await it.next();
      if (next.done) break;
      const chunk = next.value as Buffer;
      size += chunk.length;
      if (size > max) throw s3Error('MaxMessageLengthExceeded', `Your request was too big (more than ${max} bytes).`);
      parts.push(chunk);
    }
  } catch (err) {
    if (err instanceof Error && 'code' in err && typeof (err as { code: unknown }).code === 'string' && (err as { code: string }).code.startsWith('BF_')) throw err;
    throw s3Error('IncompleteBody', 'the request body was cut off', {}, 'BF_ABORTED');
  } finally {
    clearTimeout(timer);
  }
  const body = Buffer.concat(parts);
  const p = r.caller.payload;
  if (p.kind === 'sha256' && createHash('sha256').update(body).digest('hex') !== p.hex) {
    throw s3Error('XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.');
  }
  const md5 = header(r.req, 'content-md5');
  if (md5 !== undefined && createHash('md5').update(body).digest('base64') !== md5) throw s3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.');
  return body;
}

/**
 * Read a small XML body (at most `max` bytes, see readSmallBody) and run `use` on it (parse and check), holding
 * one of `ctx.bodies`' slots for both: at most DEFAULT_BODY_SLOTS bodies are in memory and parsed at once, so
 * many large documents at once cannot exhaust memory or monopolise the event loop. While a request waits for a
 * slot its body is not read (TCP holds it); past MAX_BODY_WAITERS waiting, SlowDown (503). Once its turn has
 * come a body must arrive within ctx.bodyDeadlineMs (RequestTimeout), so slow senders cannot hold slots.
 * Keep `use` to parsing: slow work (commits, deletes) belongs after it, outside the slot.
 */
export async function withSmallBody<T>(ctx: S3Context, r: S3Request, max: number, use: (body: Buffer) => T | Promise<T>): Promise<T> {
  if (ctx.bodies.waiting >= MAX_BODY_WAITERS) throw s3Error('SlowDown', 'Please reduce your request rate.');
  return ctx.bodies.run(async () => use(await readSmallBody(r, max, ctx.bodyDeadlineMs)));
}

export type Access = 'read' | 'write' | 'owner';

/**
 * May the caller do `need` to `bucket`? The owner may do anything; a grant gives read or write (write includes
 * read); anonymous callers may only read a public-read bucket. Otherwise AccessDenied. A bucket that does not
 * exist is NoSuchBucket (404) for every caller, anonymous ones included, as AWS and Ceph RGW answer: bucket
 * names are not secret there either (CreateBucket tells anyone whether a name is taken).
 */
export function authorize(ctx: S3Context, r: S3Request, bucket: string, need: Access): BucketRecord {
  const b = ctx.catalog.bucket(bucket);
  const user = r.caller.user;
  if (!b) throw s3Error('NoSuchBucket', 'The specified bucket does not exist', { bucket });
  if (!user) {
    if (b.publicRead && need === 'read') return b;
    throw s3Error('AccessDenied', 'Access Denied (anonymous access is off: sign the request)', { bucket });
  }
  if (b.owner === user.accessKey) return b;
  if (need !== 'owner') {
    const g = ctx.grants.find((x) => x.bucket === bucket && x.accessKey === user.accessKey);
    if (g && (g.access === 'write' || need === 'read')) return b;
  }
  throw s3Error('AccessDenied', 'Access Denied', { bucket });
}

/** S3 timestamps: ISO 8601 with milliseconds in listings, RFC 7231 dates in headers. */
export const httpDate = (iso: string): string => new Date(iso).toUTCString();

/**
 * Run server-side work during which no byte moves (a commit): the connection's idle timeout is off meanwhile,
 * and back on afterwards, so a client that stalls while sending or reading is still cut off.
 */
export async function quietWork<T>(ctx: S3Context, r: S3Request, fn: () => Promise<T>): Promise<T> {
  r.req.socket.setTimeout(0);
  try {
    return await fn();
  } finally {
    if (!r.req.socket.destroyed) r.req.socket.setTimeout(ctx.idleMs);
  }
}
