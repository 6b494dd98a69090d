// Listing pages over a bucket's sorted keys: prefix, delimiter (CommonPrefixes), max-keys and resume points.
import { s3Error } from './errors.js';
import { compareUtf8, lowerBound } from './names.js';
import { uriEncode } from './sigv4.js';

export interface ListParams {
  prefix: string;
  /** Any non-empty string groups keys into CommonPrefixes ('' = no grouping). */
  delimiter: string;
  /** 0-1000 entries (keys and common prefixes together). */
  maxKeys: number;
  /** Only keys and common prefixes sorting after this (start-after, marker, or a continuation token). */
  after: string;
}

export interface ListPage {
  keys: string[];
  commonPrefixes: string[];
  truncated: boolean;
  /** The last entry returned (key or common prefix): where the next page starts after. */
  last?: string;
}

/** Upper limit of max-keys (Amazon S3 API Reference, ListObjectsV2). */
export const MAX_KEYS = 1000;

/** First index at or after `from` whose key does not start with `p` (keys starting with `p` are contiguous). */
function skipPrefix(keys: readonly string[], from: number, p: string): number {
  let lo = from;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]!.startsWith(p) || compareUtf8(keys[mid]!, p) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * One page of a listing, in UTF-8 byte order, as ListObjects (v1) and ListObjectsV2 define it: keys under
 * `prefix`; with a delimiter, every key whose remainder after the prefix holds it is rolled into one common
 * prefix (prefix + remainder up to and including the delimiter), counted once against `maxKeys`. Only entries
 * sorting after `after` are returned. Cost: O(log n) per common prefix and O(1) per key returned.
 */
export function listPage(keys: readonly string[], p: ListParams): ListPage {
  const out: ListPage = { keys: [], commonPrefixes: [], truncated: false };
  let i = lowerBound(keys, p.prefix);
  if (p.after !== '' && compareUtf8(p.after, p.prefix) >= 0) i = Math.max(i, lowerBound(keys, p.after, true));
  let count = 0;
  while (i < keys.length) {
    const key = keys[i]!;
    if (!key.startsWith(p.prefix)) break;
    const d = p.delimiter === '' ? -1 : key.indexOf(p.delimiter, p.prefix.length);
    const entry = d < 0 ? key : key.slice(0, d + p.delimiter.length);
    // A common prefix equal to the resume point was returned on an earlier page.
    if (d >= 0 && compareUtf8(entry, p.after) <= 0) {
      i = skipPrefix(keys, i, entry);
      continue;
    }
    if (count === p.maxKeys) {
      out.truncated = true;
      break;
    }
    count++;
    out.last = entry;
    if (d < 0) {
      out.keys.push(key);
      i++;
    } else {
      out.commonPrefixes.push(entry);
      i = skipPrefix(keys, i, entry);
    }
  }
  return out;
}

/** The query parameters every listing shares: encoding-type (only "url"), prefix, delimiter and max-keys. */
export interface ListingParams {
  encoding: 'url' | undefined;
  /** Encode a key, prefix or delimiter as the reply must show it (URL-encoded only with encoding-type=url). */
  enc: (s: string) => string;
  prefix: string;
  delimiter: string;
  maxKeys: number;
}

/** Read the shared listing parameters of a query. Errors: InvalidArgument (encoding-type, max-keys). */
export function listingParams(q: { get(name: string): string | undefined }): ListingParams {
  const encoding = q.get('encoding-type');
  if (encoding !== undefined && encoding !== 'url') throw s3Error('InvalidArgument', 'Invalid Encoding Method specified in Request', { argument: 'encoding-type' });
  return {
    encoding,
    enc: (s: string) => (encoding ? uriEncode(s, true) : s),
    prefix: q.get('prefix') ?? '',
    delimiter: q.get('delimiter') ?? '',
    maxKeys: parseMaxKeys(q.get('max-keys') ?? null),
  };
}

/** Parse max-keys: absent → 1000; a whole number ≥ 0, capped at 1000; else InvalidArgument. */
export function parseMaxKeys(text: string | null, name = 'max-keys'): number {
  if (text === null) return MAX_KEYS;
  if (!/^\d{1,10}$/.test(text)) throw s3Error('InvalidArgument', `Provided ${name} not an integer or within integer range`, { argument: name });
  return Math.min(Number(text), MAX_KEYS);
}

/** An opaque continuation token for "after `last`". */
export const encodeToken = (last: string): string => Buffer.from(`1:${last}`, 'utf8').toString('base64url');

/** The resume point of a continuation token, or InvalidArgument when the token is not one of ours. */
export function decodeToken(token: string): string {
  const text = /^[A-Za-z0-9_-]*$/.test(token) ? Buffer.from(token, 'base64url').toString('utf8') : '';
  if (!text.startsWith('1:')) throw s3Error('InvalidArgument', 'The continuation token provided is incorrect', { argument: 'continuation-token' });
  return text.slice(2);
}
