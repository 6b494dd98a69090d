// GET/HEAD /files/{name}: verified bytes with validators, conditional requests, single and multipart byte ranges.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BlockFrameError } from '../errors.js';
import type { ArchiveCache } from '../engine/archive-cache.js';
import type { ReadAhead } from '../archive/read/read-ahead.js';
import { contentDisposition, contentTypeFor, queryFlag } from './http-util.js';
import { streamSpans } from '../http/stream.js';
import type { ArchiveVisibility } from './visibility.js';
import { ifRangeHolds, noneMatch, notModifiedSince, parseRangeHeader, type Span } from '../http/ranges.js';

/**
 * File responses streaming at once. Each holds at most one 64 KiB window outside the shared budget (see
 * ReadAhead), so paused clients cost at most 32 MiB beyond it; beyond this many: 503 with Retry-After.
 */
const MAX_STREAMS = 512;
let streams = 0;

/** Security headers for archived content: never sniffed, never scripted in our origin. */
export const CONTENT_SECURITY = {
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy': "default-src 'none'; media-src 'self'; img-src 'self'; style-src 'unsafe-inline'; sandbox",
} as const;

/**
 * GET/HEAD of one archived file. A read that fails before anything was sent is tried once more on a freshly
 * opened archive (the manifest or the files may have been replaced meanwhile, say by a repair or a rewrite).
 * With `view`, archives it hides are not found (404 BF_ARCHIVE_NOT_FOUND).
 */
export async function serveFile(req: IncomingMessage, res: ServerResponse, cache: ArchiveCache, windows: ReadAhead, name: string, idleMs = 0, view?: ArchiveVisibility): Promise<void> {
  if (streams >= MAX_STREAMS) {
    res.setHeader('Retry-After', '1');
    throw new BlockFrameError('BF_SERVER_BUSY', `the server is streaming ${streams} files, its limit; retry shortly`);
  }
  streams++;
  res.once('close', () => streams--);
  try {
    await serveOnce(req, res, cache, windows, name, idleMs, view);
  } catch (err) {
    if (res.headersSent || !(err instanceof BlockFrameError) || !RETRIED.has(err.code)) throw err;
    cache.invalidate(typeof err.context.archive === 'string' ? err.context.archive : undefined);
    await serveOnce(req, res, cache, windows, name, idleMs, view);
  }
}

/** Failures a reopened archive may not have. */
const RETRIED = new Set(['BF_UNRECOVERABLE', 'BF_HASH_MISMATCH', 'BF_MANIFEST_INVALID', 'BF_MANIFEST_MISSING', 'BF_STORE_CONFIG']);

async function serveOnce(req: IncomingMessage, res: ServerResponse, cache: ArchiveCache, windows: ReadAhead, name: string, idleMs: number, view?: ArchiveVisibility): Promise<void> {
  const lease = await cache.lease(name, view);
  try {
    const m = lease.archive.manifest;
    const size = m.size;
    const content = lease.archive.content;
    const etag = `"${content.originalHash}"`;
    const modified = new Date(m.created_at);
    const type = contentTypeFor(content.name);
    const base: Record<string, string | number> = {
      'Accept-Ranges': 'bytes',
      ETag: etag,
      'Last-Modified': modified.toUTCString(),
      'Cache-Control': 'no-cache',
      'Content-Disposition': contentDisposition(content.name, queryFlag(req, 'download')),
      ...CONTENT_SECURITY,
    };
    // Damage already seen on this archive (the bytes are still verified): say so, so clients can alert or repair.
    const healed = cache.healedFiles(lease.dir).length;
    if (healed) base['X-BlockFrame-Healed'] = `${healed} damaged file${healed === 1 ? '' : 's'} rebuilt from parity on read; run blockframe repair`;
    const inm = noneMatch(req.headers['if-none-match'], etag);
    if (inm === true || (inm === undefined && notModifiedSince(req.headers['if-modified-since'], modified))) {
      res.writeHead(304, base);
      res.end();
      return;
    }
    const head = req.method === 'HEAD';
    // Range is defined for GET only (RFC 9110 §14.2); If-Range failing means "send it all".
    const range = !head && ifRangeHolds(header(req, 'if-range'), etag, modified) ? parseRangeHeader(req.headers.range, size) : ({ kind: 'full' } as const);
    if (range.kind === 'unsatisfiable') {
      const body = JSON.stringify({ error: { code: 'BF_RANGE_NOT_SATISFIABLE', message: `no requested range overlaps the file (${size} bytes)`, size } });
      res.writeHead(416, { ...base, 'Content-Range': `bytes */${size}`, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    if (range.kind === 'full' || range.spans.length === 1) {
      const s: Span = range.kind === 'full' ? { start: 0, end: size - 1 } : range.spans[0]!;
      const headers = { ...base, 'Content-Type': type, 'Content-Length': s.end - s.start + 1 };
      if (range.kind === 'ranges') Object.assign(headers, { 'Content-Range': `bytes ${s.start}-${s.end}/${size}` });
      const status = range.kind === 'ranges' ? 206 : 200;
      if (head || size === 0) {
        res.writeHead(status, headers);
        res.end();
        return;
      }
      await streamSpans(res, windows, lease.archive, [{ span: s }], () => res.writeHead(status, headers), undefined, idleMs);
      return;
    }
    const boundary = `bf-${randomBytes(12).toString('hex')}`;
    const parts = range.spans.map((span, i) => ({
      span,
      prefix: Buffer.from(`${i === 0 ? '' : '\r\n'}--${boundary}\r\nContent-Type: ${type}\r\nContent-Range: bytes ${span.start}-${span.end}/${size}\r\n\r\n`),
    }));
    const trailer = Buffer.from(`\r\n--${boundary}--\r\n`);
    const length = parts.reduce((n, p) => n + p.prefix.length + p.span.end - p.span.start + 1, trailer.length);
    const headers = { ...base, 'Content-Type': `multipart/byteranges; boundary=${boundary}`, 'Content-Length': length };
    await streamSpans(res, windows, lease.archive, parts, () => res.writeHead(206, headers), trailer, idleMs);
  } finally {
    lease.release();
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

