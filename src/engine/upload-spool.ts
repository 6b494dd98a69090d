// Where frontends put bytes that arrive for a commit (an HTTP upload, an S3 PUT or multipart part) before it runs:
// on the first store's own disk when it is a local directory (a commit then moves files with a rename), else in
// the local scratch directory (BLOCKFRAME_SPOOL or the system temp directory).
import type { Repository } from '../archive/repo.js';
import { longUploadsDir, spoolFor } from '../archive/shards.js';
import type { Spool } from '../store/spool.js';

/** A fresh private spool for one upload; discard() it when the commit is done (BF_IO errors from the disk). */
export async function uploadSpool(repo: Repository): Promise<Spool> {
  return (await spoolFor(repo, 0)).spool;
}

/**
 * The directory for uploads that outlive a request (S3 multipart parts), not created here: on the first store's
 * disk when it is a local directory, else in the scratch area (see archive/shards.ts longUploadsDir).
 */
export function uploadsDir(repo: Repository): Promise<string> {
  return longUploadsDir(repo);
}
