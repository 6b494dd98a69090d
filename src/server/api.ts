// The read-only JSON API: archive listing, one archive's manifest, its health per shard (both levels), and raw shard bytes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ComputePool } from '../compute/pool.js';
import { list, summaryWithKeys, type ArchiveSummary } from '../engine/find.js';
import { verifyArchive } from '../engine/verify.js';
import { BlockFrameError } from '../errors.js';
import type { Manifest } from '../layout/manifest.js';
import type { KeyInput } from '../archive/keyring.js';
import type { Repository } from '../archive/repo.js';
import { openStoredShard, shardEntries, type ShardEntry, type StoredShard } from '../engine/shards.js';
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
  const summary = await summaryWithKeys(ctx.repo, dir, manifest, ctx.keys);
  sendJson(res, 200, { summary: publicSummary(summary), manifest, healedOnRead: ctx.cache.healedFiles(dir) });
}

export interface ShardHealth extends ShardEntry {
  state: 'ok' | 'missing' | 'truncated' | 'corrupt';
}

export async function archiveHealth(res: ServerResponse, ctx: ApiContext, name: string, view?: ArchiveVisibility): Promise<void> {
  const dir = await ctx.cache.resolve(name, view);
  const h = await verifyArchive(ctx.repo, dir, ctx.pool);
  const states = new Map(h.problems.filter((p) => p.kind === 'missing' || p.kind === 'truncated' || p.kind === 'corrupt').map((p) => [p.path, p.kind]));
  const shards: ShardHealth[] = (h.manifest ? shardEntries(ctx.repo, dir, h.manifest, ctx.pool) : []).map((sh) => ({ ...sh, state: (states.get(sh.path) as ShardHealth['state'] | undefined) ?? 'ok' }));
  const stores = h.stores.map(({ store, state, shards: n, lost }) => ({ store, state, shards: n, lost }));
  sendJson(res, 200, { dir: h.dir, name: h.name, status: h.status, margin: h.margin, problems: h.problems, stores, shards });
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
  await sendShard(req, res, dir, sh, await openStoredShard(ctx.repo, dir, manifest, ctx.pool, sh.path));
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
async function sendShard(req: IncomingMessage, res: ServerResponse, dir: string, sh: { path: string; hash: string }, stored: StoredShard): Promise<void> {
  const size = stored.size;
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
      const got = await stored.read(buf, at);
      if (got === 0) return;
      yield buf.subarray(0, got);
    }
  }
  await pipeline(Readable.from(pieces()), res).catch(() => res.destroy());
}
