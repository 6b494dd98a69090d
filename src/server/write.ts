// The write routes, off by default: bearer-token auth, PUT /files/{name} (streamed upload → commit), repair.
import { createWriteStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { commit } from '../engine/commit.js';
import { repair } from '../engine/repair.js';
import { BlockFrameError } from '../errors.js';
import type { ApiContext } from './api.js';
import { sendJson } from './http-util.js';
import type { WritePolicy } from './bearer.js';

import { uploadSpool } from '../engine/upload-spool.js';

/** PUT /files/{name}: stream the body to a private staging file (constant memory), then commit it under `name`. */
export async function upload(req: IncomingMessage, res: ServerResponse, ctx: ApiContext, name: string, policy?: WritePolicy): Promise<void> {
  // The body is spooled next to the first store (same filesystem for a local directory), then committed.
  const spool = await uploadSpool(ctx.repo);
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
