// GetObject and HeadObject: conditionals, one byte range or one part, header overrides, verified streaming.
import { isBlockFrameError } from '../errors.js';
import { streamSpans } from '../http/stream.js';
import { parseRangeHeader, type Span } from '../http/ranges.js';
import type { ObjectRecord } from './catalog.js';
import { s3Error } from './errors.js';
import { authorize, header, httpDate, type S3Context, type S3Request } from './http.js';

/** What an object's GET/HEAD always carries: validators, type, length and the metadata kept at PUT. */
export function objectHeaders(rec: ObjectRecord): Record<string, string | number> {
  const h: Record<string, string | number> = {
    ETag: rec.etag,
    'Last-Modified': httpDate(rec.lastModified),
    'Content-Type': rec.contentType ?? 'binary/octet-stream',
    'Accept-Ranges': 'bytes',
    'X-Content-Type-Options': 'nosniff',
  };
  for (const [k, v] of Object.entries(rec.headers ?? {})) h[k] = v;
  for (const [k, v] of Object.entries(rec.meta ?? {})) h[`x-amz-meta-${k}`] = v;
  if (rec.parts) h['x-amz-mp-parts-count'] = rec.parts.length;
  return h;
}

const sec = (t: number): number => Math.floor(t / 1000);

/** An If-Match / If-None-Match list against an ETag ('*' matches any; weak tags compare by value). */
export function etagMatches(list: string, etag: string): boolean {
  const strip = (t: string) => t.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
  return list.split(',').some((t) => t.trim() === '*' || strip(t) === strip(etag));
}

/**
 * Evaluate the GET/HEAD preconditions in RFC 9110 §13.2.2 order: If-Match, else If-Unmodified-Since (412 when
 * false); then If-None-Match, else If-Modified-Since ('not-modified' → 304). Unparseable dates are ignored.
 */
export function preconditions(get: (h: string) => string | undefined, etag: string, modifiedIso: string): 'ok' | 'not-modified' {
  const modified = sec(Date.parse(modifiedIso));
  const im = get('if-match');
  const ius = get('if-unmodified-since');
  if (im !== undefined) {
    if (!etagMatches(im, etag)) throw s3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { condition: 'If-Match' });
  } else if (ius !== undefined && Number.isFinite(Date.parse(ius)) && modified > sec(Date.parse(ius))) {
    throw s3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { condition: 'If-Unmodified-Since' });
  }
  const inm = get('if-none-match');
  const ims = get('if-modified-since');
  if (inm !== undefined) return etagMatches(inm, etag) ? 'not-modified' : 'ok';
  if (ims !== undefined && Number.isFinite(Date.parse(ims)) && modified <= sec(Date.parse(ims))) return 'not-modified';
  return 'ok';
}

/** response-* query parameters and the headers they override (GetObject). */
const OVERRIDES: Record<string, string> = {
  'response-content-type': 'Content-Type',
  'response-content-language': 'Content-Language',
  'response-expires': 'Expires',
  'response-cache-control': 'Cache-Control',
  'response-content-disposition': 'Content-Disposition',
  'response-content-encoding': 'Content-Encoding',
};

/** Failures a freshly opened archive may not have (the archive was repaired or rewritten meanwhile). */
const RETRIED = new Set(['BF_UNRECOVERABLE', 'BF_HASH_MISMATCH', 'BF_MANIFEST_INVALID', 'BF_MANIFEST_MISSING']);

/**
 * GET/HEAD /{bucket}/{key}: the record from the key index (no manifest read), then preconditions, then the
 * bytes through the verified, self-healing reader (the same windows as /files/). One range per request, as S3:
 * a multi-range header is served whole. `partNumber` selects one part of a multipart object (or the whole of a
 * single-PUT object for part 1). Errors: NoSuchKey, PreconditionFailed, InvalidRange, InvalidPartNumber; damage
 * beyond repair is InternalError (500), found after the headers it cuts the connection: never wrong bytes.
 */
export async function getObject(ctx: S3Context, r: S3Request): Promise<void> {
  const bucket = r.bucket!;
  const key = r.key!;
  authorize(ctx, r, bucket, 'read');
  // Overriding response headers is for signed requests only (Amazon S3 API Reference, GetObject: "Overriding
  // response header values"): else anyone could have a public object served as, say, text/html.
  const overrides = Object.keys(OVERRIDES).filter((q) => r.q.has(q));
  if (!r.caller.user && overrides.length > 0) {
    throw s3Error('InvalidRequest', `Request specific response headers cannot be used for anonymous GET requests (${overrides.join(', ')})`, { argument: overrides[0]! });
  }
  const rec = ctx.catalog.get(bucket, key);
  if (!rec) throw s3Error('NoSuchKey', 'The specified key does not exist.', { key });
  const headers = objectHeaders(rec);
  if (preconditions((h) => header(r.req, h), rec.etag, rec.lastModified) === 'not-modified') {
    r.res.writeHead(304, { ETag: rec.etag, 'Last-Modified': headers['Last-Modified']! });
    r.res.end();
    return;
  }
  for (const [q, h] of Object.entries(OVERRIDES)) {
    const v = r.q.get(q);
    if (v !== undefined) headers[h] = v;
  }
  if (header(r.req, 'x-amz-checksum-mode') === 'ENABLED' && !r.q.has('partNumber') && r.req.headers.range === undefined) {
    for (const [k, v] of Object.entries(rec.checksums ?? {})) headers[k] = v;
  }
  let span: Span | undefined;
  const part = r.q.get('partNumber');
  if (part !== undefined) {
    const n = /^\d{1,5}$/.test(part) ? Number(part) : 0;
    const sizes = rec.parts ?? [rec.size];
    if (n < 1 || n > sizes.length) throw s3Error('InvalidPartNumber', 'The requested partnumber is not satisfiable', { partNumber: part });
    const start = sizes.slice(0, n - 1).reduce((a, b) => a + b, 0);
    span = { start, end: start + sizes[n - 1]! - 1 };
  } else {
    const range = parseRangeHeader(header(r.req, 'range'), rec.size);
    if (range.kind === 'unsatisfiable') throw s3Error('InvalidRange', 'The requested range is not satisfiable', { size: rec.size, range: header(r.req, 'range') });
    if (range.kind === 'ranges' && range.spans.length === 1) span = range.spans[0];
  }
  const partial = span !== undefined && (span.start > 0 || span.end < rec.size - 1 || part !== undefined || r.req.headers.range !== undefined);
  const s = span ?? { start: 0, end: rec.size - 1 };
  const length = rec.size === 0 ? 0 : s.end - s.start + 1;
  Object.assign(headers, { 'Content-Length': length, 'x-amz-request-id': r.id });
  if (partial && rec.size > 0) headers['Content-Range'] = `bytes ${s.start}-${s.end}/${rec.size}`;
  const status = partial && rec.size > 0 ? 206 : 200;
  if (r.method === 'HEAD' || length === 0) {
    r.res.writeHead(status, headers);
    r.res.end();
    return;
  }
  if (rec.blob !== undefined) {
    // A blob below 16 MiB (FORMAT.md §13.9): read whole before the headers go out, verified (a staged blob against
    // its hash, a packed one chunk by chunk and, whole, against its hash), so damage beyond repair is a 500, never
    // wrong bytes.
    const bytes = await ctx.staging.read(rec.blob, s.start, s.end + 1);
    r.res.writeHead(status, headers);
    r.res.end(bytes);
    return;
  }
  for (let attempt = 0; ; attempt++) {
    const lease = await ctx.cache.leaseDir(rec.dir!);
    try {
      await streamSpans(r.res, ctx.windows, lease.archive, [{ span: s }], () => r.res.writeHead(status, headers), undefined, ctx.idleMs);
      return;
    } catch (err) {
      if (attempt > 0 || r.res.headersSent || !isBlockFrameError(err) || !RETRIED.has(err.code)) throw err;
      ctx.cache.invalidate(rec.dir!);
    } finally {
      lease.release();
    }
  }
}
