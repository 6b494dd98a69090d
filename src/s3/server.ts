// createS3Server: the S3 REST endpoint's node:http server, addressing (path and virtual-hosted style) and routing.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { openServing, type Serving } from '../engine/serving.js';
import { PACK_THRESHOLD, S3Staging, type S3StagingOptions } from '../engine/s3-staging.js';
import { applyLimits, listen, shutdown, urlOf } from '../http/listen.js';
import { observe, type AccessLog } from '../http/observe.js';
import type { StoreOptions } from '../store/config.js';
import { DEFAULT_COMMIT_SLOTS, SMALL_COMMIT_SLOTS } from './archives.js';
import { Slots } from '../slots.js';
import { applyQueryHeaders, authenticate } from './auth.js';
import { getBucketAcl, getObjectAcl, putBucketAcl, putObjectAcl } from './acl.js';
import { createBucket, deleteBucket, getBucketLocation, getBucketVersioning, headBucket, listBuckets, listObjects } from './buckets.js';
import { Catalog } from './catalog.js';
import { s3Error } from './errors.js';
import { DEFAULT_BODY_SLOTS, newRequestId, SMALL_BODY_DEADLINE_MS, sendS3Error, type S3Context, type S3Request } from './http.js';
import { abortUpload, completeUpload, createUpload, listParts, listUploads, uploadPart } from './multipart.js';
import { KeyedMutex } from './names.js';
import { getObject } from './object-read.js';
import { copyObject, deleteObject, deleteObjects, putObject } from './object-write.js';
import { rebuildCatalog } from './rebuild.js';
import { parseQuery } from './sigv4.js';
import { Uploads } from './uploads.js';
import { uploadsDir } from '../engine/upload-spool.js';
import { ownerOf, type S3Grant, type S3User } from './users.js';
import { listObjectVersions } from './versions.js';

export interface S3ServerOptions extends StoreOptions {
  users: S3User[];
  grants?: S3Grant[];
  /** Enables virtual-hosted style: Host "{bucket}.{domain}" addresses the bucket. */
  domain?: string;
  /** Region reported by GetBucketLocation and HeadBucket (any region is accepted in signatures). Default us-east-1. */
  region?: string;
  /** Multipart uploads older than this are removed (default 7 days). */
  uploadExpiryMs?: number;
  idleMs?: number;
  /** Commits that may run at once (default DEFAULT_COMMIT_SLOTS); further PutObject/Complete requests queue. */
  commitSlots?: number;
  /** XML bodies (Complete, DeleteObjects) read and parsed at once (default DEFAULT_BODY_SLOTS); further ones wait unread. */
  bodySlots?: number;
  /** How long an XML body may take to arrive once its slot is taken (default SMALL_BODY_DEADLINE_MS: 60 s). */
  bodyDeadlineMs?: number;
  /** Share the HTTP server's repository, pool, cache and read windows instead of opening new ones. */
  shared?: Serving;
  /** Before serving, make the catalogue agree with the archives' manifests (see rebuildCatalog); new buckets go to the first user. */
  rebuild?: boolean;
  /** Small objects' staging (FORMAT.md §13.9): when to flush into packs, and the packs' target (tests use less). */
  staging?: Omit<S3StagingOptions, 'pool' | 'log'>;
  /** Objects of this many bytes and more are archives (default and most: 16 MiB, FORMAT.md §13.9); tests of the archive path pass 0. */
  archiveFrom?: number;
  /** Time source for signature checks (tests). */
  now?: () => number;
  log?: (line: string) => void;
  /** One line per request (see src/http/observe.ts); default none. */
  accessLog?: AccessLog;
}

export interface S3Server {
  server: Server;
  context: S3Context;
  /** Listen on host:port (0: a free port) and resolve with the URL. Errors: BF_IO naming `flag` and the reason. */
  listen(host: string, port: number, flag?: string): Promise<string>;
  /** Stop accepting; give requests in flight `graceMs` (default 0) to finish, then drop the rest. */
  close(graceMs?: number): Promise<void>;
}

/** Bucket subresources that exist in S3 but not here: 501 NotImplemented rather than a wrong answer. */
const UNSUPPORTED = ['policy', 'cors', 'lifecycle', 'tagging', 'website', 'encryption', 'object-lock', 'replication', 'logging', 'notification', 'ownershipControls', 'publicAccessBlock', 'accelerate', 'requestPayment', 'analytics', 'metrics', 'inventory', 'intelligent-tiering', 'retention', 'legal-hold', 'torrent', 'restore', 'select', 'attributes', 'versionId'];

/** Build (not listen) the S3 endpoint over the archives `opts` names. Errors: BF_USAGE without users. */
export async function createS3Server(opts: S3ServerOptions): Promise<S3Server> {
  const serving = opts.shared ?? openServing(opts);
  const { repo, pool, cache, windows } = serving;
  for (const b of repo.set.domains) await b.stagingDir?.();
  const catalog = await Catalog.load(repo.set);
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  // Segments a previous run left are flushed into packs before the first request (FORMAT.md §13.9).
  const staging = await S3Staging.open(repo, { ...opts.staging, pool, log });
  const uploads = await Uploads.open(await uploadsDir(repo), opts.uploadExpiryMs);
  const users = new Map(opts.users.map((u) => [u.accessKey, u]));
  const ctx: S3Context = {
    repo,
    pool,
    cache,
    windows,
    catalog,
    staging,
    archiveFrom: opts.archiveFrom ?? PACK_THRESHOLD,
    uploads,
    grants: opts.grants ?? [],
    owner: (k) => ownerOf(k, users.get(k)),
    dirs: new KeyedMutex(),
    commits: new Slots(opts.commitSlots ?? DEFAULT_COMMIT_SLOTS),
    smallCommits: new Slots(SMALL_COMMIT_SLOTS),
    bodies: new Slots(opts.bodySlots ?? DEFAULT_BODY_SLOTS),
    bodyDeadlineMs: opts.bodyDeadlineMs ?? SMALL_BODY_DEADLINE_MS,
    region: opts.region ?? 'us-east-1',
    idleMs: opts.idleMs ?? 120_000,
    log,
  };
  if (opts.rebuild) {
    const r = await rebuildCatalog(ctx, opts.users[0]!.accessKey);
    log(`blockframe s3: index rebuilt from the manifests: ${r.keysAdded} key(s) added, ${r.keysDropped} dropped, ${r.bucketsCreated.length} bucket(s) created, ${r.skipped} archive(s) not named bucket/key`);
  }
  const now = opts.now ?? Date.now;
  /** The access key of each authenticated request, for the access log. */
  const who = new WeakMap<IncomingMessage, string>();
  const server = createServer((req, res) => {
    const id = newRequestId();
    handle(ctx, req, res, id, users, now(), opts.domain, who).catch((err) => {
      const resource = (req.url ?? '/').split('?')[0]!;
      serving.readFailed(resource.slice(1) || undefined, err);
      // A request refused before its body was read: close rather than read a body we do not want.
      sendS3Error(res, req.method ?? 'GET', resource, id, err, log, req.complete ? {} : { Connection: 'close' });
    });
  });
  applyLimits(server, { idleMs: ctx.idleMs });
  observe(server, { server: 's3', metrics: serving.metrics.http, route: (req) => s3RouteName(req, opts.domain), accessLog: opts.accessLog, user: (req) => who.get(req) });
  let closing: Promise<void> | undefined;
  return {
    server,
    context: ctx,
    listen: async (host, port, flag) => urlOf(await listen(server, host, port, flag)),
    close(graceMs = 0) {
      closing ??= (async () => {
        await shutdown(server, graceMs);
        // What is staged goes into packs now (a failure leaves the segments, flushed at the next start).
        await staging.close();
        uploads.close();
        if (!opts.shared) await serving.close();
      })();
      return closing;
    },
  };
}

/** Split the target into bucket and key: path style "/bucket/key", or the Host names the bucket (virtual-hosted). */
function address(req: IncomingMessage, rawPath: string, domain?: string): { bucket?: string; key?: string } {
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw s3Error('InvalidURI', "Couldn't parse the specified URI.");
    }
  };
  const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
  if (domain && host.endsWith(`.${domain}`)) {
    const bucket = host.slice(0, -domain.length - 1);
    const key = rawPath.slice(1);
    return { bucket, key: key === '' ? undefined : decode(key) };
  }
  const rest = rawPath.slice(1);
  if (rest === '') return {};
  const slash = rest.indexOf('/');
  if (slash < 0) return { bucket: decode(rest) };
  const key = rest.slice(slash + 1);
  return { bucket: decode(rest.slice(0, slash)), key: key === '' ? undefined : decode(key) };
}

/** The route of an S3 request for the metrics: service (no bucket), bucket, object, or preflight (OPTIONS). */
export function s3RouteName(req: IncomingMessage, domain?: string): string {
  if (req.method === 'OPTIONS') return 'preflight';
  const url = req.url ?? '/';
  const qi = url.indexOf('?');
  const rawPath = qi < 0 ? url : url.slice(0, qi);
  try {
    const { bucket, key } = address(req, rawPath, domain);
    return bucket === undefined ? 'service' : key === undefined ? 'bucket' : 'object';
  } catch {
    return 'other';
  }
}

async function handle(ctx: S3Context, req: IncomingMessage, res: ServerResponse, id: string, users: Map<string, S3User>, now: number, domain: string | undefined, who: WeakMap<IncomingMessage, string>): Promise<void> {
  const url = req.url ?? '/';
  if (!url.startsWith('/')) throw s3Error('InvalidURI', "Couldn't parse the specified URI.");
  const qi = url.indexOf('?');
  const rawPath = qi < 0 ? url : url.slice(0, qi);
  const query = parseQuery(qi < 0 ? '' : url.slice(qi + 1));
  const method = req.method ?? 'GET';
  if (method === 'OPTIONS') return preflight(ctx, req, res, id, address(req, rawPath, domain).bucket);
  const caller = authenticate({ method, rawPath, query, req }, users, now);
  if (caller.user) who.set(req, caller.user.accessKey);
  applyQueryHeaders(req, caller);
  const { bucket, key } = address(req, rawPath, domain);
  const r: S3Request = { req, res, method, bucket, key, q: new Map(query.map(([k, v]) => [k, v]).reverse() as [string, string][]), caller, id };
  res.setHeader('x-amz-request-id', id);
  res.setHeader('Server', 'BlockFrame');
  await route(ctx, r);
}

/**
 * OPTIONS (a CORS preflight) is never authenticated: a browser sends it without credentials, even for a
 * presigned URL whose signature covers another method. Answers as S3 does for a bucket without a CORS
 * configuration (Amazon S3 User Guide, "Using cross-origin resource sharing (CORS)"): 400 InvalidRequest when
 * Origin or Access-Control-Request-Method is missing, 404 NoSuchBucket, else 403 AccessForbidden (CORS is not
 * supported here, so no origin is ever allowed).
 */
function preflight(ctx: S3Context, req: IncomingMessage, res: ServerResponse, id: string, bucket: string | undefined): void {
  res.setHeader('x-amz-request-id', id);
  res.setHeader('Server', 'BlockFrame');
  if (req.headers.origin === undefined || req.headers['access-control-request-method'] === undefined) {
    throw s3Error('InvalidRequest', 'Insufficient information: a CORS preflight needs the Origin and Access-Control-Request-Method headers');
  }
  if (bucket !== undefined && !ctx.catalog.bucket(bucket)) throw s3Error('NoSuchBucket', 'The specified bucket does not exist', { bucket });
  throw s3Error('AccessForbidden', 'CORSResponse: CORS is not enabled for this bucket.', bucket === undefined ? {} : { bucket });
}

function route(ctx: S3Context, r: S3Request): Promise<void> | void {
  const { method, q } = r;
  const notAllowed = () => s3Error('MethodNotAllowed', `The specified method (${method}) is not allowed against this resource.`, { allow: 'GET, HEAD, PUT, POST, DELETE' });
  if (r.bucket === undefined) {
    if (method === 'GET' || method === 'HEAD') return listBuckets(ctx, r);
    throw notAllowed();
  }
  const sub = UNSUPPORTED.find((s) => q.has(s));
  if (sub) throw s3Error('NotImplemented', `the ?${sub} subresource is not supported by this server`);
  if (r.key === undefined) {
    if (method === 'GET' && q.has('location')) return getBucketLocation(ctx, r);
    if (method === 'GET' && q.has('versioning')) return getBucketVersioning(ctx, r);
    if (method === 'GET' && q.has('acl')) return getBucketAcl(ctx, r);
    if (method === 'GET' && q.has('uploads')) return listUploads(ctx, r);
    if (method === 'GET' && q.has('versions')) return listObjectVersions(ctx, r);
    if (method === 'GET') return listObjects(ctx, r);
    if (method === 'HEAD') return headBucket(ctx, r);
    if (method === 'PUT' && q.has('acl')) return putBucketAcl(ctx, r);
    if (method === 'PUT' && q.has('versioning')) throw s3Error('NotImplemented', 'versioning is not supported by this server');
    if (method === 'PUT') return createBucket(ctx, r);
    if (method === 'DELETE') return deleteBucket(ctx, r);
    if (method === 'POST' && q.has('delete')) return deleteObjects(ctx, r);
    throw notAllowed();
  }
  if (method === 'GET' && q.has('acl')) return getObjectAcl(ctx, r);
  if (method === 'PUT' && q.has('acl')) return putObjectAcl(ctx, r);
  if (q.has('acl')) throw notAllowed();
  if (method === 'GET' && q.has('uploadId')) return listParts(ctx, r);
  if (method === 'GET' || method === 'HEAD') return getObject(ctx, r);
  if (method === 'PUT' && q.has('uploadId')) return uploadPart(ctx, r);
  if (method === 'PUT' && r.req.headers['x-amz-copy-source'] !== undefined) return copyObject(ctx, r);
  if (method === 'PUT') return putObject(ctx, r);
  if (method === 'DELETE' && q.has('uploadId')) return abortUpload(ctx, r);
  if (method === 'DELETE') return deleteObject(ctx, r);
  if (method === 'POST' && q.has('uploads')) return createUpload(ctx, r);
  if (method === 'POST' && q.has('uploadId')) return completeUpload(ctx, r);
  throw notAllowed();
}
