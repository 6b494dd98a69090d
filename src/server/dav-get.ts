// GET/HEAD of one file of a MountTree (WebDAV, folder archives under /files/): validators, conditionals, ranges.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BlockFrameError, isBlockFrameError } from '../errors.js';
import type { MountFile } from '../engine/mount-file.js';
import type { MountNode } from '../engine/mount-tree.js';
import { drained } from '../http/stream.js';
import { ifRangeHolds, noneMatch, notModifiedSince, parseRangeHeader, type Span } from '../http/ranges.js';
import { contentDisposition, contentTypeFor, queryFlag } from './http-util.js';
import { CONTENT_SECURITY } from './files.js';

/** Bytes asked of the file per read: sequential reads of this size turn the file's read-ahead on (MountFile). */
const CHUNK = 1024 * 1024;
/** Tree-file responses streaming at once; beyond this, 503 BF_SERVER_BUSY with Retry-After (as /files/ does). */
const MAX_STREAMS = 256;
let streams = 0;

/** The strong ETag of a mounted file: its content hash (blob hash or archive hash), quoted. */
export function etagOf(node: MountNode): string {
  return `"${node.hash ?? `${node.size}-${node.mtimeMs}`}"`;
}

/**
 * Answer GET or HEAD of the file `node` (opened lazily with `open`, closed here) named `name`: RFC 9110 validators
 * (ETag from the content hash, Last-Modified from the file's mtime), If-None-Match / If-Modified-Since (304),
 * If-Range and Range (single part 206, several as multipart/byteranges, 416 outside the file). The first chunk is read
 * before the status line, so a range that cannot be rebuilt is a 5xx JSON error (BF_UNRECOVERABLE…); damage found
 * later cuts the connection: the client sees a short body, never unverified bytes. Reads run in 1 MiB chunks with
 * backpressure; a client idle for `idleMs` is cut off.
 */
export async function serveTreeFile(req: IncomingMessage, res: ServerResponse, node: MountNode, name: string, open: () => Promise<MountFile>, idleMs = 0): Promise<void> {
  const size = node.size;
  const etag = etagOf(node);
  const modified = new Date(node.mtimeMs);
  const type = contentTypeFor(name);
  const base: Record<string, string | number> = {
    'Accept-Ranges': 'bytes',
    ETag: etag,
    'Last-Modified': modified.toUTCString(),
    'Cache-Control': 'no-cache',
    'Content-Disposition': contentDisposition(name, queryFlag(req, 'download')),
    ...CONTENT_SECURITY,
  };
  const inm = noneMatch(header(req, 'if-none-match'), etag);
  if (inm === true || (inm === undefined && notModifiedSince(header(req, 'if-modified-since'), modified))) {
    res.writeHead(304, base);
    res.end();
    return;
  }
  const head = req.method === 'HEAD';
  const range = !head && ifRangeHolds(header(req, 'if-range'), etag, modified) ? parseRangeHeader(header(req, 'range'), size) : ({ kind: 'full' } as const);
  if (range.kind === 'unsatisfiable') {
    throw new BlockFrameError('BF_RANGE_NOT_SATISFIABLE', `no requested range overlaps the file (${size} bytes)`, { size });
  }
  let parts: { span: Span; prefix?: Buffer }[];
  let headers: Record<string, string | number>;
  let trailer: Buffer | undefined;
  if (range.kind === 'full' || range.spans.length === 1) {
    const s: Span = range.kind === 'full' ? { start: 0, end: size - 1 } : range.spans[0]!;
    headers = { ...base, 'Content-Type': type, 'Content-Length': Math.max(0, s.end - s.start + 1) };
    if (range.kind === 'ranges') headers['Content-Range'] = `bytes ${s.start}-${s.end}/${size}`;
    parts = size === 0 ? [] : [{ span: s }];
  } else {
    const boundary = `bf-${randomBytes(12).toString('hex')}`;
    parts = range.spans.map((span, i) => ({
      span,
      prefix: Buffer.from(`${i === 0 ? '' : '\r\n'}--${boundary}\r\nContent-Type: ${type}\r\nContent-Range: bytes ${span.start}-${span.end}/${size}\r\n\r\n`),
    }));
    trailer = Buffer.from(`\r\n--${boundary}--\r\n`);
    const length = parts.reduce((n, p) => n + p.prefix!.length + p.span.end - p.span.start + 1, trailer.length);
    headers = { ...base, 'Content-Type': `multipart/byteranges; boundary=${boundary}`, 'Content-Length': length };
  }
  const status = range.kind === 'ranges' ? 206 : 200;
  if (head || parts.length === 0) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  if (streams >= MAX_STREAMS) {
    res.setHeader('Retry-After', '1');
    throw new BlockFrameError('BF_SERVER_BUSY', `the server is streaming ${streams} files, its limit; retry shortly`);
  }
  streams++;
  try {
    const file = await open();
    try {
      await stream(res, file, parts, () => res.writeHead(status, headers), trailer, idleMs);
    } finally {
      await file.close();
    }
  } catch (err) {
    throw listedButLost(err);
  } finally {
    streams--;
  }
}

/**
 * A file the tree lists whose bytes no location holds (BF_BLOB_MISSING, 404 in the catalogue) is not "not found" to
 * the client that was shown it: it is data that cannot be rebuilt, BF_UNRECOVERABLE (500), the blob code kept as `blobError`.
 */
function listedButLost(err: unknown): unknown {
  if (!isBlockFrameError(err, 'BF_BLOB_MISSING')) return err;
  return new BlockFrameError('BF_UNRECOVERABLE', `the file's data cannot be read or rebuilt: ${err.message}`, { ...err.context, blobError: 'BF_BLOB_MISSING' }, { cause: err });
}

/** Write each part's verified bytes (after its prefix) in CHUNK reads with backpressure; see serveTreeFile. */
async function stream(res: ServerResponse, file: MountFile, parts: { span: Span; prefix?: Buffer }[], writeHeaders: () => void, trailer: Buffer | undefined, idleMs: number): Promise<void> {
  let started = false;
  const write = async (chunk: Uint8Array): Promise<boolean> => {
    if (res.destroyed) return false;
    if (!res.write(chunk)) await drained(res, idleMs);
    return !res.destroyed;
  };
  try {
    for (const part of parts) {
      let pos = part.span.start;
      const end = part.span.end + 1;
      let prefixed = !part.prefix;
      while (pos < end) {
        const buf = await file.read(pos, Math.min(CHUNK, end - pos));
        if (buf.length === 0) throw new BlockFrameError('BF_IO', `the file ended at ${pos} bytes, before the ${end} it was listed with`);
        if (!started) {
          started = true;
          writeHeaders();
        }
        if (!prefixed) {
          prefixed = true;
          if (!(await write(part.prefix!))) return;
        }
        if (!(await write(buf))) return;
        pos += buf.length;
      }
    }
    if (trailer && !(await write(trailer))) return;
    res.end();
  } catch (err) {
    if (!started) throw err;
    res.destroy(err instanceof Error ? err : undefined);
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}
