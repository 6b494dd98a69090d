// Test helper: an attacker who can rewrite every public hash. Recompute a single-store archive's shard hashes, chunk
// index, Merkle root and manifest set from its shard files as they are now (format v2 rules), so tampering with shard
// bytes passes every unkeyed check and only the keyed layer (the GCM tag, original_hash) is left to catch it.
import { chmod, readFile, writeFile as write } from 'node:fs/promises';
import { join } from 'node:path';
import { blake3Hex } from '../../src/integrity/blake3.js';
import { unitCVs } from '../../src/integrity/blake3-cv.js';
import { merkleRootHex } from '../../src/integrity/merkle.js';
import { chunkIndexLayout } from '../../src/layout/chunks.js';
import { manifestGeometry, manifestSumText, merkleLeaves, parseManifest, serializeManifest, type Manifest } from '../../src/layout/manifest.js';

/** Overwrite a file that BlockFrame published read-only. */
export async function writeFile(path: string, data: Uint8Array | string): Promise<void> {
  await chmod(path, 0o644).catch(() => undefined);
  await write(path, data);
}

export async function reseal(archiveDir: string, edit?: (m: Manifest) => void): Promise<Manifest> {
  const m = JSON.parse(await readFile(join(archiveDir, 'manifest.json'), 'utf8')) as Manifest;
  edit?.(m);
  const C = m.chunk_index.chunk_size;
  const layout = chunkIndexLayout(manifestGeometry(m), C);
  const index = new Uint8Array(layout.reduce((n, s) => n + s.length, 0));
  const hashOf = new Map<string, string>();
  for (const st of layout) {
    for (const sh of st.shards) {
      const bytes = new Uint8Array(await readFile(join(archiveDir, sh.path)));
      hashOf.set(sh.path, blake3Hex(bytes));
      if (sh.count > 0) unitCVs(bytes, 0, C, bytes.length, index, sh.offset);
    }
  }
  const all = [...m.stripes, ...(m.level2?.stripes ?? [])];
  all.forEach((s, i) => {
    for (const d of 'data' in s ? s.data : []) d.hash = hashOf.get(d.path)!;
    for (const p of s.parity) p.hash = hashOf.get(p.path)!;
    const sec = layout[i]!;
    s.chunks_hash = blake3Hex(index.subarray(sec.offset, sec.offset + sec.length));
  });
  m.merkle.root = merkleRootHex(merkleLeaves(m));
  const text = serializeManifest(parseManifest(serializeManifest(m)));
  await writeFile(join(archiveDir, 'chunks.idx'), index);
  await writeFile(join(archiveDir, 'manifest.json'), text);
  await writeFile(join(archiveDir, 'manifest.copy.json'), text);
  await writeFile(join(archiveDir, 'manifest.b3'), manifestSumText(blake3Hex(new TextEncoder().encode(text))));
  return m;
}
