// Test helper for the ops tests (prune, delete, verify of format v3): snapshots written with the real lower layers
// (PackWriter, writeIndexFile, writeSnapshotHeader, appendSnapshot), read back byte-exact through BlobReader.
import assert from 'node:assert/strict';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ComputePool } from '../../src/compute/pool.js';
import { loadBlobIndex, writeIndexFile } from '../../src/archive/blob-index.js';
import { appendSnapshot } from '../../src/archive/names.js';
import { PackWriter, type SealedPack } from '../../src/archive/pack-writer.js';
import type { Repository } from '../../src/archive/repo.js';
import { writeSnapshotHeader } from '../../src/archive/snapshots.js';
import { listSnapshotIds } from '../../src/archive/snapshots.js';
import { BlobReader } from '../../src/engine/blob-read.js';
import { readSnapshotWhole } from '../../src/engine/snapshot-blobs.js';
import { blake3Hex } from '../../src/integrity/blake3.js';
import { buildSnapshotHeader, snapshotId } from '../../src/layout/snapshot-header.js';
import { encodeEntryLine } from '../../src/layout/snapshot.js';
import { randomBytesSeeded } from '../helpers/fixtures.js';

export interface TreeFile {
  path: string;
  bytes: Uint8Array;
}

/** A pack target small enough that a few hundred KB make several packs. */
export const TEST_PACK_TARGET = 64 * 1024;

/**
 * Commit `files` (flat names, any order) as a snapshot of `name`, as FORMAT.md §13.6 "Commit" orders it: blobs not
 * yet indexed into packs, the body blob last, one index file for the new packs, the header set, the name record.
 * Returns the snapshot id and the packs written.
 */
export async function writeSnapshot(repo: Repository, pool: ComputePool, name: string, files: TreeFile[], createdAt: string): Promise<{ id: string; packs: SealedPack[] }> {
  const { index } = await loadBlobIndex(repo);
  const sorted = [...files].sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)));
  const w = await PackWriter.open(repo, { pool, target: TEST_PACK_TARGET, generator: 'blockframe test' });
  const packs: SealedPack[] = [];
  const lines: Buffer[] = [];
  let bytes = 0;
  try {
    const put = async (h: string, b: Uint8Array): Promise<void> => {
      if (b.length === 0 || index.has(h) || w.has(h)) return;
      packs.push(...(await w.beginBlob(b.length)));
      await w.append(b);
      packs.push(...(await w.commitBlob(h)).sealed);
    };
    for (const f of sorted) {
      const h = blake3Hex(f.bytes);
      await put(h, f.bytes);
      lines.push(encodeEntryLine({ type: 'file', path: Buffer.from(f.path), mode: 0o644, mtimeNs: 1_700_000_000_000_000_000n, size: f.bytes.length, blob: h }));
      bytes += f.bytes.length;
    }
    const body = Buffer.concat(lines);
    const root = blake3Hex(body);
    await put(root, body);
    packs.push(...(await w.flush()));
    if (packs.length) await writeIndexFile(repo, { createdAt, packs: packs.map((p) => ({ pack: p.pack, blobs: p.blobs })), archives: [] });
    const header = buildSnapshotHeader({ format_version: 3, kind: 'snapshot', name, created_at: createdAt, parent: null, root_hash: root, root_size: body.length, entries: sorted.length, bytes, generator: 'blockframe test' });
    const id = snapshotId(header);
    await writeSnapshotHeader(repo, id, header);
    await appendSnapshot(repo, name, { id, created_at: createdAt });
    return { id, packs };
  } finally {
    await w.close();
  }
}

/**
 * Read every snapshot on the stores whole (header, body, every file's blob through BlobReader, verified) and return
 * path → BLAKE3 of the bytes read, per snapshot id. Fails the test on any error.
 */
export async function readAllSnapshots(repo: Repository, pool: ComputePool): Promise<Map<string, Map<string, string>>> {
  const { index } = await loadBlobIndex(repo);
  const reader = new BlobReader(repo, index, { pool });
  const out = new Map<string, Map<string, string>>();
  try {
    for (const id of await listSnapshotIds(repo)) {
      const files: { path: string; blob: string }[] = [];
      await readSnapshotWhole(repo, reader, id, (e) => {
        if (e.type === 'file') files.push({ path: e.path.toString(), blob: e.blob });
      });
      const m = new Map<string, string>();
      for (const f of files) m.set(f.path, blake3Hex(await reader.read(f.blob)));
      out.set(id, m);
    }
  } finally {
    await reader.close();
  }
  return out;
}

/** path → BLAKE3 of the files given. */
export function expected(files: TreeFile[]): Map<string, string> {
  return new Map(files.map((f) => [f.path, blake3Hex(f.bytes)]));
}

/** Assert every snapshot in `want` reads back byte-exact (and no other snapshot exists). */
export async function assertSnapshots(repo: Repository, pool: ComputePool, want: Map<string, Map<string, string>>, what: string): Promise<void> {
  const got = await readAllSnapshots(repo, pool);
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), `${what}: the snapshots`);
  for (const [id, m] of want) assert.deepEqual(got.get(id), m, `${what}: snapshot ${id} reads back byte-exact`);
}

/** Bytes of every regular file below `dirs` (the staging directory and lock files aside): bytes on disk. */
export async function bytesOnDisk(dirs: string[]): Promise<number> {
  let n = 0;
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d).catch(() => [] as string[])) {
      if (e === '.staging' || e === 'locks') continue;
      const p = join(d, e);
      const st = await lstat(p);
      if (st.isDirectory()) await walk(p);
      else if (st.isFile()) n += st.size;
    }
  };
  for (const d of dirs) await walk(d);
  return n;
}

/** Every file below `dir`, relative, sorted (staging aside): to see that nothing changed. */
export async function fileList(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string): Promise<void> => {
    for (const e of await readdir(d).catch(() => [] as string[])) {
      if (e === '.staging') continue;
      const st = await lstat(join(d, e));
      if (st.isDirectory()) await walk(join(d, e), rel ? `${rel}/${e}` : e);
      else out.push(rel ? `${rel}/${e}` : e);
    }
  };
  await walk(dir, '');
  return out.sort();
}

/** `count` seeded files named `${prefix}NNN` of 3–20 KB. */
export function files(prefix: string, count: number, seed: number): TreeFile[] {
  return Array.from({ length: count }, (_, i) => ({ path: `${prefix}${String(i).padStart(3, '0')}`, bytes: randomBytesSeeded(3000 + ((i * 7919 + seed) % 17_000), seed * 1000 + i) }));
}

/** Shared files and files unique to snapshot one, interleaved by name so that packs mix them. */
export function twoSnapshots(): { shared: TreeFile[]; onlyOne: TreeFile[]; onlyTwo: TreeFile[] } {
  // Named so that path order alternates shared and unique files: every pack of snapshot one then holds both.
  const rename = (fs: TreeFile[], at: (i: number) => number): TreeFile[] => fs.map((f, i) => ({ ...f, path: `f${String(at(i)).padStart(4, '0')}` }));
  const shared = rename(files('m', 12, 1), (i) => i * 4);
  const onlyOne = rename(files('n', 30, 2), (i) => Math.floor(i / 3) * 4 + 1 + (i % 3));
  const onlyTwo = files('o', 6, 3);
  return { shared, onlyOne, onlyTwo };
}
