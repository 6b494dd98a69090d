// ListObjectVersions over unversioned buckets: every key is its one and only version, with VersionId "null".
import { s3Error } from './errors.js';
import { authorize, sendXml, type S3Context, type S3Request } from './http.js';
import { listingParams, listPage } from './listing.js';

/**
 * GET /{bucket}?versions (Amazon S3 API Reference, ListObjectVersions). Buckets here are never versioned, so, as
 * S3 answers for a bucket whose versioning was never enabled, each key is listed once as its latest version
 * with VersionId "null", and there are no delete markers. prefix, delimiter, key-marker, version-id-marker
 * (only "null" exists), max-keys (0-1000) and encoding-type=url as ListObjects; NextVersionIdMarker is "null".
 * Clients and test suites use it to empty a bucket before deleting it. Errors: InvalidArgument.
 */
export function listObjectVersions(ctx: S3Context, r: S3Request): void {
  const bucket = r.bucket!;
  authorize(ctx, r, bucket, 'read');
  const { encoding, enc, prefix, delimiter, maxKeys } = listingParams(r.q);
  const keyMarker = r.q.get('key-marker') ?? '';
  const versionMarker = r.q.get('version-id-marker');
  if (versionMarker !== undefined && versionMarker !== '' && keyMarker === '') throw s3Error('InvalidArgument', 'A version-id marker cannot be specified without a key marker.', { argument: 'version-id-marker' });
  const page = listPage(ctx.catalog.sortedKeys(bucket), { prefix, delimiter, maxKeys, after: keyMarker });
  // With max-keys=0 nothing is listed and AWS reports the (empty) result as not truncated.
  const truncated = maxKeys > 0 && page.truncated;
  const lastIsKey = page.last !== undefined && page.keys[page.keys.length - 1] === page.last;
  sendXml(r, 200, 'ListVersionsResult', {
    Name: bucket,
    Prefix: enc(prefix),
    KeyMarker: enc(keyMarker),
    VersionIdMarker: versionMarker ?? '',
    ...(truncated && page.last !== undefined ? { NextKeyMarker: enc(page.last), ...(lastIsKey ? { NextVersionIdMarker: 'null' } : {}) } : {}),
    MaxKeys: maxKeys,
    ...(delimiter ? { Delimiter: enc(delimiter) } : {}),
    ...(encoding ? { EncodingType: encoding } : {}),
    IsTruncated: truncated,
    Version: page.keys.map((k) => {
      const rec = ctx.catalog.get(bucket, k)!;
      return { Key: enc(k), VersionId: 'null', IsLatest: true, LastModified: rec.lastModified, ETag: rec.etag, Size: rec.size, Owner: { ID: rec.owner, DisplayName: rec.owner }, StorageClass: 'STANDARD' };
    }),
    CommonPrefixes: page.commonPrefixes.map((p) => ({ Prefix: enc(p) })),
  }, { 'x-amz-request-id': r.id });
}
