// Access control lists: canned ACL headers, and Get/Put of bucket and object ACLs (owner, grants, public-read).
import type { BucketRecord } from './catalog.js';
import { s3Error } from './errors.js';
import { authorize, header, readSmallBody, sendEmpty, type S3Context, type S3Request } from './http.js';
import { esc, S3_NS } from './xml.js';

const ALL_USERS = 'http://acs.amazonaws.com/groups/global/AllUsers';

/** A canned ACL header: 'private' → false, 'public-read' → true, none → undefined; others are NotImplemented. */
export function cannedAcl(r: S3Request): boolean | undefined {
  const acl = header(r.req, 'x-amz-acl');
  if (acl === undefined) return undefined;
  if (acl === 'private') return false;
  if (acl === 'public-read') return true;
  throw s3Error('NotImplemented', `the canned ACL ${JSON.stringify(acl)} is not supported (use private or public-read)`, { header: 'x-amz-acl' });
}

/**
 * The AccessControlPolicy document of a resource owned by `ownerKey`: the owner's FULL_CONTROL grant first, then
 * AllUsers READ when `publicRead` (Amazon S3 API Reference, GetBucketAcl / GetObjectAcl; the owner grant leads,
 * as AWS and Ceph RGW list it). Grantees carry the xsi:type attribute the element builder does not write.
 */
export function aclDocument(ctx: S3Context, ownerKey: string, publicRead: boolean): string {
  const o = ctx.owner(ownerKey);
  const owner = `<ID>${esc(o.id)}</ID><DisplayName>${esc(o.displayName)}</DisplayName>`;
  const grantee = (type: string, inner: string) => `<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="${type}">${inner}</Grantee>`;
  let grants = `<Grant>${grantee('CanonicalUser', owner)}<Permission>FULL_CONTROL</Permission></Grant>`;
  if (publicRead) grants += `<Grant>${grantee('Group', `<URI>${ALL_USERS}</URI>`)}<Permission>READ</Permission></Grant>`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<AccessControlPolicy xmlns="${S3_NS}"><Owner>${owner}</Owner><AccessControlList>${grants}</AccessControlList></AccessControlPolicy>`;
}

function sendAcl(r: S3Request, text: string): void {
  r.res.writeHead(200, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(text), 'x-amz-request-id': r.id });
  r.res.end(r.method === 'HEAD' ? undefined : text);
}

/** GET /{bucket}?acl: owner only. */
export function getBucketAcl(ctx: S3Context, r: S3Request): void {
  const b = authorize(ctx, r, r.bucket!, 'owner');
  sendAcl(r, aclDocument(ctx, b.owner, b.publicRead === true));
}

/** The canned ACL of a Put*Acl request; ACL documents and grant headers are NotImplemented. */
async function cannedOnly(r: S3Request): Promise<boolean> {
  const publicRead = cannedAcl(r);
  const body = await readSmallBody(r, 64 * 1024);
  if (publicRead === undefined || body.length > 0 || Object.keys(r.req.headers).some((h) => h.startsWith('x-amz-grant-'))) {
    throw s3Error('NotImplemented', 'only canned ACLs (x-amz-acl: private or public-read) are supported');
  }
  return publicRead;
}

/** PUT /{bucket}?acl with a canned x-amz-acl (private or public-read): owner only. */
export async function putBucketAcl(ctx: S3Context, r: S3Request): Promise<void> {
  const b = authorize(ctx, r, r.bucket!, 'owner');
  const publicRead = await cannedOnly(r);
  await ctx.catalog.updateBucket({ ...b, publicRead });
  sendEmpty(r, 200, { 'x-amz-request-id': r.id });
}

function objectOf(ctx: S3Context, r: S3Request, b: BucketRecord) {
  const rec = ctx.catalog.get(b.name, r.key!);
  if (!rec) throw s3Error('NoSuchKey', 'The specified key does not exist.', { key: r.key! });
  return rec;
}

/**
 * GET /{bucket}/{key}?acl: the object's owner (who wrote it) with FULL_CONTROL, and AllUsers READ when the
 * bucket is public-read. Objects have no ACL of their own here: access is the bucket's. Needs read access.
 */
export function getObjectAcl(ctx: S3Context, r: S3Request): void {
  const b = authorize(ctx, r, r.bucket!, 'read');
  if (!r.caller.user) throw s3Error('AccessDenied', 'Access Denied (anonymous access is off: sign the request)', { bucket: b.name });
  const rec = objectOf(ctx, r, b);
  sendAcl(r, aclDocument(ctx, rec.owner, b.publicRead === true));
}

/**
 * PUT /{bucket}/{key}?acl with a canned x-amz-acl: accepted when it states the access the object already has
 * (its bucket's: `private` in a private bucket, `public-read` in a public-read one), and changes nothing.
 * Per-object access is not kept, so an ACL that would differ from the bucket's is NotImplemented rather than a
 * false promise (`private` in a public-read bucket would leave the object public). Needs write access.
 */
export async function putObjectAcl(ctx: S3Context, r: S3Request): Promise<void> {
  const b = authorize(ctx, r, r.bucket!, 'write');
  objectOf(ctx, r, b);
  const publicRead = await cannedOnly(r);
  if (publicRead !== (b.publicRead === true)) {
    throw s3Error('NotImplemented', `object ACLs that differ from their bucket's are not supported: bucket ${b.name} is ${b.publicRead ? 'public-read' : 'private'}, and so are its objects`, { header: 'x-amz-acl' });
  }
  sendEmpty(r, 200, { 'x-amz-request-id': r.id });
}
