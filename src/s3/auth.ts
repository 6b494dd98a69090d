// Authenticating S3 requests: SigV4 Authorization headers, presigned URLs, clock skew, and who the caller is.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { s3Error } from './errors.js';
import {
  ALGORITHM,
  canonicalHeaders,
  canonicalRequest,
  canonicalValue,
  parseAmzDate,
  scopeOf,
  signHex,
  signingKey,
  stringToSign,
  STREAMING_PAYLOAD,
  STREAMING_PAYLOAD_TRAILER,
  STREAMING_UNSIGNED_TRAILER,
  UNSIGNED_PAYLOAD,
} from './sigv4.js';
import type { S3User } from './users.js';

/** Requests dated further than this from the server's clock are refused (RequestTimeTooSkewed), as AWS does. */
export const MAX_SKEW_MS = 15 * 60_000;
/** The longest a presigned URL may be valid: 7 days (X-Amz-Expires ≤ 604800). */
export const MAX_PRESIGN_SECONDS = 604_800;

/**
 * How the body is protected: a SHA-256 to check once it is read, nothing (UNSIGNED-PAYLOAD), or aws-chunked
 * framing, whose chunks are each signed (`signed`: chaining on `seed`) and which may end in checksum trailers.
 */
export type Payload =
  | { kind: 'sha256'; hex: string }
  | { kind: 'unsigned' }
  | { kind: 'chunked'; signed: boolean; trailer: boolean; seed: string; key: Buffer; scope: string; amzDate: string };

/** Who is calling: a user (header or presigned auth) or nobody (anonymous), and how to treat the body. */
export interface Caller {
  user?: S3User;
  payload: Payload;
  /**
   * x-amz-* request headers a presigned URL carries as (signed) query parameters, lower-case names: they count
   * as headers of the request (see applyQueryHeaders).
   */
  queryHeaders?: [string, string][];
}

/** Query parameters of a presigned URL that authenticate it rather than stand for request headers. */
const AUTH_PARAMS = new Set(['x-amz-algorithm', 'x-amz-credential', 'x-amz-date', 'x-amz-expires', 'x-amz-signedheaders', 'x-amz-signature', 'x-amz-security-token', 'x-amz-content-sha256']);

/**
 * Make the x-amz-* query parameters of a presigned URL headers of `req` (Amazon S3 API Reference,
 * "Authenticating Requests: Using Query Parameters": headers the signer wants fixed may be given in the query,
 * which the signature covers; SDK presigners move x-amz-* headers there). A header sent as well keeps its value
 * (checkAmzHeadersSigned has made sure it is the same, or signed). So x-amz-acl, x-amz-meta-*,
 * x-amz-copy-source or x-amz-server-side-encryption in a presigned URL are obeyed or refused, never ignored.
 */
export function applyQueryHeaders(req: IncomingMessage, caller: Caller): void {
  for (const [name, value] of caller.queryHeaders ?? []) if (req.headers[name] === undefined) req.headers[name] = value;
}

export interface AuthInput {
  method: string;
  rawPath: string;
  query: [string, string][];
  req: IncomingMessage;
}

const equal = (a: string, b: string): boolean => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

interface Credential {
  accessKey: string;
  date: string;
  region: string;
  service: string;
}

function parseCredential(text: string, where: 'AuthorizationHeaderMalformed' | 'AuthorizationQueryParametersError'): Credential {
  const parts = text.split('/');
  // The access key is first; the last four parts are date, region, service and the terminator.
  if (parts.length < 5 || parts[parts.length - 1] !== 'aws4_request' || !/^\d{8}$/.test(parts[parts.length - 4]!)) {
    throw s3Error(where, `the credential ${JSON.stringify(text)} is not ACCESS_KEY/YYYYMMDD/REGION/s3/aws4_request`);
  }
  const [date, region, service] = parts.slice(-4, -1) as [string, string, string];
  if (service !== 's3') throw s3Error(where, `the credential scope names service ${JSON.stringify(service)}; this endpoint is s3`);
  return { accessKey: parts.slice(0, -4).join('/'), date, region, service };
}

/**
 * Authenticate one request against `users` at time `now` (ms). Sources: AWS S3 API Reference, "Signature
 * Calculations for the Authorization Header" and "Authenticating Requests: Using Query Parameters".
 * Errors: AuthorizationHeaderMalformed / AuthorizationQueryParametersError (400), InvalidAccessKeyId,
 * SignatureDoesNotMatch, RequestTimeTooSkewed, AccessDenied for an expired URL (403), InvalidRequest for
 * SigV2 or a missing x-amz-content-sha256 (400).
 */
export function authenticate(input: AuthInput, users: ReadonlyMap<string, S3User>, now: number): Caller {
  const { req, query } = input;
  const authz = header(req, 'authorization');
  const q = new Map(query);
  if (authz !== undefined) return fromHeader(input, authz, users, now);
  if (q.has('X-Amz-Signature') || q.has('X-Amz-Credential') || q.has('X-Amz-Algorithm')) return fromQuery(input, q, users, now);
  if (q.has('Signature') && q.has('AWSAccessKeyId')) throw s3Error('InvalidRequest', 'Signature Version 2 is not supported; use AWS4-HMAC-SHA256', {}, 'BF_S3_AUTH');
  return { payload: { kind: 'unsigned' } };
}

function lookup(users: ReadonlyMap<string, S3User>, accessKey: string): S3User {
  const u = users.get(accessKey);
  if (!u) throw s3Error('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', { accessKey });
  return u;
}

/**
 * Refuse a request that carries an x-amz-* header its signature does not cover: such a header changes what
 * happens (x-amz-copy-source, x-amz-acl, x-amz-meta-*, …), so whoever holds a signed request or presigned URL
 * could otherwise add one. Rule (Amazon S3 API Reference, "Signature Calculations for the Authorization Header"
 * and "Authenticating Requests: Using Query Parameters"): every x-amz-* header sent must be a signed header; for
 * a presigned URL it may instead be a query parameter of the same name and value (the query is signed). Errors:
 * AccessDenied ("There were headers present in the request which were not signed", listing them).
 */
export function checkAmzHeadersSigned(raw: string[], signed: readonly string[], query: [string, string][] = []): void {
  const signedSet = new Set(signed);
  const inQuery = new Map(query.map(([k, v]) => [k.toLowerCase(), canonicalValue(v)]));
  const unsigned = new Set<string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (!name.startsWith('x-amz-') || signedSet.has(name)) continue;
    if (inQuery.get(name) === canonicalValue(raw[i + 1]!)) continue;
    unsigned.add(name);
  }
  if (unsigned.size > 0) {
    const names = [...unsigned].sort().join(',');
    throw s3Error('AccessDenied', `There were headers present in the request which were not signed: ${names}`, { headersNotSigned: names }, 'BF_S3_AUTH');
  }
}

function checkSignature(expected: string, given: string, canonical: string): void {
  if (!equal(expected, given.toLowerCase())) {
    throw s3Error('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.', { canonicalRequest: canonical });
  }
}

function fromHeader(input: AuthInput, authz: string, users: ReadonlyMap<string, S3User>, now: number): Caller {
  const { req } = input;
  if (/^AWS /.test(authz)) throw s3Error('InvalidRequest', 'Signature Version 2 is not supported; use AWS4-HMAC-SHA256', {}, 'BF_S3_AUTH');
  if (!authz.startsWith(`${ALGORITHM} `)) throw s3Error('AuthorizationHeaderMalformed', `the Authorization header must start with ${ALGORITHM}`);
  const fields = new Map<string, string>();
  for (const part of authz.slice(ALGORITHM.length + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credText = fields.get('Credential');
  const signedText = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (!credText || !signedText || !signature) throw s3Error('AuthorizationHeaderMalformed', 'the Authorization header needs Credential, SignedHeaders and Signature');
  const cred = parseCredential(credText, 'AuthorizationHeaderMalformed');
  const user = lookup(users, cred.accessKey);
  const amzDate = header(req, 'x-amz-date');
  const t = amzDate === undefined ? NaN : parseAmzDate(amzDate);
  if (!Number.isFinite(t)) throw s3Error('AccessDenied', 'AWS authentication requires a valid x-amz-date header', {}, 'BF_S3_AUTH');
  if (Math.abs(now - t) > MAX_SKEW_MS) {
    throw s3Error('RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.', { requestTime: amzDate, serverTime: new Date(now).toISOString() });
  }
  if (amzDate!.slice(0, 8) !== cred.date) throw s3Error('AuthorizationHeaderMalformed', `the credential date ${cred.date} is not the day of x-amz-date ${amzDate}`);
  const payloadHash = header(req, 'x-amz-content-sha256');
  if (payloadHash === undefined) throw s3Error('InvalidRequest', 'Missing required header for this request: x-amz-content-sha256', {}, 'BF_S3_AUTH');
  const signed = signedText.split(';');
  if (!signed.includes('host')) throw s3Error('AuthorizationHeaderMalformed', 'the signed headers must include host');
  const headers = canonicalHeaders(req.rawHeaders, signed);
  if (headers === null) throw s3Error('AuthorizationHeaderMalformed', 'a signed header is missing from the request');
  const canonical = canonicalRequest({ method: input.method, rawPath: input.rawPath, query: input.query, headers, signedHeaders: signed, payloadHash });
  const scope = scopeOf(cred.date, cred.region, cred.service);
  const key = signingKey(user.secretKey, cred.date, cred.region, cred.service);
  const expected = signHex(key, stringToSign(amzDate!, scope, canonical));
  checkSignature(expected, signature, canonical);
  checkAmzHeadersSigned(req.rawHeaders, signed);
  return { user, payload: payloadOf(payloadHash, { seed: expected, key, scope, amzDate: amzDate! }) };
}

function payloadOf(hash: string, chain: { seed: string; key: Buffer; scope: string; amzDate: string }): Payload {
  if (hash === UNSIGNED_PAYLOAD) return { kind: 'unsigned' };
  if (hash === STREAMING_PAYLOAD) return { kind: 'chunked', signed: true, trailer: false, ...chain };
  if (hash === STREAMING_PAYLOAD_TRAILER) return { kind: 'chunked', signed: true, trailer: true, ...chain };
  if (hash === STREAMING_UNSIGNED_TRAILER) return { kind: 'chunked', signed: false, trailer: true, ...chain };
  if (/^[0-9a-f]{64}$/.test(hash)) return { kind: 'sha256', hex: hash };
  throw s3Error('InvalidArgument', `x-amz-content-sha256 must be a SHA-256 in lower-case hex, ${UNSIGNED_PAYLOAD} or a STREAMING-… value`, { header: 'x-amz-content-sha256' });
}

function fromQuery(input: AuthInput, q: Map<string, string>, users: ReadonlyMap<string, S3User>, now: number): Caller {
  const bad = (why: string) => s3Error('AuthorizationQueryParametersError', why);
  const algorithm = q.get('X-Amz-Algorithm');
  const credText = q.get('X-Amz-Credential');
  const amzDate = q.get('X-Amz-Date');
  const expires = q.get('X-Amz-Expires');
  const signedText = q.get('X-Amz-SignedHeaders');
  const signature = q.get('X-Amz-Signature');
  if (algorithm !== ALGORITHM) throw bad(`X-Amz-Algorithm must be ${ALGORITHM}`);
  if (!credText || !amzDate || !expires || !signedText || !signature) {
    throw bad('a presigned URL needs X-Amz-Credential, X-Amz-Date, X-Amz-Expires, X-Amz-SignedHeaders and X-Amz-Signature');
  }
  const cred = parseCredential(credText, 'AuthorizationQueryParametersError');
  const t = parseAmzDate(amzDate);
  if (!Number.isFinite(t)) throw bad('X-Amz-Date must be YYYYMMDDTHHMMSSZ');
  if (!/^\d{1,6}$/.test(expires) || Number(expires) < 1 || Number(expires) > MAX_PRESIGN_SECONDS) throw bad(`X-Amz-Expires must be 1 to ${MAX_PRESIGN_SECONDS} seconds`);
  if (amzDate.slice(0, 8) !== cred.date) throw bad(`Invalid credential date ${cred.date}: it is not the day of X-Amz-Date ${amzDate}`);
  const user = lookup(users, cred.accessKey);
  if (t - now > MAX_SKEW_MS) throw s3Error('AccessDenied', 'Request is not valid yet', {}, 'BF_S3_AUTH');
  if (now > t + Number(expires) * 1000) throw s3Error('AccessDenied', 'Request has expired', { expires: new Date(t + Number(expires) * 1000).toISOString() }, 'BF_S3_AUTH');
  const signed = signedText.split(';');
  if (!signed.includes('host')) throw bad('X-Amz-SignedHeaders must include host');
  const headers = canonicalHeaders(input.req.rawHeaders, signed);
  if (headers === null) throw bad('a signed header is missing from the request');
  const payloadHash = q.get('X-Amz-Content-Sha256') ?? UNSIGNED_PAYLOAD;
  const canonical = canonicalRequest({ method: input.method, rawPath: input.rawPath, query: input.query, headers, signedHeaders: signed, payloadHash, omitQuery: 'X-Amz-Signature' });
  const scope = scopeOf(cred.date, cred.region, cred.service);
  const key = signingKey(user.secretKey, cred.date, cred.region, cred.service);
  checkSignature(signHex(key, stringToSign(amzDate, scope, canonical)), signature, canonical);
  checkAmzHeadersSigned(input.req.rawHeaders, signed, input.query);
  const queryHeaders = input.query.filter(([k]) => k.toLowerCase().startsWith('x-amz-') && !AUTH_PARAMS.has(k.toLowerCase())).map(([k, v]): [string, string] => [k.toLowerCase(), v]);
  return { user, payload: payloadHash === UNSIGNED_PAYLOAD ? { kind: 'unsigned' } : payloadOf(payloadHash, { seed: signature, key, scope, amzDate }), queryHeaders };
}
