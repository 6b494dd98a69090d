// Shared helpers for the server tests: archives to serve, in-process and child-process servers, multipart, RSS.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ComputePool, commit, createBlockFrameServer, type ServerOptions } from '../../src/index.js';
import { CLI, tempDir, writeRandomFile } from '../helpers/fixtures.js';

export interface ServedFile {
  name: string;
  size: number;
  seed: number;
  tier?: 1 | 2 | 3;
  segmentSize?: number;
}

export interface TestArchive {
  root: string;
  /** The work directory (inputs live here). */
  work: string;
  data: Map<string, Uint8Array>;
  dirs: Map<string, string>;
  cleanup(): Promise<void>;
}

export async function makeArchive(files: ServedFile[]): Promise<TestArchive> {
  const t = await tempDir('bf-serve-');
  const root = join(t.dir, 'archive');
  const pool = ComputePool.start(2);
  const data = new Map<string, Uint8Array>();
  const dirs = new Map<string, string>();
  try {
    for (const f of files) {
      const input = join(t.dir, `input-${f.seed}`);
      data.set(f.name, await writeRandomFile(input, f.size, f.seed));
      const r = await commit(input, { archive: root, pool, name: f.name, tier: f.tier, segmentSize: f.segmentSize });
      dirs.set(f.name, r.dir);
    }
  } finally {
    await pool.close();
  }
  return { root, work: t.dir, data, dirs, cleanup: t.cleanup };
}

/** An in-process server on 127.0.0.1 with a free port. */
export async function startServer(opts: ServerOptions): Promise<{ base: string; close(): Promise<void> }> {
  const s = createBlockFrameServer(opts);
  await new Promise<void>((resolve) => s.server.listen(0, '127.0.0.1', resolve));
  const port = (s.server.address() as AddressInfo).port;
  return { base: `http://127.0.0.1:${port}`, close: () => s.close() };
}

/** The real CLI (`blockframe serve --port 0`) in a child process, so its memory can be measured. */
export async function startChild(archive: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ChildServer> {
  return startServe(['--archive', archive, ...args], env);
}

export interface ChildServer {
  base: string;
  child: ChildProcess;
  pid: number;
  stderr(): string;
  /** Everything the server wrote to stdout so far. */
  stdout(): string;
  stop(): Promise<number | null>;
}

/** `blockframe serve --port 0 ARGS…` in a child process (ARGS name the stores). */
export async function startServe(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ChildServer> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${err}`)), 10_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /at (http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${err}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    base,
    child,
    pid: child.pid!,
    stderr: () => err,
    stdout: () => out,
    async stop() {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** Resident memory of a process in MiB, from /proc. */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

export interface Part {
  headers: Record<string, string>;
  body: Buffer;
}

/** Parse a multipart/byteranges body strictly (CRLF framing, the closing delimiter last). */
export function parseMultipart(body: Buffer, boundary: string): Part[] {
  const parts: Part[] = [];
  const delim = Buffer.from(`--${boundary}`);
  let pos = body.indexOf(delim);
  if (pos !== 0) throw new Error('multipart body does not start with the boundary');
  for (let guard = 0; guard < 10_000; guard++) {
    pos += delim.length;
    if (body.subarray(pos, pos + 2).toString() === '--') return parts;
    if (body.subarray(pos, pos + 2).toString() !== '\r\n') throw new Error('bad delimiter line');
    const headEnd = body.indexOf('\r\n\r\n', pos);
    const headers: Record<string, string> = {};
    for (const line of body.subarray(pos + 2, headEnd).toString().split('\r\n')) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(headers['content-range'] ?? '');
    if (!m) throw new Error(`part without Content-Range: ${JSON.stringify(headers)}`);
    const len = Number(m[2]) - Number(m[1]) + 1;
    const start = headEnd + 4;
    parts.push({ headers, body: body.subarray(start, start + len) });
    pos = start + len;
    if (body.subarray(pos, pos + 2).toString() !== '\r\n') throw new Error('part not followed by CRLF');
    pos += 2;
    if (body.indexOf(delim, pos) !== pos) throw new Error('part not followed by the boundary');
  }
  throw new Error('too many parts');
}

/** Run curl (asynchronously: an in-process server must keep serving) with a timeout; stdout as a Buffer. */
export function curl(args: string[]): Promise<{ status: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('curl', ['-sS', '--max-time', '20', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => resolve({ status: code ?? -1, stdout: Buffer.concat(out), stderr: err }));
  });
}

export function eqBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
}
