// Small HTTP helpers for the server: JSON replies, coded errors, content types, Content-Disposition, path checks.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BlockFrameError, isBlockFrameError } from '../errors.js';

const TYPES: Record<string, string> = {
  mp4: 'video/mp4',
  m4v: 'video/mp4',
  webm: 'video/webm',
  mkv: 'video/x-matroska',
  mp3: 'audio/mpeg',
  wav: 'audio/wav',
  ogg: 'audio/ogg',
  flac: 'audio/flac',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  svg: 'image/svg+xml',
  pdf: 'application/pdf',
  txt: 'text/plain; charset=utf-8',
  json: 'application/json',
  // Archived HTML is shown as text: it must never run script in the server's origin.
  html: 'text/plain; charset=utf-8',
  htm: 'text/plain; charset=utf-8',
  zip: 'application/zip',
  tar: 'application/x-tar',
  gz: 'application/gzip',
};

export const OCTET = 'application/octet-stream';

/** Content-Type for an archived file name, from its extension; unknown → application/octet-stream. */
export function contentTypeFor(name: string): string {
  const dot = name.lastIndexOf('.');
  if (dot < 0) return OCTET;
  return TYPES[name.slice(dot + 1).toLowerCase()] ?? OCTET;
}

/**
 * RFC 6266 Content-Disposition: `inline` or `attachment`, an ASCII `filename` fallback and the exact name in
 * `filename*` (RFC 8187 ext-value, UTF-8, percent-encoded: every byte outside attr-char, so quotes, '\\', ';',
 * '%', control characters and non-ASCII all survive). Only the part after the last '/' is the file name (an S3
 * archive's name is "bucket/key"; RFC 6266 §4.3 has recipients drop directory parts anyway); a backslash is an
 * ordinary character of a POSIX name, not a separator. Lone UTF-16 surrogates (not encodable) become U+FFFD.
 * Returns ASCII only, so Node accepts it as a header value.
 */
export function contentDisposition(name: string, attachment: boolean): string {
  const base = wellFormed(name.slice(name.lastIndexOf('/') + 1)) || 'download';
  // quoted-string fallback (RFC 9110 §5.6.4): printable ASCII without '"' and '\\'; '%' too, which some agents decode.
  const ascii = base.replace(/[^\x20-\x7e]|["\\%]/gu, '_'); // one '_' per code point
  // encodeURIComponent leaves A-Z a-z 0-9 - _ . ! ~ * ' ( ); of these, ' ( ) * are not RFC 8187 attr-chars.
  const star = encodeURIComponent(base).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${attachment ? 'attachment' : 'inline'}; filename="${ascii}"; filename*=UTF-8''${star}`;
}

/** `s` with every unpaired UTF-16 surrogate replaced by U+FFFD (encodeURIComponent throws on those). */
function wellFormed(s: string): string {
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

/** Reply `{error: {code, message, ...context}}` with the status from the error catalogue. */
/**
 * Answer an error as JSON `{"error": {code, message, ...context}}` with the code's status. Absolute server paths
 * are not the client's business: the context's `path` and `store` are dropped, and every string in `redact`
 * (the archive root, store directories) is cut from the message.
 */
export function sendError(res: ServerResponse, err: unknown, headers: Record<string, string> = {}, redact: string[] = []): void {
  if (res.headersSent) {
    res.destroy(err instanceof Error ? err : undefined);
    return;
  }
  const e = isBlockFrameError(err) ? err : new BlockFrameError('BF_INTERNAL', `unexpected error: ${(err as Error)?.message ?? String(err)}`);
  const extra: Record<string, string> = { ...headers };
  if (e.code === 'BF_UNAUTHORIZED') extra['WWW-Authenticate'] = 'Bearer realm="blockframe"';
  if (e.code === 'BF_METHOD_NOT_ALLOWED' && typeof e.context.allow === 'string') extra.Allow = e.context.allow;
  if (e.code === 'BF_RANGE_NOT_SATISFIABLE' && typeof e.context.size === 'number') extra['Content-Range'] = `bytes */${e.context.size}`;
  // Absolute server paths are not the client's business.
  const { path: _path, store: _store, ...context } = e.context;
  void _path;
  void _store;
  let message = e.message;
  for (const p of [e.context.path, e.context.store, ...redact]) {
    if (typeof p === 'string' && p.length > 1) message = message.split(p).join('…');
  }
  sendJson(res, e.httpStatus, { error: { ...context, code: e.code, message } }, extra);
}

export function notFound(what: string): BlockFrameError {
  return new BlockFrameError('BF_NOT_FOUND', `not found: ${what}`);
}

export function methodNotAllowed(method: string, allow: string[]): BlockFrameError {
  return new BlockFrameError('BF_METHOD_NOT_ALLOWED', `method ${method} is not allowed here (allowed: ${allow.join(', ')})`, { allow: allow.join(', ') });
}

export function badRequest(message: string): BlockFrameError {
  return new BlockFrameError('BF_BAD_REQUEST', message);
}

/**
 * Decode one path segment and refuse anything that could name another path: '/', '\\', NUL or other control
 * characters after decoding, '.' and '..', and malformed percent-encoding.
 */
export function decodeSegment(raw: string): string {
  let s: string;
  try {
    s = decodeURIComponent(raw);
  } catch {
    throw badRequest('malformed percent-encoding in the path');
  }
  // eslint-disable-next-line no-control-regex
  if (s === '' || s === '.' || s === '..' || /[/\\\u0000-\u001f\u007f]/.test(s)) throw badRequest(`invalid name in the path: ${JSON.stringify(s)}`);
  return s;
}

export function queryFlag(req: IncomingMessage, key: string): boolean {
  const q = new URL(req.url ?? '/', 'http://x').searchParams.get(key);
  return q !== null && q !== '0' && q !== 'false';
}
