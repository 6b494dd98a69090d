// Multipart uploads: Create, UploadPart(Copy), Complete (parts → one archive), Abort, ListParts, ListMultipartUploads.
import { createHash } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { partsSource } from '../io/input-parts.js';
import { commitObject, recordObject, storeBody } from './archives.js';
import type { ObjectRecord } from './catalog.js';
import { s3Error } from './errors.js';
import { authorize, header, ownerXml, quietWork, sendEmpty, sendXml, withSmallBody, type S3Context, type S3Request } from './http.js';
import { declaredLength, ingest, MAX_PUT_BYTES } from './ingest.js';
import { parseMaxKeys } from './listing.js';
import { checkKey, compareUtf8 } from './names.js';
import { copySourceConditions, metaFrom, parseCopySource, writeCondition } from './object-write.js';
import { MAX_PARTS, MIN_PART_BYTES, type PartInfo } from './uploads.js';
import { children, childText, parseXml } from './xml.js';

/**
 * Largest CompleteMultipartUpload body: 10,000 parts (the AWS limit, Amazon S3 User Guide, "Multipart upload
 * limits") of at most 400 bytes each (a <Part> with PartNumber, a quoted ETag and every checksum element AWS
 * defines takes about 330). More is MaxMessageLengthExceeded.
 */
export const MAX_COMPLETE_BODY = MAX_PARTS * 400;

/** POST /{bucket}/{key}?uploads: a new upload id; the metadata is taken now, as S3. */
export async function createUpload(ctx: S3Context, r: S3Request): Promise<void> {
  authorize(ctx, r, r.bucket!, 'write');
  checkKey(r.key!);
  const meta = metaFrom(r);
  const u = await ctx.uploads.create({ bucket: r.bucket!, key: r.key!, owner: r.caller.user!.accessKey, ...meta });
  sendXml(r, 200, 'InitiateMultipartUploadResult', { Bucket: u.bucket, Key: u.key, UploadId: u.id }, { 'x-amz-request-id': r.id });
}

function partNumber(text: string | undefined): number {
  const n = text !== undefined && /^\d{1,5}$/.test(text) ? Number(text) : 0;
  if (n < 1 || n > MAX_PARTS) throw s3Error('InvalidArgument', `Part number must be an integer between 1 and ${MAX_PARTS}, inclusive`, { argument: 'partNumber' });
  return n;
}

/**
 * PUT /{bucket}/{key}?partNumber=N&uploadId=ID: spool and verify the part like a PUT (ingest), then move it into
 * the upload's staging directory (replacing an earlier part N). With x-amz-copy-source (UploadPartCopy), the
 * bytes (or x-amz-copy-source-range) come from another object through the verified reader.
 */
export async function uploadPart(ctx: S3Context, r: S3Request): Promise<void> {
  authorize(ctx, r, r.bucket!, 'write');
  const n = partNumber(r.q.get('partNumber'));
  const u = ctx.uploads.get(r.q.get('uploadId')!, r.bucket!, r.key!);
  const tmp = ctx.uploads.tempPath(u.id);
  try {
    const copy = header(r.req, 'x-amz-copy-source');
    let size: number;
    let md5: string;
    let checksums: Record<string, string> = {};
    if (copy !== undefined) ({ size, md5 } = await quietWork(ctx, r, () => copyPart(ctx, r, copy, tmp)));
    else ({ size, md5, checksums } = await ingest(r.req, r.caller.payload, tmp, declaredLength(r.req, r.caller.payload)));
    const p: PartInfo = { number: n, size, md5, lastModified: new Date().toISOString() };
    await ctx.uploads.lock.run(u.id, async () => {
      ctx.uploads.get(u.id, u.bucket, u.key); // aborted or completed meanwhile: NoSuchUpload
      await ctx.uploads.putPart(u.id, tmp, p);
    });
    if (copy !== undefined) sendXml(r, 200, 'CopyPartResult', { LastModified: p.lastModified, ETag: `"${md5}"` }, { 'x-amz-request-id': r.id });
    else sendEmpty(r, 200, { ETag: `"${md5}"`, 'x-amz-request-id': r.id, ...checksums });
  } finally {
    await rm(tmp, { force: true });
  }
}

async function copyPart(ctx: S3Context, r: S3Request, source: string, tmp: string): Promise<{ size: number; md5: string }> {
  const src = parseCopySource(source);
  authorize(ctx, r, src.bucket, 'read');
  const rec = ctx.catalog.get(src.bucket, src.key);
  if (!rec) throw s3Error('NoSuchKey', 'The specified key does not exist.', { key: src.key });
  copySourceConditions(r, rec);
  let start = 0;
  let end = rec.size - 1;
  const range = header(r.req, 'x-amz-copy-source-range');
  if (range !== undefined) {
    const m = /^bytes=(\d{1,16})-(\d{1,16})$/.exec(range);
    if (!m || Number(m[1]) > Number(m[2])) throw s3Error('InvalidArgument', 'The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy', { argument: 'x-amz-copy-source-range' });
    // A well-formed range reaching past the source's end is 416 InvalidRange, as AWS answers (with Content-Range: bytes */size).
    if (Number(m[2]) >= rec.size) throw s3Error('InvalidRange', `The requested range is not satisfiable (the source has ${rec.size} bytes)`, { size: rec.size, range });
    start = Number(m[1]);
    end = Number(m[2]);
  }
  if (end - start + 1 > MAX_PUT_BYTES) throw s3Error('EntityTooLarge', 'a part copy may be at most 5 GiB');
  const md5 = createHash('md5');
  const fh = await open(tmp, 'wx', 0o600);
  try {
    if (end >= start && rec.blob !== undefined) {
      const bytes = await ctx.staging.read(rec.blob, start, end + 1);
      md5.update(bytes);
      await fh.write(bytes);
    } else if (end >= start) {
      const lease = await ctx.cache.leaseDir(rec.dir!);
      try {
        for await (const w of ctx.windows.windows(lease.archive, start, end - start + 1)) {
          try {
            md5.update(w.buf);
            await fh.write(w.buf);
          } finally {
            w.release();
          }
        }
      } finally {
        lease.release();
      }
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  return { size: Math.max(0, end - start + 1), md5: md5.digest('hex') };
}

/** One <Part> of a CompleteMultipartUpload document: its number and the ETag given, quotes removed. */
export interface ListedPart {
  number: number;
  etag: string;
}

/**
 * Parse a CompleteMultipartUpload document into its part list: 1 to 10,000 <Part>s, part numbers 1-10,000
 * (InvalidArgument) strictly ascending (InvalidPartOrder: also a part listed twice). Bad XML, no parts or too
 * many: MalformedXML. Pure: runs inside a body slot (withSmallBody), before the upload's lock is taken.
 */
export function parseCompletion(xml: string): ListedPart[] {
  const root = parseXml(xml);
  if (root.name !== 'CompleteMultipartUpload') throw s3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema (root must be CompleteMultipartUpload)');
  const listed = children(root, 'Part');
  if (listed.length === 0 || listed.length > MAX_PARTS) throw s3Error('MalformedXML', `The XML you provided was not well-formed or did not validate against our published schema (1 to ${MAX_PARTS} parts)`);
  const out: ListedPart[] = [];
  let last = 0;
  for (const el of listed) {
    const numText = childText(el, 'PartNumber')?.trim();
    const etag = childText(el, 'ETag')?.trim();
    if (numText === undefined || etag === undefined || !/^\d{1,5}$/.test(numText)) throw s3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema (each Part needs PartNumber and ETag)');
    const n = Number(numText);
    if (n < 1 || n > MAX_PARTS) throw s3Error('InvalidArgument', `Part number must be an integer between 1 and ${MAX_PARTS}, inclusive`, { argument: 'PartNumber' });
    if (n <= last) throw s3Error('InvalidPartOrder', 'The list of parts was not in ascending order. Parts must be ordered by part number.', { partNumber: n });
    last = n;
    out.push({ number: n, etag: etag.replace(/^"|"$/g, '').replace(/^&quot;|&quot;$/g, '') });
  }
  return out;
}

/**
 * Check a parsed part list against the staged parts: each staged with the same ETag (InvalidPart), each but the
 * last at least 5 MiB (EntityTooSmall). Returns the staged parts chosen, in order.
 */
export function choseParts(listed: ListedPart[], staged: PartInfo[], minPart = MIN_PART_BYTES): PartInfo[] {
  const byNumber = new Map(staged.map((p) => [p.number, p]));
  const chosen: PartInfo[] = [];
  for (const { number: n, etag } of listed) {
    const p = byNumber.get(n);
    if (!p || etag !== p.md5) {
      throw s3Error('InvalidPart', 'One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part\'s entity tag.', { partNumber: n });
    }
    chosen.push(p);
  }
  chosen.forEach((p, i) => {
    if (i < chosen.length - 1 && p.size < minPart) throw s3Error('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed object size.', { partNumber: p.number, size: p.size, minSizeAllowed: minPart });
  });
  return chosen;
}

/** parseCompletion then choseParts: the whole check of a CompleteMultipartUpload document. */
export const checkCompletion = (xml: string, staged: PartInfo[], minPart = MIN_PART_BYTES): PartInfo[] => choseParts(parseCompletion(xml), staged, minPart);

/** The multipart ETag: MD5 of the concatenated binary part MD5s, then "-N". */
export const multipartEtag = (parts: PartInfo[]): string => `"${createHash('md5').update(Buffer.concat(parts.map((p) => Buffer.from(p.md5, 'hex')))).digest('hex')}-${parts.length}"`;

/**
 * POST /{bucket}/{key}?uploadId=ID: check the part list, commit the chosen parts straight from staging as one
 * archive (read in order through one input, never copied into a whole file), record the key, then drop the
 * staging. The upload stays intact if any step fails. Part writes wait on the upload's lock meanwhile.
 * If-None-Match: * and If-Match make it conditional, as a PutObject (writeCondition). Completing a completed
 * upload again answers 200 with the same ETag while the key still holds that object (until the upload expires).
 */
export async function completeUpload(ctx: S3Context, r: S3Request): Promise<void> {
  authorize(ctx, r, r.bucket!, 'write');
  const id = r.q.get('uploadId')!;
  // A retry of a Complete that succeeded (its reply lost, say) gets the same 200 and ETag, as AWS answers.
  const completed = () => ctx.uploads.completedEtag(id, r.bucket!, r.key!, ctx.catalog.get(r.bucket!, r.key!)?.etag);
  if (!completed()) ctx.uploads.get(id, r.bucket!, r.key!);
  const listed = await withSmallBody(ctx, r, MAX_COMPLETE_BODY, (body) => parseCompletion(body.toString('utf8')));
  await ctx.uploads.lock.run(id, async () => {
    const etag = completed();
    if (etag) {
      sendXml(r, 200, 'CompleteMultipartUploadResult', { Location: `/${r.bucket!}/${encodeURIComponent(r.key!)}`, Bucket: r.bucket!, Key: r.key!, ETag: etag }, { 'x-amz-request-id': r.id });
      return;
    }
    const u = ctx.uploads.get(id, r.bucket!, r.key!);
    const parts = choseParts(listed, await ctx.uploads.parts(u.id));
    // If-None-Match: * / If-Match, before committing and again as the key is recorded; a failed condition leaves the upload intact.
    const check = writeCondition(ctx, r);
    const input = partsSource(parts.map((p) => ctx.uploads.partPath(u.id, p.number)));
    const commitIt = () => commitObject(ctx, input, u.bucket, u.key);
    const size = parts.reduce((n, p) => n + p.size, 0);
    // A result below 16 MiB is a blob, as a PutObject's (FORMAT.md §13.9); the record keeps its parts and -N ETag.
    const stored = await quietWork(ctx, r, () => storeBody(ctx, input, size, u.bucket, u.key));
    const rec: ObjectRecord = {
      key: u.key,
      ...stored.where,
      size,
      etag: multipartEtag(parts),
      lastModified: new Date().toISOString(),
      owner: u.owner,
      ...(u.contentType ? { contentType: u.contentType } : {}),
      ...(u.headers ? { headers: u.headers } : {}),
      ...(u.meta ? { meta: u.meta } : {}),
      parts: parts.map((p) => p.size),
    };
    try {
      await recordObject(ctx, u.bucket, rec, commitIt, check);
    } finally {
      stored.release();
    }
    await ctx.uploads.complete(u.id, rec.etag);
    sendXml(r, 200, 'CompleteMultipartUploadResult', { Location: `/${u.bucket}/${encodeURIComponent(u.key)}`, Bucket: u.bucket, Key: u.key, ETag: rec.etag }, { 'x-amz-request-id': r.id });
  });
}

/** DELETE /{bucket}/{key}?uploadId=ID: drop the upload and its parts (204). */
export async function abortUpload(ctx: S3Context, r: S3Request): Promise<void> {
  authorize(ctx, r, r.bucket!, 'write');
  const u = ctx.uploads.get(r.q.get('uploadId')!, r.bucket!, r.key!);
  await ctx.uploads.lock.run(u.id, () => ctx.uploads.remove(u.id));
  sendEmpty(r, 204, { 'x-amz-request-id': r.id });
}

/** GET /{bucket}/{key}?uploadId=ID: parts after part-number-marker, max-parts (≤ 1000) per page. */
export async function listParts(ctx: S3Context, r: S3Request): Promise<void> {
  authorize(ctx, r, r.bucket!, 'read');
  const u = ctx.uploads.get(r.q.get('uploadId')!, r.bucket!, r.key!);
  const marker = Number(r.q.get('part-number-marker') ?? '0');
  if (!Number.isSafeInteger(marker) || marker < 0) throw s3Error('InvalidArgument', 'part-number-marker must be a whole number', { argument: 'part-number-marker' });
  const max = parseMaxKeys(r.q.get('max-parts') ?? null, 'max-parts');
  const after = (await ctx.uploads.parts(u.id)).filter((p) => p.number > marker);
  const page = after.slice(0, max);
  const truncated = after.length > page.length;
  const who = ownerXml(ctx, u.owner);
  sendXml(r, 200, 'ListPartsResult', {
    Bucket: u.bucket,
    Key: u.key,
    UploadId: u.id,
    Initiator: who,
    Owner: who,
    StorageClass: 'STANDARD',
    PartNumberMarker: marker,
    ...(truncated ? { NextPartNumberMarker: page[page.length - 1]!.number } : {}),
    MaxParts: max,
    IsTruncated: truncated,
    Part: page.map((p) => ({ PartNumber: p.number, LastModified: p.lastModified, ETag: `"${p.md5}"`, Size: p.size })),
  }, { 'x-amz-request-id': r.id });
}

/** GET /{bucket}?uploads: uploads in progress, by key then initiation, with prefix, key-marker/upload-id-marker, max-uploads. */
export function listUploads(ctx: S3Context, r: S3Request): void {
  authorize(ctx, r, r.bucket!, 'read');
  const prefix = r.q.get('prefix') ?? '';
  const keyMarker = r.q.get('key-marker') ?? '';
  const idMarker = r.q.get('upload-id-marker') ?? '';
  const max = parseMaxKeys(r.q.get('max-uploads') ?? null, 'max-uploads');
  const all = ctx.uploads
    .list(r.bucket!)
    .filter((u) => u.key.startsWith(prefix))
    .filter((u) => keyMarker === '' || compareUtf8(u.key, keyMarker) > 0 || (u.key === keyMarker && idMarker !== '' && u.id > idMarker));
  const page = all.slice(0, max);
  const truncated = all.length > page.length;
  const lastU = page[page.length - 1];
  sendXml(r, 200, 'ListMultipartUploadsResult', {
    Bucket: r.bucket!,
    KeyMarker: keyMarker,
    UploadIdMarker: idMarker,
    ...(truncated && lastU ? { NextKeyMarker: lastU.key, NextUploadIdMarker: lastU.id } : {}),
    Prefix: prefix,
    MaxUploads: max,
    IsTruncated: truncated,
    Upload: page.map((u) => ({ Key: u.key, UploadId: u.id, Initiator: ownerXml(ctx, u.owner), Owner: ownerXml(ctx, u.owner), StorageClass: 'STANDARD', Initiated: u.initiated })),
  }, { 'x-amz-request-id': r.id });
}
