// The file server's bearer token (RFC 6750): who may write, and who sees every archive.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { CommitOptions } from '../engine/commit.js';
import { BlockFrameError } from '../errors.js';

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
