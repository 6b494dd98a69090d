// The server loop both HTTP frontends share: connection timeouts, listening with a clear error, graceful shutdown.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BlockFrameError } from '../errors.js';

/** Connection limits of one server, in milliseconds. */
export interface ConnectionLimits {
  /** Close a connection on which no byte has moved for this long (routes that compute for long turn it off per socket). */
  idleMs: number;
  /** How long a kept-alive connection may wait for its next request (default 5 s, Node's own). */
  keepAliveMs?: number;
  /** How long the request line and headers may take to arrive (default 60 s; Node's check runs every 30 s). */
  headersMs?: number;
}

/**
 * Apply the limits to `server`. No overall request deadline (uploads may take long), but an idle connection (a
 * reader that stopped reading and holds its read-ahead windows) is closed after `idleMs`.
 */
export function applyLimits(server: Server, limits: ConnectionLimits): void {
  server.requestTimeout = 0;
  server.setTimeout(limits.idleMs);
  server.keepAliveTimeout = limits.keepAliveMs ?? 5000;
  server.headersTimeout = limits.headersMs ?? 60_000;
}

/** Why a listen failed, for people (errno → one line). */
function listenReason(code: string | undefined): string {
  switch (code) {
    case 'EADDRINUSE':
      return 'the port is in use (another server listens on it)';
    case 'EACCES':
      return 'permission denied (ports below 1024 need privileges)';
    case 'EADDRNOTAVAIL':
      return 'the address is not one of this machine';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the host name does not resolve';
    default:
      return code ?? 'error';
  }
}

/**
 * Listen on host:port (0 picks a free port) and resolve with the address. Errors: BF_IO naming the flag, the
 * address and the reason (EADDRINUSE: the port is in use, …), with context.errno.
 */
export function listen(server: Server, host: string, port: number, flag = '--port'): Promise<AddressInfo> {
  return new Promise<AddressInfo>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(new BlockFrameError('BF_IO', `cannot listen on ${host}:${port} (${flag}): ${listenReason(err.code)}`, { errno: err.code }, { cause: err }));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** "http://host:port/" for an address (IPv6 in brackets). */
export function urlOf(addr: AddressInfo): string {
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return `http://${host}:${addr.port}/`;
}

/**
 * Stop accepting connections and close the open ones. Connections idle between requests close at once; those with
 * a request in flight get `graceMs` to finish it (0: cut at once), then are cut. Resolves when the server is closed.
 */
export function shutdown(server: Server, graceMs = 0): Promise<void> {
  return new Promise<void>((resolve) => {
    let done = false;
    let poll: NodeJS.Timeout | undefined;
    let deadline: NodeJS.Timeout | undefined;
    const finish = () => {
      done = true;
      clearInterval(poll);
      clearTimeout(deadline);
      resolve();
    };
    server.close(() => finish());
    if (graceMs <= 0) {
      server.closeAllConnections();
      return;
    }
    server.closeIdleConnections();
    // A connection whose response ends becomes idle: close it then, until none is left or the grace ends.
    poll = setInterval(() => server.closeIdleConnections(), 50);
    deadline = setTimeout(() => {
      if (!done) server.closeAllConnections();
    }, graceMs);
  });
}

/** Resolve with the signal's name at the first SIGINT or SIGTERM (the handlers are removed then). */
export function untilStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (sig: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(sig);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
