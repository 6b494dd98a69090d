// `blockframe serve --s3-port`: start the S3 endpoint next to the HTTP server, sharing its archives and pool.
import { BlockFrameError } from '../errors.js';
import type { AccessLog, BlockFrameServer } from '../server/server.js';
import { createS3Server, type S3Server } from '../s3/server.js';
import { resolveS3Config } from '../s3/users.js';
import { logLine } from '../log.js';

export interface S3CliOptions {
  host: string;
  s3Port?: string;
  s3User?: string[];
  s3Grant?: string[];
  s3Domain?: string;
  s3Region: string;
  s3RebuildIndex?: boolean;
  /** Store every S3 object as an archive (version 2), none as a packed blob (FORMAT.md §13.9). */
  s3NoPacks?: boolean;
}

/** Resolve users (flags, BLOCKFRAME_S3_USERS, the config file), build the S3 server and listen; prints its URL. */
export async function startS3(opts: S3CliOptions, bf: BlockFrameServer, accessLog?: AccessLog): Promise<S3Server> {
  const port = opts.s3Port!;
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) throw new BlockFrameError('BF_USAGE', `--s3-port must be 0-65535, not ${JSON.stringify(port)}`);
  if (opts.s3Domain !== undefined && !/^[a-z0-9.-]+$/i.test(opts.s3Domain)) throw new BlockFrameError('BF_USAGE', `--s3-domain must be a host name, not ${JSON.stringify(opts.s3Domain)}`);
  const cfg = resolveS3Config({ users: opts.s3User, grants: opts.s3Grant, env: process.env.BLOCKFRAME_S3_USERS, configPath: bf.shared.repo.resolved.configPath });
  const s3 = await createS3Server({ users: cfg.users, grants: cfg.grants, domain: opts.s3Domain?.toLowerCase(), region: opts.s3Region, rebuild: opts.s3RebuildIndex, shared: bf.shared, ...(opts.s3NoPacks ? { archiveFrom: 0 } : {}), accessLog, log: (l) => logLine('warn', l) });
  const url = await s3.listen(opts.host, Number(port), '--s3-port').catch(async (err) => {
    await s3.close();
    throw err;
  });
  process.stdout.write(`blockframe: S3 API at ${url} (${cfg.users.length} user${cfg.users.length === 1 ? '' : 's'}; path style${opts.s3Domain ? `, virtual-hosted under ${opts.s3Domain}` : ''})\n`);
  return s3;
}
