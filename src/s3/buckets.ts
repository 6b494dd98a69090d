// Bucket operations: ListBuckets, Create/Head/DeleteBucket, GetBucketLocation, GetBucketVersioning, and ListObjects v1/v2.
import { isBlockFrameError } from '../errors.js';
import { s3Error } from './errors.js';
import { cannedAcl } from './acl.js';
import { authorize, ownerXml, readSmallBody, sendEmpty, sendXml, type S3Context, type S3Request } from './http.js';
import { decodeToken, encodeToken, listingParams, listPage } from './listing.js';
import { checkBucketName } from './names.js';
import { parseXml } from './xml.js';

/** GET /: the caller's own buckets (anonymous callers are refused). */
export function listBuckets(ctx: S3Context, r: S3Request): void {
  const user = r.caller.user;
  if (!user) throw s3Error('AccessDenied', 'Access Denied (anonymous access is off: sign the request)');
  const mine = ctx.catalog.listBuckets().filter((b) => b.owner === user.accessKey || ctx.grants.some((g) => g.bucket === b.name && g.accessKey === user.accessKey));
  sendXml(r, 200, 'ListAllMyBucketsResult', { Owner: ownerXml(ctx, user.accessKey), Buckets: { Bucket: mine.map((b) => ({ Name: b.name, CreationDate: b.created })) } }, { 'x-amz-request-id': r.id });
}

/**
 * PUT /{bucket}: any user may create a bucket and becomes its owner. The body, if any, must be a
 * CreateBucketConfiguration (its LocationConstraint is accepted and ignored: one region). x-amz-acl public-read
 * makes objects readable without signing. Errors: InvalidBucketName, BucketAlreadyExists, BucketAlreadyOwnedByYou
 * (only outside us-east-1: there the owner re-creating the bucket gets 200 and the bucket is unchanged).
 */
export async function createBucket(ctx: S3Context, r: S3Request): Promise<void> {
  const user = r.caller.user;
  if (!user) throw s3Error('AccessDenied', 'Access Denied (anonymous access is off: sign the request)');
  const name = r.bucket!;
  checkBucketName(name);
  const publicRead = cannedAcl(r);
  if (Object.keys(r.req.headers).some((h) => h.startsWith('x-amz-grant-') || h === 'x-amz-bucket-object-lock-enabled')) {
    throw s3Error('NotImplemented', 'grant headers and object lock are not supported');
  }
  const body = await readSmallBody(r, 64 * 1024);
  if (body.length > 0) {
    const root = parseXml(body.toString('utf8'));
    if (root.name !== 'CreateBucketConfiguration') throw s3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema');
  }
  try {
    await ctx.catalog.createBucket({ name, owner: user.accessKey, created: new Date().toISOString(), ...(publicRead ? { publicRead } : {}) });
  } catch (err) {
    // us-east-1 answers 200 to its owner re-creating a bucket (AWS's legacy behaviour, which Ceph RGW shares); the
    // bucket is left as it is (ACL included). Every other region answers 409 BucketAlreadyOwnedByYou.
    if (!(ctx.region === 'us-east-1' && isBlockFrameError(err) && err.context.s3 === 'BucketAlreadyOwnedByYou')) throw err;
  }
  sendEmpty(r, 200, { Location: `/${name}`, 'x-amz-request-id': r.id });
}

/** HEAD /{bucket}: 200 when the caller may read it; 404 or 403 (no body). */
export function headBucket(ctx: S3Context, r: S3Request): void {
  authorize(ctx, r, r.bucket!, 'read');
  sendEmpty(r, 200, { 'x-amz-bucket-region': ctx.region, 'x-amz-request-id': r.id });
}

/** DELETE /{bucket}: owner only; BucketNotEmpty while it holds keys or multipart uploads. */
export async function deleteBucket(ctx: S3Context, r: S3Request): Promise<void> {
  authorize(ctx, r, r.bucket!, 'owner');
  await ctx.catalog.deleteBucket(r.bucket!, ctx.uploads.hasAny(r.bucket!));
  sendEmpty(r, 204, { 'x-amz-request-id': r.id });
}

/** GET /{bucket}?location: empty for us-east-1, as AWS. */
export function getBucketLocation(ctx: S3Context, r: S3Request): void {
  authorize(ctx, r, r.bucket!, 'read');
  const text = `<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${ctx.region === 'us-east-1' ? '' : ctx.region}</LocationConstraint>`;
  r.res.writeHead(200, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(text), 'x-amz-request-id': r.id });
  r.res.end(text);
}

/** GET /{bucket}?versioning: never enabled. */
export function getBucketVersioning(ctx: S3Context, r: S3Request): void {
  authorize(ctx, r, r.bucket!, 'read');
  sendXml(r, 200, 'VersioningConfiguration', {}, { 'x-amz-request-id': r.id });
}

/**
 * GET /{bucket} (ListObjects v1) and GET /{bucket}?list-type=2 (ListObjectsV2): from the in-memory key index.
 * prefix, delimiter, max-keys (≤ 1000), marker / start-after / continuation-token, encoding-type=url,
 * fetch-owner. Errors: InvalidArgument (max-keys, encoding-type, token).
 */
export function listObjects(ctx: S3Context, r: S3Request): void {
  const bucket = r.bucket!;
  authorize(ctx, r, bucket, 'read');
  const v2 = r.q.get('list-type') === '2';
  if (r.q.has('list-type') && !v2) throw s3Error('InvalidArgument', 'list-type must be 2', { argument: 'list-type' });
  const { encoding, enc, prefix, delimiter, maxKeys } = listingParams(r.q);
  const token = v2 ? r.q.get('continuation-token') : undefined;
  const startAfter = v2 ? (r.q.get('start-after') ?? '') : (r.q.get('marker') ?? '');
  // An empty continuation-token is no token (as AWS): the listing starts at start-after, and the token is echoed.
  const after = token !== undefined && token !== '' ? decodeToken(token) : startAfter;
  const listed = listPage(ctx.catalog.sortedKeys(bucket), { prefix, delimiter, maxKeys, after });
  // max-keys=0 lists nothing, and AWS reports that empty result as not truncated (no resume point either).
  const page = maxKeys === 0 ? { ...listed, truncated: false } : listed;
  const withOwner = !v2 || r.q.get('fetch-owner') === 'true';
  const contents = page.keys.map((k) => {
    const rec = ctx.catalog.get(bucket, k)!;
    return { Key: enc(k), LastModified: rec.lastModified, ETag: rec.etag, Size: rec.size, ...(withOwner ? { Owner: ownerXml(ctx, rec.owner) } : {}), StorageClass: 'STANDARD' };
  });
  const common = { CommonPrefixes: page.commonPrefixes.map((p) => ({ Prefix: enc(p) })) };
  const base = { Name: bucket, Prefix: enc(prefix), ...(delimiter ? { Delimiter: enc(delimiter) } : {}), MaxKeys: maxKeys, ...(encoding ? { EncodingType: encoding } : {}), IsTruncated: page.truncated };
  if (v2) {
    const body = {
      ...base,
      KeyCount: page.keys.length + page.commonPrefixes.length,
      ...(token !== undefined ? { ContinuationToken: token } : {}),
      ...(page.truncated && page.last !== undefined ? { NextContinuationToken: encodeToken(page.last) } : {}),
      ...(r.q.has('start-after') ? { StartAfter: enc(startAfter) } : {}),
      Contents: contents,
      ...common,
    };
    sendXml(r, 200, 'ListBucketResult', body, { 'x-amz-request-id': r.id });
    return;
  }
  const body = { ...base, Marker: enc(startAfter), ...(page.truncated && page.last !== undefined ? { NextMarker: enc(page.last) } : {}), Contents: contents, ...common };
  sendXml(r, 200, 'ListBucketResult', body, { 'x-amz-request-id': r.id });
}

