// Per-request observation for both HTTP frontends: the request metrics and the access log (off, combined or JSON).
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import type { HttpMetrics } from '../engine/serve-metrics.js';

export type AccessLogFormat = 'off' | 'combined' | 'json';

/** Lines buffered for a slow log sink at most; past it lines are dropped (and counted) rather than held. */
export const ACCESS_LOG_MAX_BUFFER = 1024 * 1024;

/** One access log: a format and where its lines go (stdout or a file opened for appending). */
export class AccessLog {
  /** Lines dropped because the sink was not keeping up. */
  dropped = 0;
  constructor(
    readonly format: AccessLogFormat,
    private readonly sink: Writable,
  ) {}

  /** Write one line (never waits: a sink more than ACCESS_LOG_MAX_BUFFER behind loses lines instead). */
  write(line: string): void {
    if (this.format === 'off') return;
    if (this.sink.writableLength > ACCESS_LOG_MAX_BUFFER || this.sink.destroyed) {
      this.dropped++;
      return;
    }
    this.sink.write(`${line}\n`);
  }
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** The Common Log Format's time, in UTC: 10/Oct/2000:13:55:36 +0000. */
function clfTime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/** A header or request target inside a combined-log quoted field: '"', '\' and control bytes escaped as \xHH. */
function quoted(v: string | undefined): string {
  if (v === undefined || v === '') return '"-"';
  return `"${v.replace(/["\\\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}"`;
}

export interface RequestRecord {
  time: Date;
  remote: string;
  method: string;
  target: string;
  httpVersion: string;
  status: number;
  bytes: number;
  seconds: number;
  referer?: string;
  userAgent?: string;
  /** The user: the S3 access key, or "bearer" for a valid token (never the secret); undefined: anonymous. */
  user?: string;
  route: string;
  server: string;
  /** False when the connection closed before the response ended. */
  completed: boolean;
}

/**
 * The line of one request. `combined`: the Apache HTTP Server's Combined Log Format (its documentation, "Log
 * Files"): host ident user [time] "request" status bytes "referer" "user-agent". `json`: one object per line with
 * the same facts and the route, server, duration in seconds and completion.
 */
export function formatAccess(format: 'combined' | 'json', r: RequestRecord): string {
  if (format === 'json') {
    return JSON.stringify({
      time: r.time.toISOString(),
      server: r.server,
      remote: r.remote,
      user: r.user ?? null,
      method: r.method,
      target: r.target,
      protocol: `HTTP/${r.httpVersion}`,
      route: r.route,
      status: r.status,
      bytes: r.bytes,
      seconds: Math.round(r.seconds * 1e6) / 1e6,
      referer: r.referer ?? null,
      userAgent: r.userAgent ?? null,
      completed: r.completed,
    });
  }
  const user = r.user === undefined ? '-' : r.user.replace(/[^\x21-\x7e]/g, '_');
  return `${r.remote} - ${user} [${clfTime(r.time)}] ${quoted(`${r.method} ${r.target} HTTP/${r.httpVersion}`)} ${r.status} ${r.bytes > 0 ? r.bytes : '-'} ${quoted(r.referer)} ${quoted(r.userAgent)}`;
}

export interface ObserveOptions {
  /** "files" or "s3": the `server` label and the JSON log's field. */
  server: string;
  metrics: HttpMetrics;
  /** A bounded route name for a request (never the path itself: labels must not grow without bound). */
  route(req: IncomingMessage): string;
  /** Who made the request, for the log (the S3 access key; undefined: anonymous). Called when the response ends. */
  user?(req: IncomingMessage, res: ServerResponse): string | undefined;
  accessLog?: AccessLog;
}

/**
 * Count every request of `server` (requests by route, method and status, duration, bytes) and log it. Runs before
 * the server's own handler; body bytes are counted as the response writes them.
 */
export function observe(server: Server, o: ObserveOptions): void {
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const t0 = performance.now();
    const time = new Date();
    const readAtStart = req.socket.bytesRead;
    let bytes = 0;
    const write = res.write;
    const end = res.end;
    const count = (chunk: unknown, encoding: unknown) => {
      if (typeof chunk === 'string') bytes += Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
      else if (chunk instanceof Uint8Array) bytes += chunk.byteLength;
    };
    res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
      count(chunk, rest[0]);
      return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
    } as ServerResponse['write'];
    res.end = function (this: ServerResponse, chunk?: unknown, ...rest: unknown[]) {
      if (chunk !== undefined && typeof chunk !== 'function') count(chunk, rest[0]);
      return (end as (...a: unknown[]) => ServerResponse).call(this, chunk, ...rest);
    } as ServerResponse['end'];
    o.metrics.inFlight.set({ server: o.server }, (o.metrics.inFlight.get({ server: o.server }) ?? 0) + 1);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      o.metrics.inFlight.set({ server: o.server }, (o.metrics.inFlight.get({ server: o.server }) ?? 1) - 1);
      const seconds = (performance.now() - t0) / 1000;
      let route: string;
      try {
        route = o.route(req);
      } catch {
        route = 'other';
      }
      const method = /^[A-Z]{1,10}$/.test(req.method ?? '') ? req.method! : 'other';
      const status = res.statusCode;
      o.metrics.requests.inc({ server: o.server, route, method, code: status });
      o.metrics.seconds.observe({ server: o.server, route }, seconds);
      o.metrics.sentBytes.inc({ server: o.server, route }, bytes);
      o.metrics.receivedBytes.inc({ server: o.server }, Math.max(0, req.socket.bytesRead - readAtStart));
      if (o.accessLog && o.accessLog.format !== 'off') {
        const rec: RequestRecord = {
          time,
          remote: req.socket.remoteAddress ?? '-',
          method: req.method ?? '-',
          target: req.url ?? '-',
          httpVersion: req.httpVersion,
          status,
          bytes,
          seconds,
          referer: req.headers.referer,
          userAgent: req.headers['user-agent'],
          user: o.user?.(req, res),
          route,
          server: o.server,
          completed: res.writableFinished,
        };
        o.accessLog.write(formatAccess(o.accessLog.format, rec));
      }
    };
    res.once('finish', finish);
    res.once('close', finish);
  });
}
