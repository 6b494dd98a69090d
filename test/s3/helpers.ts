// Shared helpers for the S3 tests: servers (in-process and the real CLI), SDK clients, external client runs.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { request } from 'node:http';
import assert from 'node:assert/strict';
import { isBlockFrameError } from '../../src/errors.js';
import { SignatureV4 } from '@smithy/signature-v4';
import { readdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { S3Client, type S3ServiceException } from '@aws-sdk/client-s3';
import { createBlockFrameServer } from '../../src/index.js';
import { createS3Server, type S3Server, type S3ServerOptions } from '../../src/s3/server.js';
import type { S3Grant, S3User } from '../../src/s3/users.js';
import { CLI, haveCommand, tempDir } from '../helpers/fixtures.js';

export const ALICE: S3User = { accessKey: 'ALICEKEY', secretKey: 'alice-secret-1234' };
export const BOB: S3User = { accessKey: 'BOBKEY01', secretKey: 'bob-secret-5678' };

export interface TestS3 {
  endpoint: string;
  root: string;
  work: string;
  s3: S3Server;
  client(user?: S3User): S3Client;
  close(): Promise<void>;
}

/** An in-process `serve` with the S3 endpoint on 127.0.0.1 (both on free ports), over a fresh archive root. */
export async function startS3(opts: { users?: S3User[]; now?: () => number; uploadExpiryMs?: number; domain?: string; grants?: S3Grant[]; root?: string; archiveFrom?: number; staging?: S3ServerOptions['staging'] } = {}): Promise<TestS3> {
  const t = await tempDir('bf-s3-');
  const root = opts.root ?? join(t.dir, 'archive');
  const bf = createBlockFrameServer({ archive: root });
  const s3 = await createS3Server({ users: opts.users ?? [ALICE, BOB], grants: opts.grants, shared: bf.shared, now: opts.now, uploadExpiryMs: opts.uploadExpiryMs, domain: opts.domain, archiveFrom: opts.archiveFrom, staging: opts.staging, log: () => undefined });
  await new Promise<void>((resolve) => s3.server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(s3.server.address() as AddressInfo).port}`;
  const clients: S3Client[] = [];
  return {
    endpoint,
    root,
    work: t.dir,
    s3,
    client(user = ALICE) {
      const c = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: user.accessKey, secretAccessKey: user.secretKey }, maxAttempts: 1 });
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.destroy();
      await s3.close();
      await bf.close();
      await t.cleanup();
    },
  };
}

/** The real CLI serving the S3 API in a child process; resolves once it prints its S3 URL. */
export async function startCliS3(root: string, users: S3User[] = [ALICE], extra: string[] = []): Promise<{ endpoint: string; proc: ChildProcess; stderr(): string; stop(): Promise<void> }> {
  const args = [CLI, 'serve', '--archive', root, '--port', '0', '--s3-port', '0', ...users.flatMap((u) => ['--s3-user', `${u.accessKey}:${u.secretKey}`]), ...extra];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  const endpoint = await new Promise<string>((resolve, reject) => {
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /S3 API at (http:\/\/[^/]+)\//.exec(out);
      if (m) resolve(m[1]!);
    });
    proc.once('exit', (code) => reject(new Error(`serve exited ${code}: ${out}${err}`)));
  });
  return {
    endpoint,
    proc,
    stderr: () => err,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
      }),
  };
}

/** The awscli to use: the Debian one at /usr/bin/aws when present (a pyenv shim may not work), else `aws` on PATH if it runs. */
export function findAws(): string | undefined {
  for (const cmd of ['/usr/bin/aws', 'aws']) if (haveCommand(cmd) && spawnSync(cmd, ['--version'], { stdio: 'ignore', timeout: 30_000 }).status === 0) return cmd;
  return undefined;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a client asynchronously (the server may be in this process), never through a shell. */
export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string, timeoutMs = 300_000): Promise<Run> {
  return new Promise((resolve) => {
    const full: NodeJS.ProcessEnv = { ...process.env, ...env };
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete full[k];
    execFile(cmd, args, { env: full, cwd, maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** Environment for awscli against `endpoint` as `user` (no config files, no metadata service, no proxies). */
export function awsEnv(work: string, user: S3User = ALICE): NodeJS.ProcessEnv {
  return {
    AWS_ACCESS_KEY_ID: user.accessKey,
    AWS_SECRET_ACCESS_KEY: user.secretKey,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: join(work, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(work, 'no-aws-credentials'),
    AWS_CA_BUNDLE: undefined,
    AWS_PROFILE: undefined,
    HTTP_PROXY: undefined,
    HTTPS_PROXY: undefined,
    http_proxy: undefined,
    https_proxy: undefined,
    NO_PROXY: '127.0.0.1,localhost',
    PAGER: '',
    AWS_PAGER: '',
  };
}

/** Archive directories of bucket/key objects under a local root ("{bucket}_{key…}_{hash}"). */
export async function archiveDirs(root: string, prefix: string): Promise<string[]> {
  return (await readdir(root)).filter((d) => d.startsWith(prefix) && !d.startsWith('.'));
}

/** Node's crypto in the shape the SDK signer wants (HMAC when given a secret). */
export class NodeSha256 {
  private readonly h;
  constructor(secret?: unknown) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', secret instanceof ArrayBuffer ? new Uint8Array(secret) : (secret as string | Uint8Array));
  }
  update(data: string | Uint8Array): void {
    this.h.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return this.h.digest();
  }
  reset(): void {}
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The S3 error code of an XML error body. */
  code?: string;
}

/** The SDK's own SigV4 signer for `user` (S3 style: the path is signed as given, already encoded). */
export function signerFor(user: S3User = ALICE): SignatureV4 {
  return new SignatureV4({ credentials: { accessKeyId: user.accessKey, secretAccessKey: user.secretKey }, region: 'us-east-1', service: 's3', sha256: NodeSha256, uriEscapePath: false, applyChecksum: false });
}

/**
 * Send one request exactly as given (raw path, no normalisation), signed by the SDK's signer unless `unsigned`.
 * `payloadHash` defaults to the SHA-256 of `body`; `sendBody` (default `body`) is what actually goes on the wire.
 */
export async function raw(
  endpoint: string,
  o: { method: string; path: string; query?: Record<string, string>; headers?: Record<string, string>; body?: Buffer | string; sendBody?: Buffer | string; payloadHash?: string; user?: S3User; unsigned?: boolean; signingDate?: Date },
): Promise<RawResponse> {
  const url = new URL(endpoint);
  const body = o.body === undefined ? Buffer.alloc(0) : Buffer.from(o.body);
  const headers: Record<string, string> = { host: url.host, 'x-amz-content-sha256': o.payloadHash ?? createHash('sha256').update(body).digest('hex'), ...o.headers };
  if (!('content-length' in headers) && !('transfer-encoding' in headers)) headers['content-length'] = String(body.length);
  let finalHeaders = headers;
  if (!o.unsigned) {
    const signed = await signerFor(o.user).sign({ method: o.method, protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: o.path, query: o.query ?? {}, headers }, { signingDate: o.signingDate ?? new Date() });
    finalHeaders = signed.headers as Record<string, string>;
  }
  const qs = Object.entries(o.query ?? {}).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method: o.method, path: qs ? `${o.path}?${qs}` : o.path, headers: finalHeaders }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text, code: /<Code>([^<]+)<\/Code>/.exec(text)?.[1] }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(o.sendBody === undefined ? body : Buffer.from(o.sendBody));
  });
}

/** The S3 error code `fn` throws (a coded BlockFrameError with an `s3` context), or undefined when it does not throw. */
export function s3code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    assert.ok(isBlockFrameError(err), String(err));
    return err.context.s3 as string;
  }
  return undefined;
}

/** The S3 error name a call fails with (an assertion failure when it succeeds). */
export async function s3err(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as S3ServiceException).name;
  }
  assert.fail('expected an S3 error');
}
