// The read-only JSON API: archive listing, one archive's manifest, its health per shard (both levels), and raw shard bytes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ComputePool } from '../compute/pool.js';
import { list, summarize, type ArchiveSummary } from '../engine/find.js';
import { verifyArchive } from '../engine/verify.js';
import { BlockFrameError } from '../errors.js';
import { isEncrypted, type Manifest } from '../layout/manifest.js';
import { loadSecrets, openContent, type KeyInput } from '../archive/keyring.js';
import type { Repository } from '../archive/repo.js';
import { archiveCtx, readFailure, readShard, statShard, type ArchiveCtx } from '../archive/shards.js';
import type { ArchiveCache } from '../engine/archive-cache.js';
import { badRequest, contentDisposition, notFound, OCTET, sendJson } from './http-util.js';
import { parseRangeHeader } from '../http/ranges.js';
import type { ArchiveVisibility } from './visibility.js';

export interface ApiContext {
  repo: Repository;
  pool: ComputePool;
  cache: ArchiveCache;
  /** The server's keys (start-up configuration), to name encrypted archives in listings. */
  keys?: KeyInput[];
}

/** A summary without the server's absolute filesystem path (clients address archives by `dir`). */
function publicSummary(s: ArchiveSummary): Omit<ArchiveSummary, 'path'> {
  const out: Partial<ArchiveSummary> = { ...s };
  delete out.path;
  return out as Omit<ArchiveSummary, 'path'>;
}

/** GET /api/archives: every archive `view` lets the caller see (all without a view), and the damaged ones. */
export async function listArchives(res: ServerResponse, ctx: ApiContext, view?: ArchiveVisibility): Promise<void> {
  const l = await list({ storeSet: ctx.repo.set, keys: ctx.keys });
  // An encrypted archive's shown name may be the opened one: the policy judges the manifest's (absent: sealed).
  const archives = view ? l.archives.filter((a) => view(a.dir, a.encryption ? undefined : a.name)) : l.archives;
  const damaged = view ? l.damaged.filter((d) => view(d.dir, undefined)) : l.damaged;
  // Stores by number and reason only: their locations are not sent.
  const unlisted = l.unlisted.map(({ store, code }) => ({ store, code }));
  sendJson(res, 200, { archives: archives.map((a) => ({ ...publicSummary(a), health: null })), damaged, unlisted });
}

export async function archiveInfo(res: ServerResponse, ctx: ApiContext, name: string, view?: ArchiveVisibility): Promise<void> {
  const dir = await ctx.cache.resolve(name, view);
  const manifest = await ctx.repo.readManifest(dir);
  const opened = isEncrypted(manifest) ? await openContent(dir, manifest, await loadSecrets(ctx.keys)).catch(() => undefined) : undefined;
  sendJson(res, 200, { summary: publicSummary(summarize(ctx.repo, dir, manifest, opened)), manifest, healedOnRead: ctx.cache.healedFiles(dir) });
}

export interface ShardHealth {
  path: string;
  role: 'data' | 'parity';
  /** 1 for every shard but Tier 4's level-2 parity (2). */
  level: 1 | 2;
  /** Index of the stripe within its level (manifest stripes[] or level2.stripes[]). */
  stripe: number;
  index: number;
  size: number;
  state: 'ok' | 'missing' | 'truncated' | 'corrupt';
  /** The store (1-based) that holds the shard; always 1 for a single store. */
  store: number;
}

export async function archiveHealth(res: ServerResponse, ctx: ApiContext, name: string, view?: ArchiveVisibility): Promise<void> {
  const dir = await ctx.cache.resolve(name, view);
  const h = await verifyArchive(ctx.repo, dir, ctx.pool);
  const states = new Map(h.problems.filter((p) => p.kind === 'missing' || p.kind === 'truncated' || p.kind === 'corrupt').map((p) => [p.path, p.kind]));
  const shards = h.manifest ? shardList(archiveCtx(ctx.repo, dir, h.manifest, ctx.pool)) : [];
  for (const sh of shards) sh.state = (states.get(sh.path) as ShardHealth['state'] | undefined) ?? 'ok';
  const stores = h.stores.map(({ store, state, shards: n, lost }) => ({ store, state, shards: n, lost }));
  sendJson(res, 200, { dir: h.dir, name: h.name, status: h.status, margin: h.margin, problems: h.problems, stores, shards });
}

/** Every shard of the manifest in Merkle-leaf order (level-1 stripes: data then parity; then level-2 parity), all 'ok'. */
function shardList(actx: ArchiveCtx): ShardHealth[] {
  const m = actx.manifest;
  const out: ShardHealth[] = [];
  // Merkle-leaf order is shard-id order, so the n-th entry is shard n.
  const add = (level: 1 | 2, stripe: number, role: ShardHealth['role'], index: number, sh: { path: string; size: number }) =>
    out.push({ path: sh.path, role, level, stripe, index, size: sh.size, state: 'ok', store: actx.where[out.length]! + 1 });
  m.stripes.forEach((st, si) => {
    st.data.forEach((d, i) => add(1, si, 'data', i, d));
    st.parity.forEach((p) => add(1, si, 'parity', p.index, p));
  });
  m.level2?.stripes.forEach((st, si) => st.parity.forEach((p) => add(2, si, 'parity', p.index, p)));
  return out;
}

function index(raw: string, what: string): number {
  if (!/^\d{1,9}$/.test(raw)) throw badRequest(`${what} must be a non-negative integer, not ${JSON.stringify(raw)}`);
  return Number(raw);
}

/**
 * GET/HEAD /api/archives/{name}/shards/{stripe}/{data|parity}/{index} (level 1) and
 * /api/archives/{name}/level2/{stripe}/parity/{index} (Tier 4 level-2 parity): the shard file exactly as stored
 * (damaged or not) with its expected BLAKE3 from the manifest, so another machine can fetch and check pieces. The
 * shard is looked up in the manifest by integer indexes; the request never supplies a path.
 */
export async function serveShard(req: IncomingMessage, res: ServerResponse, ctx: ApiContext, name: string, level: 1 | 2, stripeRaw: string, role: string, indexRaw: string, view?: ArchiveVisibility): Promise<void> {
  const r = shardRole(level, role);
  const si = index(stripeRaw, 'stripe');
  const i = index(indexRaw, 'index');
  const dir = await ctx.cache.resolve(name, view);
  const manifest = await ctx.repo.readManifest(dir);
  const sh = findShard(manifest, level, si, r, i);
  await sendShard(req, res, archiveCtx(ctx.repo, dir, manifest, ctx.pool), sh);
}

function shardRole(level: 1 | 2, raw: string): 'data' | 'parity' {
  if (raw === 'parity' || (raw === 'data' && level === 1)) return raw;
  if (level === 1) throw notFound(`shard role ${JSON.stringify(raw)} (use data or parity)`);
  throw notFound(`level-2 shard role ${JSON.stringify(raw)} (level-2 stripes store parity only; their data shards are level-1 segments)`);
}

/** A shard's manifest entry by level, stripe index within the level, role and index; BF_NOT_FOUND otherwise. */
function findShard(m: Manifest, level: 1 | 2, si: number, role: 'data' | 'parity', i: number): { path: string; hash: string } {
  const stripes = level === 1 ? m.stripes : (m.level2?.stripes ?? []);
  const what = level === 1 ? 'stripe' : 'level-2 stripe';
  const st = stripes[si];
  if (!st) throw notFound(`${what} ${si} of ${m.name ?? 'the archive'} (it has ${stripes.length}${level === 2 && !m.level2 ? '; only Tier 4 archives have level 2' : ''})`);
  const sh = role === 'data' && 'data' in st ? st.data[i] : st.parity.find((p) => p.index === i);
  if (!sh) throw notFound(`${role} shard ${i} of ${what} ${si}`);
  return sh;
}

/** Stream one shard (a single range at most) through its store, with its manifest hash in X-BlockFrame-Hash and the ETag. */
async function sendShard(req: IncomingMessage, res: ServerResponse, actx: ArchiveCtx, sh: { path: string; hash: string }): Promise<void> {
  const dir = actx.dir;
  const n = actx.code.shards.findIndex((x) => x.path === sh.path);
  let info;
  try {
    info = await statShard(actx, n);
  } catch (err) {
    const f = readFailure(err);
    if (f === 'not-a-file') throw new BlockFrameError('BF_SHARD_CORRUPT', `shard ${sh.path} is not a regular file`, { archive: dir, shard: sh.path });
    if (f === 'denied') throw new BlockFrameError('BF_STORE_DENIED', `shard ${sh.path} can't be read: its store denies access (check credentials)`, { archive: dir, shard: sh.path });
    throw new BlockFrameError('BF_SHARD_MISSING', `shard ${sh.path} can't be read: its store did not answer (run: blockframe verify)`, { archive: dir, shard: sh.path });
  }
  if (!info) throw new BlockFrameError('BF_SHARD_MISSING', `shard ${sh.path} is missing (run: blockframe repair)`, { archive: dir, shard: sh.path });
  const size = info.size;
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
  if (r.kind === 'unsatisfiable') throw new BlockFrameError('BF_RANGE_NOT_SATISFIABLE', `no requested range overlaps the shard (${size} bytes)`, { size });
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
    res.end();
    return;
  }
  // Pieces are read on demand, so a slow client holds one piece, not the shard; a client going away stops the reads.
  async function* pieces(): AsyncGenerator<Buffer> {
    const piece = 256 * 1024;
    for (let at = start; at <= end; at += piece) {
      const buf = Buffer.allocUnsafe(Math.min(piece, end + 1 - at));
      const got = await readShard(actx, n, buf, at);
      if (got === 0) return;
      yield buf.subarray(0, got);
    }
  }
  await pipeline(Readable.from(pieces()), res).catch(() => res.destroy());
}
