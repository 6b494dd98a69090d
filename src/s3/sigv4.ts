// AWS Signature Version 4 for S3, the pure part: URI encoding, the canonical request, the string to sign, keys.
import { createHash, createHmac } from 'node:crypto';

/**
 * Sources: AWS IAM User Guide, "Create a signed AWS API request" (canonical request, string to sign, signing
 * key) and Amazon S3 API Reference, "Authenticating Requests (AWS Signature Version 4)" (S3 specifics: the path
 * is not normalised and not encoded twice; `x-amz-content-sha256` is always signed; presigned URLs carry
 * UNSIGNED-PAYLOAD; aws-chunked uploads sign each chunk).
 */
export const ALGORITHM = 'AWS4-HMAC-SHA256';
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
export const STREAMING_PAYLOAD = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
export const STREAMING_PAYLOAD_TRAILER = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER';
export const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export const sha256Hex = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');
export const hmac = (key: Uint8Array | string, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

/**
 * SigV4 URI encoding of a decoded string: every byte of its UTF-8 except the unreserved characters
 * A-Z a-z 0-9 - . _ ~ becomes %XX with upper-case hex; '/' is kept when `keepSlash` (object key paths).
 */
export function uriEncode(text: string, keepSlash = false): string {
  let out = '';
  for (const b of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === '/')) out += c;
    else out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Percent-decoding that never throws: a malformed escape is kept as it is (and so will not match a signature). */
function decodeLoose(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * The canonical URI of a raw request path: each '/'-separated segment decoded once and encoded the SigV4 way,
 * so "%2F" inside a key stays one encoded segment character and nothing is normalised ('.', '..', '//').
 */
export function canonicalUri(rawPath: string): string {
  return rawPath.split('/').map((seg) => uriEncode(decodeLoose(seg))).join('/') || '/';
}

/** Decoded query parameters in order of appearance ('+' stays a plus sign, as S3 clients encode a space as %20). */
export function parseQuery(rawQuery: string): [string, string][] {
  if (rawQuery === '') return [];
  return rawQuery
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const eq = p.indexOf('=');
      return eq < 0 ? [decodeLoose(p), ''] : [decodeLoose(p.slice(0, eq)), decodeLoose(p.slice(eq + 1))];
    });
}

/** The canonical query string: names and values encoded, sorted by name then value; `omit` names are left out. */
export function canonicalQuery(params: [string, string][], omit?: string): string {
  return params
    .filter(([k]) => k !== omit)
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

/** A header value as it is signed: surrounding blanks trimmed, inner runs of blanks collapsed to one space. */
export const canonicalValue = (v: string): string => v.trim().replace(/[ \t]+/g, ' ');

/**
 * The canonical headers block for `signed` (lower-case names): `name:value\n` for each, in the order given
 * (sorted by the client); repeated headers are joined with ','. `raw` is Node's rawHeaders (name, value, …).
 * A signed header the request lacks yields null.
 */
export function canonicalHeaders(raw: string[], signed: string[]): string | null {
  const values = new Map<string, string[]>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const list = values.get(name) ?? [];
    list.push(canonicalValue(raw[i + 1]!));
    values.set(name, list);
  }
  let out = '';
  for (const name of signed) {
    const v = values.get(name);
    if (!v) return null;
    out += `${name}:${v.join(',')}\n`;
  }
  return out;
}

export interface CanonicalParts {
  method: string;
  rawPath: string;
  query: [string, string][];
  /** The canonical headers block (see canonicalHeaders). */
  headers: string;
  signedHeaders: string[];
  payloadHash: string;
  /** A query parameter left out of the canonical query (X-Amz-Signature for presigned URLs). */
  omitQuery?: string;
}

export function canonicalRequest(p: CanonicalParts): string {
  return [p.method, canonicalUri(p.rawPath), canonicalQuery(p.query, p.omitQuery), p.headers, p.signedHeaders.join(';'), p.payloadHash].join('\n');
}

/** "20240101/us-east-1/s3/aws4_request" from its parts. */
export const scopeOf = (date: string, region: string, service: string): string => `${date}/${region}/${service}/aws4_request`;

export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return [ALGORITHM, amzDate, scope, sha256Hex(canonical)].join('\n');
}

const keyCache = new Map<string, Buffer>();

/** The signing key HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request"), cached. */
export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  const id = `${sha256Hex(secret)}/${date}/${region}/${service}`;
  let k = keyCache.get(id);
  if (!k) {
    k = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
    if (keyCache.size > 256) keyCache.clear();
    keyCache.set(id, k);
  }
  return k;
}

export const signHex = (key: Buffer, text: string): string => createHmac('sha256', key).update(text, 'utf8').digest('hex');

/** The string to sign of one aws-chunked chunk (its signature chains on the previous one). */
export function chunkStringToSign(amzDate: string, scope: string, previous: string, chunkSha256: string): string {
  return ['AWS4-HMAC-SHA256-PAYLOAD', amzDate, scope, previous, EMPTY_SHA256, chunkSha256].join('\n');
}

/** The string to sign of the trailer of a signed aws-chunked upload. */
export function trailerStringToSign(amzDate: string, scope: string, previous: string, trailerSha256: string): string {
  return ['AWS4-HMAC-SHA256-TRAILER', amzDate, scope, previous, trailerSha256].join('\n');
}

/** Parse "20240101T000000Z" (ISO 8601 basic, UTC) to epoch ms, or NaN. */
export function parseAmzDate(s: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return NaN;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
}
