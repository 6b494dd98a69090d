// createBlockFrameServer: the node:http server of `blockframe serve`, its router and its shared pool and cache.
export { untilStopSignal } from '../http/listen.js';
export { AccessLog, type AccessLogFormat } from '../http/observe.js';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { applyLimits, listen, shutdown, urlOf } from '../http/listen.js';
import { observe, type AccessLog } from '../http/observe.js';
import type { Notifier } from '../engine/notify.js';
import type { StoreWatchOptions } from '../engine/store-watch.js';
import { sendHealth, sendMetrics, sendReady } from './ops.js';
import { BlockFrameError, isBlockFrameError } from '../errors.js';
import type { StoreOptions } from '../store/config.js';
import type { KeyInput } from '../archive/keyring.js';
import { archiveHealth, archiveInfo, listArchives, serveShard, type ApiContext } from './api.js';
import { serveFile } from './files.js';
import { openServing, type Serving } from '../engine/serving.js';
import type { ReadAhead } from '../archive/read/read-ahead.js';
import { badRequest, decodeSegment, methodNotAllowed, notFound, sendError, sendJson } from './http-util.js';
import { OPENAPI } from './openapi.js';
import { serveUi } from './static.js';
import { requestView, type ArchiveVisibility } from './visibility.js';
import { repairRoute, upload } from './write.js';
import { DAV_PREFIX, DavTrees, serveDav } from './webdav.js';
import { listTreePath, serveTreePath } from './tree-files.js';
import { authorize, bearerMatches, type WritePolicy } from './bearer.js';

/** Where the archives are (`archive`, `stores`, `config`, or an open `storeSet`), and what writes are allowed. */
export interface ServerOptions extends StoreOptions {
  /** Accept PUT /files/{name} and POST /files/{name}/repair (also needs `token`). */
  allowUpload?: boolean;
  /** Bearer token for the write routes. */
  token?: string;
  /** Close a connection on which no byte has moved for this long (default 120 s). */
  idleMs?: number;
  /** Keys for encrypted archives (taken at start-up; a request can never supply one). */
  keys?: KeyInput[];
  /** How uploads are committed: compression and encryption (with `keys`), as commit's options. */
  uploads?: { compress?: number | 'auto'; encrypt?: boolean };
  /** Bytes of verified read windows all file responses may hold at once (default 64 MiB). */
  windowBudget?: number;
  /**
   * Which archives a request without the bearer token may see (see ArchiveVisibility); default: all. `serve
   * --s3-port` passes the S3 buckets' rule. Changeable later with setVisibility().
   */
  visibility?: ArchiveVisibility;
  /** One line per request (see src/http/observe.ts); default none. */
  accessLog?: AccessLog;
  /** Alerts on state changes (default: none sent). */
  notifier?: Notifier;
  /** How often the stores are checked in the background (default every 10 s). */
  storeWatch?: StoreWatchOptions;
  /** Where the server's own lines (damage healed on read…) go (default stderr). */
  log?: (line: string) => void;
  /** Serve the archives read-only over WebDAV under /dav/ (default true; see src/server/webdav.ts). */
  webdav?: boolean;
}

export interface BlockFrameServer {
  server: Server;
  /** What is served: the archive root, or the store set's label. */
  root: string;
  /** Replace the visibility policy (undefined: every archive visible); applies to the next request. */
  setVisibility(v: ArchiveVisibility | undefined): void;
  /** Window memory free and in all (free equals total when no response holds a window), and the most held at once. */
  windowBudget(): { free: number; total: number; peak: number };
  /** Listen on host:port (0: a free port) and resolve with the URL. Errors: BF_IO naming `flag` and the reason. */
  listen(host: string, port: number, flag?: string): Promise<string>;
  /** Stop accepting connections and close them (requests in flight get `graceMs`), keeping the archives open. */
  stop(graceMs?: number): Promise<void>;
  /**
   * Stop accepting connections; give requests in flight `graceMs` (default 0: none) to finish, then drop the rest;
   * close cached archives and the compute pool.
   */
  close(graceMs?: number): Promise<void>;
  /** What another endpoint on the same archives (the S3 API) may share: one pool, one cache, one read budget. */
  shared: Serving;
}

const READ = ['GET', 'HEAD'];
/** Idle connections (no bytes moving either way) are closed after this. */
const IDLE_MS = 120_000;

/** For routes that compute for a long time before answering (commit, repair, verify). */
function noIdleTimeout(req: IncomingMessage): void {
  req.socket.setTimeout(0);
}

/** Build (but do not listen) the BlockFrame HTTP server. */
export function createBlockFrameServer(opts: ServerOptions = {}): BlockFrameServer {
  if (opts.allowUpload && !opts.token) throw new BlockFrameError('BF_USAGE', 'uploads need a token: pass --token T or set BLOCKFRAME_TOKEN');
  const serving = openServing(opts);
  const { repo, pool, cache, windows } = serving;
  const token = opts.token;
  const ctx: ApiContext = { repo, pool, cache, keys: opts.keys };
  if (opts.uploads?.encrypt && !opts.keys?.length) throw new BlockFrameError('BF_KEY_REQUIRED', 'encrypted uploads need a key: --key-file FILE, --passphrase-file FILE or $BLOCKFRAME_PASSPHRASE');
  const policy: WritePolicy = { allowUpload: !!opts.allowUpload, token: opts.token, commit: { ...opts.uploads, keys: opts.keys } };
  // Local directories never appear in error bodies (longest first, so a root is cut before its parent).
  const redact = [repo.label, ...repo.set.domains.map((d) => d.label)].filter((l) => l.startsWith('/')).sort((a, b) => b.length - a.length);
  const idleMs = opts.idleMs ?? IDLE_MS;
  let visibility = opts.visibility;
  // The mount tree of folder archives: for WebDAV, /files/TREE/… and /api/tree/ (those two also with --no-webdav).
  const trees = new DavTrees(serving, () => visibility);
  const dav = opts.webdav === false ? undefined : trees;
  const server = createServer((req, res) => {
    route(req, res, ctx, policy, windows, idleMs, requestView(req, policy, visibility), { serving, token, redact, dav, trees }).catch((err) => {
      if (isBlockFrameError(err)) serving.readFailed(archiveOf(req), err);
      // A write refused before its body was read: close the connection rather than read a body we do not want.
      sendError(res, err, req.method === 'PUT' && !req.complete ? { Connection: 'close' } : {}, redact);
    });
  });
  // Uploads may take a while, so no overall request deadline; but a connection idle for IDLE_MS (say, a reader
  // that stopped reading and holds its read-ahead windows) is closed. Long server-side work turns this off.
  applyLimits(server, { idleMs });
  observe(server, { server: 'files', metrics: serving.metrics.http, route: routeName, accessLog: opts.accessLog, user: (req) => (token !== undefined && bearerMatches(req, token) ? 'bearer' : undefined) });
  let closing: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;
  return {
    server,
    root: repo.label,
    shared: serving,
    setVisibility: (v) => {
      visibility = v;
      trees.refresh();
    },
    windowBudget: () => ({ free: windows.budgetFree, total: windows.budgetTotal, peak: windows.budget.peakUsed }),
    listen: async (host, port, flag) => urlOf(await listen(server, host, port, flag)),
    stop: (graceMs = 0) => (stopping ??= shutdown(server, graceMs)),
    close(graceMs = 0) {
      closing ??= (async () => {
        await (stopping ??= shutdown(server, graceMs));
        await trees.close();
        await serving.close();
      })();
      return closing;
    },
  };
}

function allow(req: IncomingMessage, methods: string[]): void {
  if (!methods.includes(req.method ?? '')) throw methodNotAllowed(req.method ?? '?', methods);
}

/** The route of a request for the metrics: a fixed name per route of the table below, "other" for the rest. */
export function routeName(req: IncomingMessage): string {
  const path = (req.url ?? '').split('?')[0]!;
  const raw = path.split('/').slice(1);
  if (path === '/' || path === '/index.html' || (raw[0] === 'ui' && raw.length === 2)) return 'ui';
  if (path === '/openapi.json' || path === '/metrics' || path === '/healthz' || path === '/readyz') return path.slice(1).replace('.json', '');
  if (raw[0] === 'files' && raw.length === 2) return 'files';
  if (raw[0] === 'files' && raw.length === 3 && raw[2] === 'repair') return 'files_repair';
  if (raw[0] === 'files' && raw.length >= 3) return 'files_tree';
  if (raw[0] === 'api' && raw[1] === 'tree') return 'api_tree';
  if (raw[0] === 'api' && raw[1] === 'archives') {
    if (raw.length === 2 || (raw.length === 3 && raw[2] === '')) return 'api_archives';
    if (raw.length === 3) return 'api_archive';
    if (raw.length === 4 && raw[3] === 'health') return 'api_health';
    if (raw.length === 7 && (raw[3] === 'shards' || raw[3] === 'level2')) return `api_${raw[3]}`;
  }
  if (path === '/api/stores') return 'api_stores';
  if (raw[0] === DAV_PREFIX.slice(1)) return 'webdav';
  return 'other';
}

/** The archive a /files/{name} or /api/archives/{name}/… request names (undefined for other routes or bad names). */
function archiveOf(req: IncomingMessage): string | undefined {
  const raw = (req.url ?? '').split('?')[0]!.split('/').slice(1);
  const seg = raw[0] === 'files' ? raw[1] : raw[0] === 'api' && raw[1] === 'archives' ? raw[2] : undefined;
  try {
    return seg ? decodeSegment(seg) : undefined;
  } catch {
    return undefined;
  }
}

interface Ops {
  serving: Serving;
  token?: string;
  redact: string[];
  dav?: DavTrees;
  trees: DavTrees;
}

/** `view`: the archives this request may see (undefined: all). */
async function route(req: IncomingMessage, res: ServerResponse, ctx: ApiContext, policy: WritePolicy, windows: ReadAhead, idleMs: number, view: ArchiveVisibility | undefined, ops: Ops): Promise<void> {
  const url = req.url ?? '';
  if (!url.startsWith('/')) throw badRequest('the request target must be an absolute path');
  const rawPath = url.split('?')[0]!;
  // Split before decoding: an encoded "/" (%2F) stays inside its segment, where decodeSegment refuses it.
  const raw = rawPath.split('/').slice(1);
  if (raw.some((s) => s === '.' || s === '..')) throw badRequest('"." and ".." are not allowed in paths');
  const head = req.method === 'HEAD';

  if (raw[0] === DAV_PREFIX.slice(1) && ops.dav) {
    return serveDav(req, res, ops.dav.tree(view), raw.slice(1), idleMs);
  }
  if (rawPath === '/' || rawPath === '/index.html') {
    allow(req, READ);
    return serveUi(res, 'index.html', head);
  }
  if (raw[0] === 'ui' && raw.length === 2) {
    allow(req, READ);
    return serveUi(res, decodeSegment(raw[1]!), head);
  }
  if (rawPath === '/metrics') {
    allow(req, READ);
    return sendMetrics(req, res, ops.serving, ops.token);
  }
  if (rawPath === '/healthz') {
    allow(req, READ);
    return sendHealth(res);
  }
  if (rawPath === '/readyz') {
    allow(req, READ);
    return sendReady(res, ops.serving, ops.redact);
  }
  if (rawPath === '/api/stores') {
    allow(req, READ);
    return sendJson(res, 200, { stores: ops.serving.stores.snapshot().map((s) => ({ store: s.store, kind: s.kind, state: s.state, checkedAt: s.checkedAt ?? null })), failures: ops.serving.repo.failures });
  }
  if (rawPath === '/openapi.json') {
    allow(req, READ);
    return sendJson(res, 200, OPENAPI, { 'Cache-Control': 'no-cache' });
  }
  if (raw[0] === 'files' && raw.length === 2) {
    const name = decodeSegment(raw[1]!);
    allow(req, [...READ, 'PUT']);
    if (req.method === 'PUT') {
      authorize(req, policy);
      noIdleTimeout(req);
      return upload(req, res, ctx, name, policy);
    }
    return serveFile(req, res, ctx.cache, windows, name, idleMs, view);
  }
  if (raw[0] === 'files' && raw.length === 3 && raw[2] === 'repair') {
    const name = decodeSegment(raw[1]!);
    allow(req, ['POST']);
    authorize(req, policy);
    noIdleTimeout(req);
    return repairRoute(res, ctx, name);
  }
  if (raw[0] === 'files' && raw.length >= 3) {
    allow(req, READ);
    return serveTreePath(req, res, ops.trees.tree(view), raw.slice(1), idleMs);
  }
  if (raw[0] === 'api' && raw[1] === 'tree') {
    allow(req, READ);
    return listTreePath(res, ops.trees.tree(view), raw.slice(2));
  }
  if (raw[0] === 'api' && raw[1] === 'archives') {
    if (raw.length === 2 || (raw.length === 3 && raw[2] === '')) {
      allow(req, READ);
      return listArchives(res, ctx, view);
    }
    const name = decodeSegment(raw[2]!);
    if (raw.length === 3) {
      allow(req, READ);
      return archiveInfo(res, ctx, name, view);
    }
    if (raw.length === 4 && raw[3] === 'health') {
      allow(req, READ);
      noIdleTimeout(req);
      return archiveHealth(res, ctx, name, view);
    }
    if (raw.length === 7 && raw[3] === 'shards') {
      allow(req, READ);
      return serveShard(req, res, ctx, name, 1, raw[4]!, raw[5]!, raw[6]!, view);
    }
    if (raw.length === 7 && raw[3] === 'level2') {
      allow(req, READ);
      return serveShard(req, res, ctx, name, 2, raw[4]!, raw[5]!, raw[6]!, view);
    }
  }
  throw notFound(`route ${rawPath}`);
}
