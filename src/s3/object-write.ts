// PutObject, CopyObject, DeleteObject and DeleteObjects: spool, verify, commit, record, retire.
import { uploadSpool } from '../engine/upload-spool.js';
import { fileSource } from '../io/input.js';
import { commitObject, forgetObject, recordObject, storeBody } from './archives.js';
import type { ObjectRecord } from './catalog.js';
import { clientError, s3Error } from './errors.js';
import { authorize, header, quietWork, sendEmpty, sendXml, withSmallBody, type S3Context, type S3Request } from './http.js';
import { declaredLength, ingest } from './ingest.js';
import { checkKey } from './names.js';
import { etagMatches } from './object-read.js';
import { child, children, childText, esc, parseXml } from './xml.js';

/** User metadata (x-amz-meta-* names and values) may total 2 KiB, as AWS. */
export const MAX_META_BYTES = 2048;
/** Headers stored with an object and returned by GET/HEAD. */
const STORED = ['cache-control', 'content-disposition', 'content-encoding', 'content-language', 'expires'] as const;
/** DeleteObjects takes at most 1000 keys (Amazon S3 API Reference, DeleteObjects). */
export const MAX_DELETE_KEYS = 1000;
/**
 * Largest DeleteObjects body: 1000 keys of 2 KiB each (an <Object> with a 1024-byte key, some of it escaped, and
 * a VersionId). Keys that need much escaping (a '&' takes 5 bytes) fit fewer per request: MaxMessageLengthExceeded.
 */
export const MAX_DELETE_BODY = MAX_DELETE_KEYS * 2048;

export interface ObjectMeta {
  contentType?: string;
  headers?: Record<string, string>;
  meta?: Record<string, string>;
}

/**
 * The metadata a PUT, a CopyObject with REPLACE or a CreateMultipartUpload keeps: Content-Type, the STORED
 * headers ('aws-chunked' dropped from Content-Encoding) and x-amz-meta-* (MetadataTooLarge beyond 2 KiB).
 * Server-side encryption headers are refused (NotImplemented): the data would not be encrypted as asked.
 */
export function metaFrom(r: S3Request): ObjectMeta {
  const out: ObjectMeta = {};
  if (Object.keys(r.req.headers).some((h) => h.startsWith('x-amz-server-side-encryption'))) {
    throw s3Error('NotImplemented', 'server-side encryption is not supported by this server', { header: 'x-amz-server-side-encryption' });
  }
  const type = header(r.req, 'content-type');
  if (type) out.contentType = type;
  const headers: Record<string, string> = {};
  for (const h of STORED) {
    let v = header(r.req, h);
    if (h === 'content-encoding' && v) v = v.split(',').map((s) => s.trim()).filter((s) => s !== 'aws-chunked' && s !== '').join(', ');
    if (v) headers[h] = v;
  }
  if (Object.keys(headers).length) out.headers = headers;
  const meta: Record<string, string> = {};
  let bytes = 0;
  for (const [h, v] of Object.entries(r.req.headers)) {
    if (!h.startsWith('x-amz-meta-') || v === undefined) continue;
    const value = Array.isArray(v) ? v.join(',') : v;
    meta[h.slice('x-amz-meta-'.length)] = value;
    bytes += Buffer.byteLength(h.slice('x-amz-meta-'.length)) + Buffer.byteLength(value);
  }
  if (bytes > MAX_META_BYTES) throw s3Error('MetadataTooLarge', `Your metadata headers exceed the maximum allowed metadata size (${bytes} > ${MAX_META_BYTES} bytes)`);
  if (Object.keys(meta).length) out.meta = meta;
  return out;
}

/**
 * PUT /{bucket}/{key}: check access, key and length before reading a byte; spool the body (constant memory,
 * MD5/SHA-256/checksums on the way, see ingest); commit it as an archive; record the key; retire the archive the
 * key named before if nothing else uses it. ETag: the MD5 of the body. Nothing is committed on any failure.
 */
export async function putObject(ctx: S3Context, r: S3Request): Promise<void> {
  const bucket = r.bucket!;
  const key = r.key!;
  authorize(ctx, r, bucket, 'write');
  checkKey(key);
  const meta = metaFrom(r);
  const length = declaredLength(r.req, r.caller.payload);
  const spool = await uploadSpool(ctx.repo);
  try {
    const tmp = spool.path('object');
    // The spool is not fsynced: the commit reads it back (from the page cache) and fsyncs the shards it writes.
    const body = await ingest(r.req, r.caller.payload, tmp, length, false);
    // Conditional writes (If-None-Match: * creates only; If-Match: the current ETag) are checked after the body,
    // and again as the key is recorded.
    const check = writeCondition(ctx, r);
    const commitIt = () => commitObject(ctx, fileSource(tmp), bucket, key);
    // Below 16 MiB a blob, staged in a segment before the record (FORMAT.md §13.9); from 16 MiB an archive.
    const stored = await quietWork(ctx, r, () => storeBody(ctx, fileSource(tmp), body.size, bucket, key));
    try {
      const rec: ObjectRecord = {
        key,
        ...stored.where,
        size: body.size,
        etag: `"${body.md5}"`,
        lastModified: new Date().toISOString(),
        owner: r.caller.user!.accessKey,
        ...meta,
        ...(Object.keys(body.checksums).length ? { checksums: body.checksums } : {}),
      };
      await recordObject(ctx, bucket, rec, commitIt, check);
      sendEmpty(r, 200, { ETag: rec.etag, 'x-amz-request-id': r.id, ...body.checksums });
    } finally {
      stored.release();
    }
  } finally {
    await spool.discard();
  }
}

/** A write's condition, checked against the key's record at the moment it is recorded (see writeCondition). */
export type WriteCheck = (current: ObjectRecord | undefined) => void;

/**
 * The conditions of a write (PutObject, CompleteMultipartUpload), after the AWS S3 User Guide, "Conditional
 * writes": `If-None-Match: *` writes only a key that does not exist, `If-Match: ETag` only over that ETag.
 * Checked twice: now, against the key as it is (PreconditionFailed 412, or NoSuchKey for If-Match on a missing
 * key), and again when the record is written (the returned check, run by Catalog.put one writer of the key at a
 * time), so of concurrent conditional writers exactly one wins. A loser whose condition no longer holds gets
 * 412; one whose If-Match still matches but whose object was replaced meanwhile (same bytes, same ETag) gets
 * 409 ConditionalRequestConflict, as AWS answers concurrent conditional writes. Undefined without conditions.
 */
export function writeCondition(ctx: S3Context, r: S3Request): WriteCheck | undefined {
  const ifNoneMatch = header(r.req, 'if-none-match')?.trim();
  const ifMatch = header(r.req, 'if-match');
  if (ifNoneMatch !== '*' && ifMatch === undefined) return undefined;
  const failed = (condition: string) => s3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { condition });
  const check = (cur: ObjectRecord | undefined, seen: ObjectRecord | undefined): void => {
    if (ifNoneMatch === '*' && cur) throw failed('If-None-Match');
    if (ifMatch === undefined) return;
    if (!cur) throw s3Error('NoSuchKey', 'The specified key does not exist.', { key: r.key });
    if (!etagMatches(ifMatch, cur.etag)) throw failed('If-Match');
    if (seen && cur !== seen) throw s3Error('ConditionalRequestConflict', 'A conflicting operation occurred: the object was replaced while this conditional write was in progress. Retry the request.', { key: r.key });
  };
  const seen = ctx.catalog.get(r.bucket!, r.key!);
  check(seen, undefined);
  return (cur) => check(cur, seen);
}

/** Parse x-amz-copy-source ("/bucket/key" or "bucket/key", URL-encoded; "?versionId=null" allowed only). */
export function parseCopySource(text: string): { bucket: string; key: string } {
  const [path = '', query] = text.split('?');
  if (query !== undefined && query !== '' && query !== 'versionId=null') throw s3Error('NotImplemented', 'object versions are not supported', { header: 'x-amz-copy-source' });
  let decoded: string;
  try {
    decoded = decodeURIComponent(path.replace(/^\//, ''));
  } catch {
    throw s3Error('InvalidArgument', 'Invalid copy source encoding', { argument: 'x-amz-copy-source' });
  }
  const slash = decoded.indexOf('/');
  if (slash <= 0 || slash === decoded.length - 1) throw s3Error('InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey', { argument: 'x-amz-copy-source' });
  return { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1) };
}

/** x-amz-copy-source-if-* preconditions against the source (412 when one fails). */
export function copySourceConditions(r: S3Request, src: ObjectRecord): void {
  const fail = () => s3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
  const m = header(r.req, 'x-amz-copy-source-if-match');
  const nm = header(r.req, 'x-amz-copy-source-if-none-match');
  const us = header(r.req, 'x-amz-copy-source-if-unmodified-since');
  const ms = header(r.req, 'x-amz-copy-source-if-modified-since');
  const t = Math.floor(Date.parse(src.lastModified) / 1000);
  if (m !== undefined && !etagMatches(m, src.etag)) throw fail();
  if (nm !== undefined && etagMatches(nm, src.etag)) throw fail();
  if (m === undefined && us !== undefined && Number.isFinite(Date.parse(us)) && t > Math.floor(Date.parse(us) / 1000)) throw fail();
  if (nm === undefined && ms !== undefined && Number.isFinite(Date.parse(ms)) && t <= Math.floor(Date.parse(ms) / 1000)) throw fail();
}

/**
 * PUT /{bucket}/{key} with x-amz-copy-source: the new key refers to the source's archive (no bytes are copied;
 * the archive is shared and retired when its last key goes). x-amz-metadata-directive COPY (default) keeps the
 * source's metadata, REPLACE takes the request's. Copying a key onto itself needs REPLACE (InvalidRequest).
 */
export async function copyObject(ctx: S3Context, r: S3Request): Promise<void> {
  const src = parseCopySource(header(r.req, 'x-amz-copy-source')!);
  authorize(ctx, r, r.bucket!, 'write');
  authorize(ctx, r, src.bucket, 'read');
  checkKey(r.key!);
  const rec = ctx.catalog.get(src.bucket, src.key);
  if (!rec) throw s3Error('NoSuchKey', 'The specified key does not exist.', { key: src.key });
  copySourceConditions(r, rec);
  const directive = (header(r.req, 'x-amz-metadata-directive') ?? 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE') throw s3Error('InvalidArgument', 'Unknown metadata directive.', { argument: 'x-amz-metadata-directive' });
  if (src.bucket === r.bucket && src.key === r.key && directive === 'COPY') {
    throw s3Error('InvalidRequest', "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.");
  }
  const meta = directive === 'REPLACE' ? metaFrom(r) : { contentType: rec.contentType, headers: rec.headers, meta: rec.meta };
  const now = new Date().toISOString();
  const copy: ObjectRecord = { ...rec, ...meta, key: r.key!, lastModified: now, owner: r.caller.user!.accessKey };
  for (const k of ['contentType', 'headers', 'meta'] as const) if (copy[k] === undefined) delete copy[k];
  // A blob is staged again (FORMAT.md §13.9: deduplicated at the flush), so no prune can drop it between reading
  // the source's record and writing the copy's; a blob that is gone meanwhile (deleted and pruned) is NoSuchKey.
  let release = (): void => undefined;
  if (rec.blob !== undefined) {
    const bytes = await ctx.staging.read(rec.blob, 0, rec.size).catch((err: unknown) => {
      throw (err as { code?: string }).code === 'BF_BLOB_MISSING' ? s3Error('NoSuchKey', 'The specified key does not exist.', { key: src.key }) : err;
    });
    const staged = await ctx.staging.stageBytes(bytes);
    copy.blob = staged.hash;
    release = staged.release;
  }
  try {
    // If the source archive was retired meanwhile (its key deleted), there is nothing left to copy.
    await recordObject(ctx, r.bucket!, copy, async () => {
      throw s3Error('NoSuchKey', 'The specified key does not exist.', { key: src.key });
    });
  } finally {
    release();
  }
  sendXml(r, 200, 'CopyObjectResult', { LastModified: now, ETag: copy.etag }, { 'x-amz-request-id': r.id });
}

/** DELETE /{bucket}/{key}: 204 whether or not the key existed (as S3 without versioning). */
export async function deleteObject(ctx: S3Context, r: S3Request): Promise<void> {
  authorize(ctx, r, r.bucket!, 'write');
  await forgetObject(ctx, r.bucket!, r.key!);
  sendEmpty(r, 204, { 'x-amz-request-id': r.id });
}

/** Parse a DeleteObjects <Delete> document: Quiet, and 1 to 1000 keys (MalformedXML otherwise). */
export function parseDelete(xml: string): { quiet: boolean; keys: string[] } {
  const root = parseXml(xml);
  if (root.name !== 'Delete') throw s3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema (root must be Delete)');
  const quiet = childText(root, 'Quiet')?.trim() === 'true';
  const objects = children(root, 'Object');
  if (objects.length === 0 || objects.length > MAX_DELETE_KEYS) throw s3Error('MalformedXML', `The XML you provided was not well-formed or did not validate against our published schema (1 to ${MAX_DELETE_KEYS} objects)`);
  const keys = objects.map((o) => {
    const key = child(o, 'Key')?.text;
    if (key === undefined || key === '') throw s3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema (an Object without a Key)');
    return key;
  });
  return { quiet, keys };
}

/**
 * POST /{bucket}?delete: up to 1000 keys from a <Delete> document; each is deleted or reported in an <Error>.
 * <Quiet>true</Quiet> reports errors only. Errors: MalformedXML (no keys, more than 1000, bad XML).
 */
export async function deleteObjects(ctx: S3Context, r: S3Request): Promise<void> {
  authorize(ctx, r, r.bucket!, 'write');
  const { quiet, keys } = await withSmallBody(ctx, r, MAX_DELETE_BODY, (bytes) => parseDelete(bytes.toString('utf8')));
  let body = '';
  for (const key of keys) {
    try {
      await forgetObject(ctx, r.bucket!, key);
      if (!quiet) body += `<Deleted><Key>${esc(key)}</Key></Deleted>`;
    } catch (err) {
      // Per-key errors follow the rules of whole-request errors: no server path or store detail in the reply.
      const e = clientError(err);
      if (e.withheld) ctx.log(`blockframe s3: DeleteObjects ${r.bucket}/${key} (${r.id}): ${e.code}: ${(err as { code?: string })?.code ?? 'error'}: ${(err as Error)?.message ?? String(err)}`);
      body += `<Error><Key>${esc(key)}</Key><Code>${e.code}</Code><Message>${esc(e.message)}</Message></Error>`;
    }
  }
  const text = `<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${body}</DeleteResult>`;
  r.res.writeHead(200, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(text), 'x-amz-request-id': r.id });
  r.res.end(text);
}

