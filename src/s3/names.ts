// S3 names: bucket-name and object-key rules, the UTF-8 byte order S3 lists in, and per-key serialisation.
import { s3Error } from './errors.js';

/** Longest key: 1024 bytes of UTF-8 (Amazon S3 User Guide, "Naming Amazon S3 objects"). */
export const MAX_KEY_BYTES = 1024;

/**
 * General-purpose bucket naming rules (Amazon S3 User Guide, "Bucket naming rules"): 3-63 characters of
 * a-z 0-9 . -, starting and ending with a letter or digit, no "..", not an IPv4 address, not starting with
 * "xn--", "sthree-" or "amzn-s3-demo-", not ending with "-s3alias", "--ol-s3" or ".mrap". A valid name never
 * starts with '.', so it can never meet BlockFrame's own `.s3/` metadata. Errors: InvalidBucketName.
 */
export function checkBucketName(name: string): void {
  const ok =
    /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) &&
    !name.includes('..') &&
    !/^\d{1,3}(\.\d{1,3}){3}$/.test(name) &&
    !/^(xn--|sthree-|amzn-s3-demo-)/.test(name) &&
    !/(-s3alias|--ol-s3|\.mrap|--x-s3)$/.test(name);
  if (!ok) throw s3Error('InvalidBucketName', 'The specified bucket is not valid.', { bucket: name });
}

/**
 * Object keys: 1 to 1024 bytes of UTF-8, any characters but NUL. Keys with a "." or ".." path segment are
 * refused (InvalidArgument): they round-trip in S3 but turn into path traversal in every tool that syncs a
 * bucket to a directory (see docs/s3.md). Errors: KeyTooLongError, InvalidArgument.
 */
export function checkKey(key: string): void {
  if (key.length === 0) throw s3Error('InvalidArgument', 'the object key is empty');
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) throw s3Error('KeyTooLongError', 'Your key is too long', { size: Buffer.byteLength(key, 'utf8'), max: MAX_KEY_BYTES });
  if (key.includes('\0')) throw s3Error('InvalidArgument', 'the object key holds a NUL character');
  if (key.split('/').some((s) => s === '.' || s === '..')) throw s3Error('InvalidArgument', `the object key ${JSON.stringify(key)} has a "." or ".." segment, which this server refuses`, { key });
}

/**
 * Compare two strings by the bytes of their UTF-8 encoding, the order S3 lists keys in. JavaScript's `<`
 * compares UTF-16 code units, which differs only where a surrogate (a character above U+FFFF) meets a
 * character in U+E000-U+FFFF: surrogates are moved above U+FFFF before comparing.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      if (x <= 0xdfff) x += 0x2800;
      if (y <= 0xdfff) y += 0x2800;
    }
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

/** Index of the first element of sorted `keys` that is >= `key` (or > when `after`). */
export function lowerBound(keys: readonly string[], key: string, after = false): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = compareUtf8(keys[mid]!, key);
    if (c < 0 || (after && c === 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Run mutations of one name one at a time (in arrival order) within this process. */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();
  async run<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(name) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.tails.set(name, tail);
    try {
      return await next;
    } finally {
      if (this.tails.get(name) === tail) this.tails.delete(name);
    }
  }
}
