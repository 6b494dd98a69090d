// The S3 backend: keys under s3://bucket/prefix on any S3-compatible endpoint, through @aws-sdk/client-s3.
// Ranged GETs, multipart uploads for large objects (@aws-sdk/lib-storage), errors classified from the SDK's.
import type { S3Client } from '@aws-sdk/client-s3';
import { pipeline, Transform, type Readable } from 'node:stream';
import { BlockFrameError } from '../errors.js';
import { checkKey, storeError, throwIfAborted, type Backend, type BackendCaps, type ListOptions, type ObjectInfo, type PutSource } from './backend.js';

export interface S3Options {
  bucket: string;
  /** Key prefix inside the bucket ('' or ending in '/'). */
  prefix: string;
  /** e.g. http://127.0.0.1:7480; default: the SDK's (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the config file, or AWS). */
  endpoint?: string;
  /** Default: AWS_REGION / AWS_DEFAULT_REGION / the config file, else us-east-1. */
  region?: string;
  /** Path-style addressing (http://host/bucket/key) instead of virtual-hosted (http://bucket.host/key). */
  pathStyle?: boolean;
  /** A named profile of the AWS config and credentials files. */
  profile?: string;
  /** Explicit credentials (otherwise the SDK's chain: environment, config files, …). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Connection set-up limit (default 3 s), and how long a socket may stay silent mid-request (default 30 s). */
  connectTimeoutMs?: number;
  idleTimeoutMs?: number;
}

/** Objects above this go up as multipart uploads, in parts of this size. */
const MULTIPART_PART = 8 * 1024 * 1024;
/** Keys asked for per listing page: S3's own default and maximum (Amazon S3 API Reference, ListObjectsV2, MaxKeys). */
const LIST_PAGE_KEYS = 1000;
/** Bytes of one listing page's XML we accept: 1000 keys of at most 1024 bytes each, escaped, with their fields, fit. */
export const LIST_PAGE_MAX_BYTES = 8 * 1024 * 1024;

type Sdk = typeof import('@aws-sdk/client-s3');

/**
 * The AWS SDK, loaded on first use: it is about 20 MiB of memory that a process with only local stores (a scrub
 * of 100,000 archives, a verify) should not carry.
 */
let sdkLoad: Promise<Sdk> | undefined;
function loadSdk(): Promise<Sdk> {
  return (sdkLoad ??= import('@aws-sdk/client-s3'));
}

export class S3Backend implements Backend {
  readonly label: string;
  readonly caps: BackendCaps = { atomicRename: false, randomWrite: false };
  private ready?: Promise<{ sdk: Sdk; client: S3Client }>;
  private made?: S3Client;

  constructor(readonly opts: S3Options) {
    this.label = `s3://${opts.bucket}/${opts.prefix}${opts.endpoint ? ` at ${opts.endpoint}` : ''}`;
    if (opts.profile) process.env.AWS_PROFILE ??= opts.profile;
    // The SDK warns on stderr that later releases will need Node 22; the locked version supports Node 20.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  }

  /** The SDK and this store's client, made on first use. */
  private sdk(): Promise<{ sdk: Sdk; client: S3Client }> {
    const o = this.opts;
    return (this.ready ??= loadSdk().then((sdk) => {
      this.made = new sdk.S3Client({
        endpoint: o.endpoint,
        region: o.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
        forcePathStyle: o.pathStyle ?? false,
        credentials: o.credentials,
        // One SDK attempt: RetryBackend owns retries, so a re-readable source is re-opened for each try.
        maxAttempts: 1,
        requestHandler: { connectionTimeout: o.connectTimeoutMs ?? 3000, socketTimeout: o.idleTimeoutMs ?? 30000 },
      });
      return { sdk, client: this.made };
    }));
  }

  private k(key: string): string {
    return this.opts.prefix + key;
  }

  async get(key: string, into: Uint8Array, offset: number, signal?: AbortSignal): Promise<number> {
    checkKey(this, key);
    throwIfAborted(this, key, signal);
    if (into.length === 0) {
      if (!(await this.stat(key, signal))) throw storeError('BF_STORE_KEY_MISSING', this, key, 'no such key');
      return 0;
    }
    try {
      const { sdk, client } = await this.sdk();
      const res = await client.send(new sdk.GetObjectCommand({ Bucket: this.opts.bucket, Key: this.k(key), Range: `bytes=${offset}-${offset + into.length - 1}` }), { abortSignal: signal });
      let n = 0;
      for await (const chunk of res.Body as AsyncIterable<Uint8Array>) {
        if (n + chunk.length > into.length) throw storeError('BF_IO', this, key, 'the store sent more bytes than the range asked for');
        into.set(chunk, n);
        n += chunk.length;
      }
      return n;
    } catch (err) {
      const e = this.classify(err, key, 'reading');
      // A range starting at or past the end of the object: nothing to read.
      if (e.context.s3 === 'InvalidRange') return 0;
      throw e;
    }
  }

  async put(key: string, source: PutSource, signal?: AbortSignal): Promise<void> {
    checkKey(this, key);
    throwIfAborted(this, key, signal);
    try {
      const { sdk, client } = await this.sdk();
      if (source.size <= MULTIPART_PART) {
        const chunks: Buffer[] = [];
        let at = 0;
        for await (const c of source.open()) {
          at += (c as Uint8Array).length;
          if (at > source.size) break;
          chunks.push(Buffer.from(c as Uint8Array));
        }
        if (at !== source.size) throw storeError('BF_INTERNAL', this, key, `source gave ${at > source.size ? 'more than ' : ''}${at} bytes, expected ${source.size}`);
        await client.send(new sdk.PutObjectCommand({ Bucket: this.opts.bucket, Key: this.k(key), Body: Buffer.concat(chunks), ContentLength: source.size }), { abortSignal: signal });
        return;
      }
      // lib-storage keeps queueSize parts of partSize in memory and aborts the upload on failure.
      const { Upload } = await import('@aws-sdk/lib-storage');
      const up = new Upload({
        client,
        params: { Bucket: this.opts.bucket, Key: this.k(key), Body: exactly(source, () => storeError('BF_INTERNAL', this, key, `source did not give exactly ${source.size} bytes`)) },
        partSize: MULTIPART_PART,
        queueSize: 2,
        leavePartsOnError: false,
      });
      const onAbort = () => void up.abort().catch(() => undefined);
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        await up.done();
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    } catch (err) {
      throw this.classify(err, key, 'writing');
    }
  }

  async stat(key: string, signal?: AbortSignal): Promise<ObjectInfo | null> {
    checkKey(this, key);
    throwIfAborted(this, key, signal);
    try {
      const { sdk, client } = await this.sdk();
      const res = await client.send(new sdk.HeadObjectCommand({ Bucket: this.opts.bucket, Key: this.k(key) }), { abortSignal: signal });
      return { key, size: Number(res.ContentLength ?? 0) };
    } catch (err) {
      const e = this.classify(err, key, 'looking up');
      if (e.code === 'BF_STORE_KEY_MISSING') return null;
      throw e;
    }
  }

  /**
   * ListObjectsV2, page by page (1000 keys each). A page above LIST_PAGE_MAX_BYTES or with more entries than asked
   * for is a misbehaving store: BF_STORE_UNAVAILABLE with context.cutOff, never buffered whole. How long and how
   * many pages a listing may take in all is bounded by the TimeoutBackend around this one.
   */
  async *list(prefix: string, opts: ListOptions = {}): AsyncIterable<ObjectInfo> {
    checkKey(this, prefix, true);
    throwIfAborted(this, prefix, opts.signal);
    let token: string | undefined;
    const cut = this.opts.prefix.length;
    do {
      let res;
      try {
        const { sdk, client } = await this.sdk();
        const cmd = new sdk.ListObjectsV2Command({ Bucket: this.opts.bucket, Prefix: this.k(prefix), Delimiter: opts.delimiter, ContinuationToken: token, MaxKeys: LIST_PAGE_KEYS });
        // Inside the deserializer: the raw response, whose body the SDK would otherwise read whole.
        cmd.middlewareStack.add((next) => async (args) => {
          const out = await next(args);
          capBody(out.response as RawResponse, LIST_PAGE_MAX_BYTES, () => this.misbehaves(prefix, `a listing page is larger than ${LIST_PAGE_MAX_BYTES} bytes`));
          return out;
        }, { step: 'deserialize', priority: 'low', name: 'blockframeListPageCap' });
        res = await client.send(cmd, { abortSignal: opts.signal });
      } catch (err) {
        throw this.classify(err, prefix, 'listing');
      }
      const entries = (res.CommonPrefixes?.length ?? 0) + (res.Contents?.length ?? 0);
      if (entries > LIST_PAGE_KEYS) throw this.misbehaves(prefix, `a listing page holds ${entries} entries, more than the ${LIST_PAGE_KEYS} asked for`);
      for (const p of res.CommonPrefixes ?? []) {
        throwIfAborted(this, prefix, opts.signal);
        if (p.Prefix) yield { key: p.Prefix.slice(cut), size: -1, prefix: true };
      }
      for (const o of res.Contents ?? []) {
        throwIfAborted(this, prefix, opts.signal);
        if (o.Key) yield { key: o.Key.slice(cut), size: Number(o.Size ?? 0) };
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
  }

  /** A store that answers, but not as S3 does: treated as one that does not answer (cut off, not retried). */
  private misbehaves(key: string, what: string): BlockFrameError {
    const e = storeError('BF_STORE_UNAVAILABLE', this, key, `${what} (the store misbehaves)`);
    e.context.cutOff = true;
    e.context.misbehaving = true;
    return e;
  }

  async delete(key: string, signal?: AbortSignal): Promise<void> {
    checkKey(this, key);
    throwIfAborted(this, key, signal);
    try {
      const { sdk, client } = await this.sdk();
      await client.send(new sdk.DeleteObjectCommand({ Bucket: this.opts.bucket, Key: this.k(key) }), { abortSignal: signal });
    } catch (err) {
      const e = this.classify(err, key, 'deleting');
      if (e.code !== 'BF_STORE_KEY_MISSING') throw e;
    }
  }

  async close(): Promise<void> {
    this.made?.destroy();
  }

  /** SDK and network errors to store codes: 404 missing, 401/403 denied, 5xx/429/timeouts/refusals transient. */
  private classify(err: unknown, key: string, what: string): BlockFrameError {
    if (err instanceof BlockFrameError) return err;
    const e = err as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number }; Code?: string };
    const name = e?.name ?? e?.Code ?? 'Error';
    const status = e?.$metadata?.httpStatusCode;
    const say = (code: Parameters<typeof storeError>[0], text: string) => {
      const out = storeError(code, this, key, `${text} while ${what}`, err);
      out.context.s3 = name;
      return out;
    };
    if (name === 'AbortError' || e?.code === 'ABORT_ERR') return say('BF_ABORTED', 'cancelled');
    if (name === 'InvalidRange' || status === 416) return say('BF_IO', 'range not satisfiable');
    if (name === 'NoSuchKey' || name === 'NotFound' || (status === 404 && name !== 'NoSuchBucket')) return say('BF_STORE_KEY_MISSING', 'no such key');
    if (name === 'NoSuchBucket') return say('BF_STORE_CONFIG', `bucket ${this.opts.bucket} does not exist`);
    if (status === 401 || status === 403 || /AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|ExpiredToken|CredentialsProviderError/.test(name)) {
      return say('BF_STORE_DENIED', `access denied (check credentials): ${name}`);
    }
    if (/EntityTooLarge|QuotaExceeded|InsufficientStorage/.test(name) || status === 507) return say('BF_NO_SPACE', `the store is full (${name})`);
    const net = /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|ENOTFOUND|socket hang up/.test(`${e?.code ?? ''} ${e?.message ?? ''}`);
    if (net || (status !== undefined && (status >= 500 || status === 429)) || /Timeout|SlowDown|ServiceUnavailable|InternalError|RequestTimeTooSkewed/.test(name)) {
      return say('BF_STORE_UNAVAILABLE', `the store did not answer properly (${name}${status ? ` ${status}` : ''}${e?.code ? ` ${e.code}` : ''})`);
    }
    return say('BF_IO', `${name}: ${e?.message ?? 'request failed'}`);
  }
}

/** The source's stream, failing with `lie()` when it gives more or fewer bytes than it claimed (a multipart upload then aborts). */
function exactly(source: PutSource, lie: () => Error): Readable {
  let at = 0;
  return pipeline(
    source.open(),
    new Transform({
      transform(chunk: Buffer, _enc, done) {
        at += chunk.length;
        done(at > source.size ? lie() : null, chunk);
      },
      flush(done) {
        done(at !== source.size ? lie() : null);
      },
    }),
    () => undefined,
  );
}

interface RawResponse {
  headers: Record<string, string | undefined>;
  body: Readable;
}

/** Fail a response whose body is (or grows) larger than `max` bytes, as it streams, instead of reading it whole. */
function capBody(res: RawResponse, max: number, tooLarge: () => Error): void {
  const declared = Number(res.headers['content-length']);
  if (declared > max) {
    res.body.destroy();
    throw tooLarge();
  }
  let n = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _enc, done) {
      n += chunk.length;
      done(n > max ? tooLarge() : null, chunk);
    },
  });
  res.body = pipeline(res.body, counted, () => undefined);
}
