// Shared by the catalog tests (snapshots, names, locks): real directories as stores, and snapshot headers shaped as
// docs/FORMAT.md §13.3 says (a local stand-in for layout/snapshot.ts, which another module owns).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Repository } from '../../src/archive/repo.js';
import { blake3Hex, initBlake3 } from '../../src/integrity/blake3.js';
import { tempDir } from '../helpers/fixtures.js';

/** `n` empty store directories under a fresh temp dir, opened as one repository (unmarked, as an older set). */
export async function openStores(n: number): Promise<{ repo: Repository; dirs: string[]; root: string; cleanup: () => Promise<void> }> {
  await initBlake3();
  const t = await tempDir('bf-catalog-');
  const dirs = Array.from({ length: n }, (_, i) => join(t.dir, `store${i}`));
  for (const d of dirs) await mkdir(d, { recursive: true });
  const repo = await Repository.open(n === 1 ? { archive: dirs[0]! } : { stores: dirs, failures: 1 });
  return {
    repo,
    dirs,
    root: t.dir,
    cleanup: async () => {
      await repo.close();
      await t.cleanup();
    },
  };
}

/** A snapshot header's bytes and id, with the fields and layout of docs/FORMAT.md §13.3. */
export function header(name: string, createdAt: string, extra: { parent?: string | null; entries?: number } = {}): { id: string; bytes: Uint8Array } {
  const h = {
    format_version: 3,
    kind: 'snapshot',
    name,
    created_at: createdAt,
    parent: extra.parent ?? null,
    root_hash: 'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262',
    root_size: 0,
    entries: extra.entries ?? 0,
    bytes: 0,
    generator: 'blockframe test',
  };
  const bytes = new TextEncoder().encode(`${JSON.stringify(h, null, 2)}\n`);
  return { id: blake3Hex(bytes), bytes };
}

/** Run `fn` and return the BlockFrameError code it throws (fails the test when it does not throw). */
export async function codeOf(fn: () => Promise<unknown>): Promise<{ code: string; context: Record<string, unknown> }> {
  try {
    await fn();
  } catch (err) {
    const e = err as { code?: string; context?: Record<string, unknown> };
    return { code: e.code ?? String(err), context: e.context ?? {} };
  }
  throw new Error('expected an error, got none');
}
