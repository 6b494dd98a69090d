// The operations routes of `blockframe serve`: /metrics (Prometheus text), /healthz (alive) and /readyz (stores answer).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BlockFrameError } from '../errors.js';
import { METRICS_CONTENT_TYPE } from '../metrics.js';
import type { Serving } from '../engine/serving.js';
import { bearerMatches } from './bearer.js';
import { sendJson } from './http-util.js';

/** /readyz trusts a round of store checks this recent instead of starting one (milliseconds). */
export const READY_FRESH_MS = 1000;

/**
 * GET /metrics: every family of the serving process's registry. When the server has a bearer token, the request
 * must carry it (Prometheus: `authorization: {credentials: …}` in the scrape config); else it is open, like the
 * other read routes (the server binds to loopback unless told otherwise). Errors: BF_UNAUTHORIZED.
 */
export function sendMetrics(req: IncomingMessage, res: ServerResponse, serving: Serving, token: string | undefined): void {
  if (token !== undefined && !bearerMatches(req, token)) throw new BlockFrameError('BF_UNAUTHORIZED', '/metrics needs Authorization: Bearer <token> on a server started with a token');
  const text = serving.metrics.metrics.render();
  res.writeHead(200, { 'Content-Type': METRICS_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : text);
}

/** GET /healthz: 200 {"status":"ok"} while the process answers at all (a liveness probe: it checks nothing else). */
export function sendHealth(res: ServerResponse): void {
  sendJson(res, 200, { status: 'ok' });
}

/**
 * GET /readyz: check the stores (or take a check less than READY_FRESH_MS old). 200 with status "ready" when every
 * store answers, "degraded" when some do not but no more than the store set may lose (every archive still reads);
 * 503 with status "unready", a reason and the stores when more are down than that. Store reasons are cut of
 * `redact` (local directories).
 */
export async function sendReady(res: ServerResponse, serving: Serving, redact: string[]): Promise<void> {
  const states = await serving.stores.check(READY_FRESH_MS);
  const down = states.filter((s) => s.state === 'down');
  const tolerated = serving.repo.failures;
  const cut = (t: string | undefined) => (t === undefined ? undefined : redact.reduce((m, p) => m.split(p).join('…'), t));
  const stores = states.map((s) => ({ store: s.store, kind: s.kind, state: s.state, ...(s.reason ? { reason: cut(s.reason) } : {}), checkedAt: s.checkedAt }));
  if (down.length > tolerated) {
    const reason = `${down.length} of ${states.length} store${states.length === 1 ? '' : 's'} not answering (store${down.length === 1 ? '' : 's'} ${down.map((s) => s.store).join(', ')}); the set survives losing ${tolerated}`;
    return sendJson(res, 503, { status: 'unready', reason, stores }, { 'Retry-After': '5' });
  }
  sendJson(res, 200, { status: down.length ? 'degraded' : 'ready', stores });
}
