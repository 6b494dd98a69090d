// S3 users and grants: parsed from --s3-user/--s3-grant flags, BLOCKFRAME_S3_USERS, or the `s3` section of blockframe.json.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { BlockFrameError } from '../errors.js';

/**
 * One S3 user: an access key id and its secret (never logged, never sent), and optionally the identity shown as
 * owner of buckets, objects and uploads (`id`, the canonical user ID, and `displayName`; see ownerOf).
 */
export interface S3User {
  accessKey: string;
  secretKey: string;
  id?: string;
  displayName?: string;
}

/** An owner as S3 documents show it (Owner, Initiator, ACL grantee): canonical user ID and display name. */
export interface S3Owner {
  id: string;
  displayName: string;
}

/**
 * The identity shown for the user with `accessKey` (`user` when configured): its `id` and `displayName`, by
 * default the SHA-256 of the access key in hex (the shape of an AWS canonical user ID, 64 hex digits) for
 * both. Never the access key itself: owners are shown to other users and, in public buckets, to anyone.
 */
export function ownerOf(accessKey: string, user?: S3User): S3Owner {
  const id = user?.id ?? createHash('sha256').update(accessKey, 'utf8').digest('hex');
  return { id, displayName: user?.displayName ?? id };
}

/** Extra access to a bucket for a user who does not own it. 'write' includes read. */
export interface S3Grant {
  bucket: string;
  accessKey: string;
  access: 'read' | 'write';
}

export interface S3Config {
  users: S3User[];
  grants: S3Grant[];
}

const ACCESS_KEY = /^[A-Za-z0-9._-]{3,128}$/;

/** Canonical user IDs: 1-128 of A-Z a-z 0-9 . _ - (AWS's are 64 hex digits; Ceph RGW's are its user ids). */
const OWNER_ID = /^[A-Za-z0-9._-]{1,128}$/;

const userSchema = z.strictObject({
  accessKey: z.string().regex(ACCESS_KEY),
  secretKey: z.string().min(8).max(256),
  id: z.string().regex(OWNER_ID, 'must be 1-128 of A-Z a-z 0-9 . _ -').optional(),
  displayName: z.string().min(1).max(128).regex(/^[^\p{Cc}]+$/u, 'must be 1-128 characters, no control characters').optional(),
});
const grantSchema = z.strictObject({ bucket: z.string().min(3).max(63), accessKey: z.string().regex(ACCESS_KEY), access: z.enum(['read', 'write']) });
/** The `s3` section of blockframe.json (every field optional). */
export const s3ConfigSchema = z.strictObject({
  users: z.array(userSchema).max(1000).optional(),
  grants: z.array(grantSchema).max(10000).optional(),
});

function usage(msg: string): BlockFrameError {
  return new BlockFrameError('BF_USAGE', msg, { field: 's3' });
}

/** "ACCESS:SECRET" (split at the first ':'; secrets may hold any other character, and are at least 8 long). */
export function parseUser(text: string): S3User {
  const i = text.indexOf(':');
  const accessKey = i < 0 ? '' : text.slice(0, i);
  const secretKey = i < 0 ? '' : text.slice(i + 1);
  if (!ACCESS_KEY.test(accessKey) || secretKey.length < 8 || secretKey.length > 256) {
    throw usage('an S3 user is ACCESS_KEY:SECRET_KEY (access key 3-128 of A-Z a-z 0-9 . _ -, secret 8-256 characters)');
  }
  return { accessKey, secretKey };
}

/** "BUCKET:ACCESS_KEY:read|write". */
export function parseGrant(text: string): S3Grant {
  const [bucket = '', accessKey = '', access = ''] = text.split(':');
  const g = grantSchema.safeParse({ bucket, accessKey, access });
  if (!g.success || text.split(':').length !== 3) throw usage(`an S3 grant is BUCKET:ACCESS_KEY:read or BUCKET:ACCESS_KEY:write, not ${JSON.stringify(text)}`);
  return g.data;
}

/** The `s3` section of a config file, or nothing when the file has none (a missing file is not an error here). */
function fromFile(path: string | undefined): S3Config {
  if (!path) return { users: [], grants: [] };
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return { users: [], grants: [] };
  }
  const section = (raw as { s3?: unknown } | null)?.s3;
  if (section === undefined) return { users: [], grants: [] };
  const parsed = s3ConfigSchema.safeParse(section);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new BlockFrameError('BF_STORE_CONFIG', `${path}: field "s3.${issue.path.join('.')}" ${issue.message.toLowerCase()}`);
  }
  return { users: parsed.data.users ?? [], grants: parsed.data.grants ?? [] };
}

/**
 * Users and grants from, in order, the flags, BLOCKFRAME_S3_USERS ("A:S,A2:S2") and the config file's `s3`
 * section; all are merged (an `id` or `displayName` comes from the config file, the only source that has them).
 * An access key given twice with different secrets, or two users with one owner id, is a usage error. At least one
 * user is required (anonymous access only ever reaches public-read buckets).
 */
export function resolveS3Config(o: { users?: string[]; grants?: string[]; env?: string; configPath?: string }): S3Config {
  const file = fromFile(o.configPath);
  const users = [...(o.users ?? []).map(parseUser), ...(o.env ? o.env.split(',').filter(Boolean).map(parseUser) : []), ...file.users];
  const byKey = new Map<string, S3User>();
  for (const u of users) {
    const seen = byKey.get(u.accessKey);
    if (seen && seen.secretKey !== u.secretKey) throw usage(`S3 access key ${u.accessKey} is given twice with different secrets`);
    // The config file may name the identity of a user whose key also comes from a flag: keep it.
    byKey.set(u.accessKey, { ...u, ...(seen?.id !== undefined ? { id: seen.id } : {}), ...(seen?.displayName !== undefined ? { displayName: seen.displayName } : {}) });
  }
  const ids = new Map<string, string>();
  for (const u of byKey.values()) {
    const id = ownerOf(u.accessKey, u).id;
    const other = ids.get(id);
    if (other !== undefined) throw usage(`S3 users ${other} and ${u.accessKey} have the same owner id ${JSON.stringify(id)}`);
    ids.set(id, u.accessKey);
  }
  if (byKey.size === 0) throw usage('the S3 endpoint needs at least one user: --s3-user ACCESS:SECRET, BLOCKFRAME_S3_USERS, or "s3": {"users": [...]} in the config file');
  return { users: [...byKey.values()], grants: [...(o.grants ?? []).map(parseGrant), ...file.grants] };
}
