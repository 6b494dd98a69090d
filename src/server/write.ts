// The write routes, off by default: bearer-token auth, PUT /files/{name} (streamed upload → commit), repair.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { commit, type CommitOptions } from '../engine/commit.js';
import { repair } from '../engine/repair.js';
import { BlockFrameError } from '../errors.js';
import type { ApiContext } from './api.js';
import { sendJson } from './http-util.js';
import { spoolFor } from '../archive/shards.js';

export interface WritePolicy {
  allowUpload: boolean;
  token?: string;
  /** Transforms for uploads, and the server's keys. */
  commit?: Pick<CommitOptions, 'compress' | 'encrypt' | 'keys'>;
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Refuse unless uploads are on and the request carries `Authorization: Bearer <token>` (compared in constant time). */
export function authorize(req: IncomingMessage, policy: WritePolicy): void {
  if (!policy.allowUpload || !policy.token) {
    throw new BlockFrameError('BF_FORBIDDEN', 'this server is read-only (start it with --allow-upload and --token to allow writes)');
  }
  if (!bearerMatches(req, policy.token)) {
    throw new BlockFrameError('BF_UNAUTHORIZED', bearer(req) !== undefined ? 'the bearer token is wrong' : 'this route needs Authorization: Bearer <token>');
  }
}

/** The token of an `Authorization: Bearer <token>` header (RFC 6750), if there is one. */
function bearer(req: IncomingMessage): string | undefined {
  return /^Bearer[ ]+([^\s]+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
}

/** Whether the request carries `Authorization: Bearer <token>` with exactly `token` (compared in constant time). */
export function bearerMatches(req: IncomingMessage, token: string): boolean {
  const t = bearer(req);
  // Equal-length digests: timingSafeEqual never sees the raw lengths, so timing reveals nothing about the token.
  return t !== undefined && timingSafeEqual(digest(t), digest(token));
}

/** PUT /files/{name}: stream the body to a private staging file (constant memory), then commit it under `name`. */
export async function upload(req: IncomingMessage, res: ServerResponse, ctx: ApiContext, name: string, policy?: WritePolicy): Promise<void> {
  // The body is spooled next to the first store (same filesystem for a local directory), then committed.
  const { spool } = await spoolFor(ctx.repo, 0);
  try {
    const tmp = spool.path('upload');
    try {
      // pipeline applies backpressure to the socket and rejects if the client goes away mid-body.
      await pipeline(req, createWriteStream(tmp, { flags: 'wx', mode: 0o600 }));
    } catch (err) {
      // A full disk is the server's problem (507), not an interrupted upload.
      const code = (err as NodeJS.ErrnoException)?.code;
      if (code === 'ENOSPC' || code === 'EDQUOT') throw new BlockFrameError('BF_NO_SPACE', `no space left for the upload of ${JSON.stringify(name)}`, {}, { cause: err });
      throw new BlockFrameError('BF_ABORTED', `the upload of ${JSON.stringify(name)} was interrupted`, {}, { cause: err });
    }
    if (req.readableAborted || !req.complete) throw new BlockFrameError('BF_ABORTED', `the upload of ${JSON.stringify(name)} was interrupted`);
    const r = await commit(tmp, { name, storeSet: ctx.repo.set, pool: ctx.pool, ...policy?.commit });
    ctx.cache.invalidate();
    const { manifest, ...rest } = r;
    sendJson(res, r.status === 'archived' ? 201 : 200, { ...rest, path: undefined, manifest }, r.status === 'archived' ? { Location: `/files/${encodeURIComponent(r.dir)}` } : {});
  } finally {
    await spool.discard();
  }
}

/** POST /files/{name}/repair: repair one archive and return the report. */
export async function repairRoute(res: ServerResponse, ctx: ApiContext, name: string): Promise<void> {
  const dir = await ctx.cache.resolve(name);
  const report = await repair([dir], { storeSet: ctx.repo.set, pool: ctx.pool });
  ctx.cache.invalidate(dir);
  sendJson(res, 200, report);
}
