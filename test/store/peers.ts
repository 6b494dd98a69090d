// Test peers for stores that misbehave: tiny real servers on 127.0.0.1 (an S3 listing that never ends or one huge
// page, a TCP endpoint that never answers), and the real CLI run asynchronously with its time and peak memory.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { CLI } from '../helpers/fixtures.js';

/** Credentials any S3 peer here accepts (they are only ever sent to 127.0.0.1). */
export const PEER_ENV = { AWS_ACCESS_KEY_ID: 'PEERKEY1', AWS_SECRET_ACCESS_KEY: 'peer-secret-1234', AWS_REGION: 'us-east-1' };

export interface Peer {
  endpoint: string;
  /** Listing requests answered so far. */
  pages: number;
  close(): Promise<void>;
}

const xmlHead = '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">';

/**
 * Enough of S3 for a store that lists badly: ListObjectsV2 gives an endless chain of continuation tokens, each page
 * 1000 keys ('endless'), or one page of `hugeKeys` keys streamed without a length ('huge'). Any other request is
 * answered 404 NoSuchKey, as for a store that holds nothing.
 */
export async function listingPeer(mode: 'endless' | 'huge', hugeKeys = 300_000): Promise<Peer> {
  const peer = { pages: 0 } as Peer;
  const server: Server = createHttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://peer');
    if (req.method !== 'GET' || url.searchParams.get('list-type') !== '2') {
      res.writeHead(404, { 'Content-Type': 'application/xml' });
      res.end(req.method === 'HEAD' ? undefined : '<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>none</Message></Error>');
      return;
    }
    peer.pages++;
    const page = Number(url.searchParams.get('continuation-token') ?? '0');
    const prefix = url.searchParams.get('prefix') ?? '';
    const keys = mode === 'endless' ? 1000 : hugeKeys;
    res.writeHead(200, { 'Content-Type': 'application/xml' });
    res.write(`${xmlHead}<Name>b</Name><Prefix>${prefix}</Prefix><KeyCount>${keys}</KeyCount><MaxKeys>1000</MaxKeys>`);
    // Written in slices with backpressure, so a huge page really streams.
    let i = 0;
    const more = () => {
      while (i < keys) {
        let chunk = '';
        for (let j = 0; j < 500 && i < keys; j++, i++) chunk += `<Contents><Key>${prefix}junk-${page}-${i}/x</Key><Size>1</Size></Contents>`;
        if (!res.write(chunk)) return void res.once('drain', more);
      }
      res.end(mode === 'endless' ? `<IsTruncated>true</IsTruncated><NextContinuationToken>${page + 1}</NextContinuationToken></ListBucketResult>` : '<IsTruncated>false</IsTruncated></ListBucketResult>');
    };
    res.on('error', () => undefined);
    more();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  peer.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  peer.close = () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r())));
  return peer;
}

/** A TCP endpoint that accepts connections and never sends a byte: a hung (SIGSTOPped) S3 server, as clients see it. */
export async function silentPeer(): Promise<Peer> {
  const sockets = new Set<Socket>();
  const peer = { pages: 0 } as Peer;
  const server = createTcpServer((s) => {
    peer.pages++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  peer.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  peer.close = () => new Promise<void>((r) => {
    for (const s of sockets) s.destroy();
    server.close(() => r());
  });
  return peer;
}

export interface Run {
  status: number | null;
  stdout: Buffer;
  stderr: string;
  ms: number;
  /** Peak resident memory of the CLI process in MiB (VmHWM). */
  peakMiB: number;
  killed: boolean;
}

/**
 * The real CLI in a child process, without blocking this one (peers above run in it), killed after `killAfterMs`.
 * Its peak memory is the last VmHWM read from /proc while it ran (sampled every 50 ms).
 */
export function runCliAsync(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; killAfterMs?: number } = {}): Promise<Run> {
  const start = Date.now();
  // A variable given as undefined is removed from the child's environment.
  const env = Object.fromEntries(Object.entries({ ...process.env, ...opts.env }).filter(([, v]) => v !== undefined));
  const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  let peakKB = 0;
  child.stdout!.on('data', (d: Buffer) => out.push(d));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const sample = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) peakKB = Math.max(peakKB, Number(m[1]));
    } catch {
      // exited between samples
    }
  }, 50);
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill('SIGKILL');
  }, opts.killAfterMs ?? 60_000);
  return new Promise((resolve) => {
    child.once('close', (code) => {
      clearTimeout(timer);
      clearInterval(sample);
      resolve({ status: code, stdout: Buffer.concat(out), stderr: err, ms: Date.now() - start, peakMiB: peakKB / 1024, killed });
    });
  });
}
