// Test fixtures: a seeded PRNG, generated files and temporary archive roots (everything under os.tmpdir()).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** xorshift32: deterministic bytes for a seed. */
export function prng(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

export function randomBytesSeeded(size: number, seed: number): Uint8Array {
  const next = prng(seed);
  const out = new Uint8Array(size);
  const words = new Uint32Array(out.buffer, 0, Math.floor(size / 4));
  for (let i = 0; i < words.length; i++) words[i] = next();
  for (let i = words.length * 4; i < size; i++) out[i] = next() & 0xff;
  return out;
}

export async function tempDir(prefix = 'bf-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export async function writeRandomFile(path: string, size: number, seed: number): Promise<Uint8Array> {
  const data = randomBytesSeeded(size, seed);
  await writeFile(path, data);
  return data;
}

/** Repository root (tests run from dist/test/...). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const CLI = join(REPO_ROOT, 'bin', 'blockframe.js');

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Run the real CLI in a child process. */
export function runCli(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    input: opts.input,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function haveCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

export function b3sum(path: string): string {
  const r = spawnSync('b3sum', ['--no-names', path], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`b3sum failed: ${r.stderr}`);
  return r.stdout.trim();
}
