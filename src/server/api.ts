// The read-only JSON API: archive listing, one archive's manifest, its health per shard, and raw shard bytes.
import { createReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { ComputePool } from '../compute/pool.js';
import { list, summarize, type ArchiveSummary } from '../engine/find.js';
import { verifyArchive } from '../engine/verify.js';
import { BlockFrameError } from '../errors.js';
import { openRegular } from '../store/fsutil.js';
import type { LocalStore } from '../store/local.js';
import type { ArchiveCache } from './cache.js';
import { badRequest, contentDisposition, notFound, OCTET, sendJson } from './http-util.js';
import { parseRangeHeader } from './ranges.js';

export interface ApiContext {
  store: LocalStore;
  pool: ComputePool;
  cache: ArchiveCache;
}

/** A summary without the server's absolute filesystem path (clients address archives by `dir`). */
function publicSummary(s: ArchiveSummary): Omit<ArchiveSummary, 'path'> {
  const out: Partial<ArchiveSummary> = { ...s };
  delete out.path;
  return out as Omit<ArchiveSummary, 'path'>;
}

export async function listArchives(res: ServerResponse, ctx: ApiContext): Promise<void> {
  const l = await list({ archive: ctx.store.root });
  sendJson(res, 200, { archives: l.archives.map((a) => ({ ...publicSummary(a), health: null })), damaged: l.damaged });
}

export async function archiveInfo(res: ServerResponse, ctx: ApiContext, name: string): Promise<void> {
  const dir = await ctx.cache.resolve(name);
  const manifest = await ctx.store.readManifest(dir);
  sendJson(res, 200, { summary: publicSummary(summarize(ctx.store, dir, manifest)), manifest });
}

export interface ShardHealth {
  path: string;
  role: 'data' | 'parity';
  stripe: number;
  index: number;
  size: number;
  state: 'ok' | 'missing' | 'truncated' | 'corrupt';
}

export async function archiveHealth(res: ServerResponse, ctx: ApiContext, name: string): Promise<void> {
  const dir = await ctx.cache.resolve(name);
  const h = await verifyArchive(ctx.store, dir, ctx.pool);
  const states = new Map(h.problems.filter((p) => p.kind === 'missing' || p.kind === 'truncated' || p.kind === 'corrupt').map((p) => [p.path, p.kind]));
  const shards: ShardHealth[] = [];
  h.manifest?.stripes.forEach((st, si) => {
    const add = (role: 'data' | 'parity', index: number, path: string, size: number) =>
      shards.push({ path, role, stripe: si, index, size, state: (states.get(path) as ShardHealth['state'] | undefined) ?? 'ok' });
    st.data.forEach((d, i) => add('data', i, d.path, d.size));
    st.parity.forEach((p) => add('parity', p.index, p.path, p.size));
  });
  sendJson(res, 200, { dir: h.dir, name: h.name, status: h.status, problems: h.problems, shards });
}

function index(raw: string, what: string): number {
  if (!/^\d{1,9}$/.test(raw)) throw badRequest(`${what} must be a non-negative integer, not ${JSON.stringify(raw)}`);
  return Number(raw);
}

/**
 * GET/HEAD /api/archives/{name}/shards/{stripe}/{data|parity}/{index}: the shard file exactly as stored (damaged
 * or not) with its expected BLAKE3 from the manifest, so another machine can fetch and check pieces. The shard is
 * looked up in the manifest by integer indexes; the request never supplies a path.
 */
export async function serveShard(req: IncomingMessage, res: ServerResponse, ctx: ApiContext, name: string, stripeRaw: string, role: string, indexRaw: string): Promise<void> {
  if (role !== 'data' && role !== 'parity') throw notFound(`shard role ${JSON.stringify(role)} (use data or parity)`);
  const si = index(stripeRaw, 'stripe');
  const i = index(indexRaw, 'index');
  const dir = await ctx.cache.resolve(name);
  const m = await ctx.store.readManifest(dir);
  const st = m.stripes[si];
  if (!st) throw notFound(`stripe ${si} of ${m.name} (it has ${m.stripes.length})`);
  const sh = role === 'data' ? st.data[i] : st.parity.find((p) => p.index === i);
  if (!sh) throw notFound(`${role} shard ${i} of stripe ${stripeRaw}`);
  const abs = ctx.store.path(dir, sh.path);
  const fh = await openRegular(abs);
  if (fh === 'missing') throw new BlockFrameError('BF_SHARD_MISSING', `shard ${sh.path} is missing (run: blockframe repair)`, { archive: dir, shard: sh.path });
  if (fh === 'not-a-file') throw new BlockFrameError('BF_SHARD_CORRUPT', `shard ${sh.path} is not a regular file`, { archive: dir, shard: sh.path });
  let size: number;
  try {
    size = (await fh.stat()).size;
  } catch (err) {
    await fh.close();
    throw err;
  }
  const headers: Record<string, string | number> = {
    'Content-Type': OCTET,
    'Accept-Ranges': 'bytes',
    'X-BlockFrame-Hash': sh.hash,
    'X-BlockFrame-Shard': sh.path,
    ETag: `"${sh.hash}"`,
    'Content-Disposition': contentDisposition(`${dir}-${sh.path.replace(/\//g, '-')}`, true),
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': 'no-cache',
  };
  let start = 0;
  let end = size - 1;
  let status = 200;
  const r = req.method === 'GET' ? parseRangeHeader(req.headers.range, size) : ({ kind: 'full' } as const);
  if (r.kind === 'unsatisfiable') {
    await fh.close();
    throw new BlockFrameError('BF_RANGE_NOT_SATISFIABLE', `no requested range overlaps the shard (${size} bytes)`, { size });
  }
  if (r.kind === 'ranges') {
    // One range is served; several are answered with their hull (allowed: a server may coalesce).
    start = Math.min(...r.spans.map((s) => s.start));
    end = Math.max(...r.spans.map((s) => s.end));
    status = 206;
    headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
  }
  headers['Content-Length'] = Math.max(0, end - start + 1);
  res.writeHead(status, headers);
  if (req.method === 'HEAD' || size === 0) {
    await fh.close();
    res.end();
    return;
  }
  // The stream owns and closes the handle; pipeline handles backpressure and a client going away.
  await pipeline(createReadStream('', { fd: fh, start, end, highWaterMark: 256 * 1024 }), res).catch(() => res.destroy());
}
