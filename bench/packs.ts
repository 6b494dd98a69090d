// Pack write rows (format v3, docs/FORMAT.md §13.2): seeded blobs of 20–500 KB packed by PackWriter into one store; throughput and bytes on disk against the blob bytes.
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ComputePool } from '../src/index.js';
import { Repository } from '../src/archive/repo.js';
import { PackWriter, type SealedPack } from '../src/archive/pack-writer.js';
import { writeIndexFile } from '../src/archive/blob-index.js';
import { blake3Hex } from '../src/integrity/blake3.js';
import { prng, randomBytesSeeded } from '../test/helpers/fixtures.js';

type Row = { measure: string; value: string; target: string; met: boolean | null };

async function bytesUnder(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n += await bytesUnder(p);
    else if (e.isFile()) n += (await stat(p)).size;
  }
  return n;
}

/**
 * `files` seeded blobs of 20–500 KB (about 260 KB each) through one PackWriter into a fresh one-store root, then one
 * index file: MB/s of blob bytes (hashing included, as a commit hashes while it appends) and the bytes on disk ÷ the
 * blob bytes (FORMAT.md §13.12 puts a tree at about 1.10 on one store; the hidden staging directory is not counted).
 */
export async function benchPackWrite(work: string, files: number, log: (m: string) => void): Promise<{ rows: Row[]; raw: unknown }> {
  const root = join(work, 'packs-archive');
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  const pool = ComputePool.start();
  const repo = await Repository.open({ archive: root });
  const next = prng(2024);
  let bytes = 0;
  let packs = 0;
  // Only the writer's work is timed (hashing, spooling, coding, publishing), not making the seeded bytes.
  let ns = 0n;
  const time = async <T>(fn: () => Promise<T>): Promise<T> => {
    const t = process.hrtime.bigint();
    try {
      return await fn();
    } finally {
      ns += process.hrtime.bigint() - t;
    }
  };
  try {
    const w = await PackWriter.open(repo, { pool, generator: 'bench' });
    const sealed: SealedPack[] = [];
    try {
      for (let i = 0; i < files; i++) {
        const b = randomBytesSeeded(20_000 + (next() % 480_000), i + 1);
        bytes += b.length;
        await time(async () => {
          sealed.push(...(await w.beginBlob(b.length)));
          await w.append(b);
          sealed.push(...(await w.commitBlob(blake3Hex(b))).sealed);
        });
      }
      sealed.push(...(await time(() => w.flush())));
    } finally {
      await w.close();
    }
    packs = sealed.length;
    await time(() => writeIndexFile(repo, { createdAt: new Date().toISOString(), packs: sealed.map((s) => ({ pack: s.pack, blobs: s.blobs })), archives: [] }));
  } finally {
    await repo.close();
    await pool.close();
  }
  const seconds = Number(ns) / 1e9;
  let onDisk = 0;
  for (const e of await readdir(root, { withFileTypes: true })) if (!e.name.startsWith('.') && e.isDirectory()) onDisk += await bytesUnder(join(root, e.name));
  const ratio = onDisk / bytes;
  const mbs = bytes / 1e6 / seconds;
  log(`  packs: ${files} blobs, ${(bytes / 1e6).toFixed(0)} MB in ${packs} packs, ${seconds.toFixed(2)} s (${mbs.toFixed(0)} MB/s), on disk ${ratio.toFixed(3)}×`);
  await rm(root, { recursive: true, force: true });
  return {
    rows: [
      { measure: `pack write, ${files} blobs of 20–500 KB, 1 store (format v3)`, value: `${mbs.toFixed(0)} MB/s`, target: '', met: null },
      { measure: `pack bytes on disk ÷ blob bytes, ${files} blobs, 1 store`, value: ratio.toFixed(3), target: '≤ 1.15 (FORMAT.md §13.12)', met: ratio <= 1.15 },
    ],
    raw: { files, bytes, packs, seconds, onDisk, ratio },
  };
}
