// A test-only stand-in for commitTree (s2-commit): packs a tree's files and body with the real PackWriter, writes an index file, the header set and the name record.
import { readFile } from 'node:fs/promises';
import type { ComputePool } from '../../src/compute/pool.js';
import { Repository } from '../../src/archive/repo.js';
import { PackWriter, type SealedPack } from '../../src/archive/pack-writer.js';
import { writeIndexFile } from '../../src/archive/blob-index.js';
import { writeSnapshotHeader } from '../../src/archive/snapshots.js';
import { appendSnapshot } from '../../src/archive/names.js';
import { blake3Hex, initBlake3 } from '../../src/integrity/blake3.js';
import { walkTree } from '../../src/io/tree-walk.js';
import { EMPTY_BLOB, encodeEntryLine, type SnapshotEntry } from '../../src/layout/snapshot.js';
import { buildSnapshotHeader, snapshotId } from '../../src/layout/snapshot-header.js';
import type { StoreOptions } from '../../src/store/config.js';

export interface TestSnapshot {
  id: string;
  /** The snapshot's packs (to damage them). */
  packs: SealedPack[];
  /** BLAKE3 of the body blob. */
  root: string;
}

/**
 * Store `lines` (body lines as given, not checked: a test may hand-craft a malicious body) and `blobs` as snapshot
 * `name`. Blobs go into packs of at most `target` bytes (small, so a test tree spans several packs).
 */
export async function writeTestSnapshot(opts: StoreOptions, pool: ComputePool, name: string, lines: Buffer[], blobs: Iterable<Buffer>, target = 256 * 1024): Promise<TestSnapshot> {
  await initBlake3();
  const repo = await Repository.open(opts);
  try {
    const w = await PackWriter.open(repo, { pool, target, generator: 'blockframe test' });
    const packs: SealedPack[] = [];
    const add = async (b: Buffer): Promise<void> => {
      if (b.length === 0) return;
      const h = blake3Hex(b);
      if (w.has(h)) return;
      packs.push(...(await w.beginBlob(b.length)));
      await w.append(b);
      packs.push(...(await w.commitBlob(h)).sealed);
    };
    try {
      for (const b of blobs) await add(b);
      const body = Buffer.concat(lines);
      await add(body);
      packs.push(...(await w.flush()));
    } finally {
      await w.close();
    }
    const published = packs.filter((p) => p.status === 'published' || p.status === 'exists');
    const createdAt = new Date().toISOString();
    await writeIndexFile(repo, { createdAt, packs: published.map((p) => ({ pack: p.pack, blobs: p.blobs })), archives: [] });
    const body = Buffer.concat(lines);
    let entries = 0;
    let bytes = 0;
    for (const l of lines) {
      entries++;
      const o = JSON.parse(l.toString('utf8')) as { size?: number };
      bytes += o.size ?? 0;
    }
    const header = buildSnapshotHeader({
      format_version: 3,
      kind: 'snapshot',
      name,
      created_at: createdAt,
      parent: null,
      root_hash: body.length ? blake3Hex(body) : EMPTY_BLOB,
      root_size: body.length,
      entries,
      bytes,
      generator: 'blockframe test',
    });
    const id = snapshotId(header);
    await writeSnapshotHeader(repo, id, header);
    await appendSnapshot(repo, name, { id, created_at: createdAt });
    return { id, packs, root: body.length ? blake3Hex(body) : EMPTY_BLOB };
  } finally {
    await repo.close();
  }
}

/** Walk `dir` (files read whole: test trees are small) and store it as snapshot `name`. */
export async function commitTestTree(opts: StoreOptions, pool: ComputePool, dir: string, name: string, target?: number): Promise<TestSnapshot> {
  await initBlake3();
  const lines: Buffer[] = [];
  const blobs: Buffer[] = [];
  for await (const w of walkTree(dir)) {
    let e: SnapshotEntry;
    if (w.type === 'file') {
      const data = await readFile(Buffer.concat([Buffer.from(`${dir}/`), w.path]));
      blobs.push(data);
      e = { type: 'file', path: w.path, mode: w.mode, mtimeNs: w.mtimeNs, size: data.length, blob: blake3Hex(data) };
    } else if (w.type === 'dir') e = { type: 'dir', path: w.path, mode: w.mode, mtimeNs: w.mtimeNs };
    else e = { type: 'symlink', path: w.path, target: w.target!, mtimeNs: w.mtimeNs };
    lines.push(encodeEntryLine(e));
  }
  return writeTestSnapshot(opts, pool, name, lines, blobs, target);
}
