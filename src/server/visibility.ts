// Which archives the file server shows to whom: a policy passed in by whoever wires it (serve with the S3 API).
import type { IncomingMessage } from 'node:http';
import type { ArchiveFilter } from '../engine/find.js';
import { bearerMatches, type WritePolicy } from './bearer.js';

/**
 * May a client without the bearer token see archive `dir`, whose manifest names `name` (undefined when the
 * manifest is unreadable or the name sealed)? Hidden archives do not exist for that client: not listed, and
 * every route that names one answers 404 BF_ARCHIVE_NOT_FOUND, as for an archive that is not there.
 */
export type ArchiveVisibility = ArchiveFilter;

/**
 * The filter for one request: none (every archive) for a request carrying the server's bearer token, or when no
 * policy is set; the policy otherwise.
 */
export function requestView(req: IncomingMessage, policy: WritePolicy, visibility: ArchiveVisibility | undefined): ArchiveVisibility | undefined {
  if (!visibility) return undefined;
  return policy.token !== undefined && bearerMatches(req, policy.token) ? undefined : visibility;
}
