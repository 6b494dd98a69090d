// `verify NAME[@ID]:PATH --proof` (docs/FORMAT.md §13.8): the proof checked by a stranger's means (b3sum, the Merkle rules of docs/merkle.md, dd-style cuts of the shard files), and tampered proofs refused.
import assert from 'node:assert/strict';
import { cp, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ComputePool } from '../../src/compute/pool.js';
import { isBlockFrameError } from '../../src/errors.js';
import { checkFileProof, proveFile, type FileProof } from '../../src/engine/file-proof.js';
import { blake3Hex, initBlake3 } from '../../src/integrity/blake3.js';
import { b3sum, haveCommand, REPO_ROOT, runCli, tempDir } from '../helpers/fixtures.js';

const FIXTURE = join(REPO_ROOT, 'test', 'fixtures', 'v3', 'one');
const env = { BLOCKFRAME_ARCHIVE: '', BLOCKFRAME_CONFIG: '' };
await initBlake3();
const pool = ComputePool.start();
after(() => pool.close());

/** docs/merkle.md, written out again here: leaf H(0x00 || v), inner H(0x01 || L || R), root H(0x03 || LE64(n) || top). */
function merkleCheck(leafHex: string, index: number, leafCount: number, steps: { side: string; hash: string }[], root: string): boolean {
  const H = (...parts: Uint8Array[]): Buffer => Buffer.from(blake3Hex(Buffer.concat(parts)), 'hex');
  let node = H(Buffer.of(0), Buffer.from(leafHex, 'hex'));
  let pos = index;
  let len = leafCount;
  let i = 0;
  while (len > 1) {
    const hasSibling = pos % 2 === 1 || pos + 1 < len;
    if (hasSibling) {
      const s = steps[i++];
      if (!s) return false;
      const sib = Buffer.from(s.hash, 'hex');
      if (pos % 2 === 1 ? s.side !== 'left' : s.side !== 'right') return false;
      node = pos % 2 === 1 ? H(Buffer.of(1), sib, node) : H(Buffer.of(1), node, sib);
    }
    pos = Math.floor(pos / 2);
    len = Math.ceil(len / 2);
  }
  if (i !== steps.length) return false;
  const n = Buffer.alloc(8);
  n.writeBigUInt64LE(BigInt(leafCount));
  return H(Buffer.of(3), n, node).toString('hex') === root;
}

/**
 * Check a proof the way someone without BlockFrame's proof code would: b3sum of the header is the id; the header's
 * root_hash is the body's, and the body (cut out of its pack with the index file and the shard files, b3sum'd) has
 * the line at its number; every segment file on disk b3sums to its leaf and its Merkle path reaches the root; the
 * bytes cut from the concatenated segment files b3sum to the blob named by the line. Returns what failed.
 */
async function strangerCheck(p: FileProof, repo: string, work: string): Promise<string[]> {
  const bad: string[] = [];
  await writeFile(join(work, 'header.json'), p.snapshot.header);
  if (b3sum(join(work, 'header.json')) !== p.snapshot.id) bad.push('header');
  const h = JSON.parse(p.snapshot.header) as { root_hash: string };
  // The body, cut from its pack as FORMAT.md §13.13 does (index line → pack → data shards in order → cut → b3sum).
  let bodyLoc: { pack: string; offset: number; size: number } | undefined;
  for (const f of await readdir(join(repo, 'index'))) {
    for (const line of (await readFile(join(repo, 'index', f), 'utf8')).trim().split('\n').slice(1)) {
      const x = JSON.parse(line) as { pack?: string; blobs?: [string, number, number][] };
      const b = x.blobs?.find((e) => e[0] === h.root_hash);
      if (b) bodyLoc = { pack: x.pack!, offset: b[1], size: b[2] };
    }
  }
  assert.ok(bodyLoc, 'the body is in some index file');
  const packDir = join(repo, 'packs', bodyLoc.pack.slice(0, 2), `pack_${bodyLoc.pack}`);
  const m = JSON.parse(await readFile(join(packDir, 'manifest.json'), 'utf8')) as { stripes: { data: { path: string }[] }[] };
  const stream = Buffer.concat(await Promise.all(m.stripes.flatMap((s) => s.data.map((d) => readFile(join(packDir, d.path))))));
  await writeFile(join(work, 'body.jsonl'), stream.subarray(bodyLoc.offset, bodyLoc.offset + bodyLoc.size));
  if (b3sum(join(work, 'body.jsonl')) !== h.root_hash) bad.push('body hash');
  const lines = (await readFile(join(work, 'body.jsonl'), 'utf8')).split('\n');
  if (lines[p.body.line - 1] !== p.body.text) bad.push('body line');
  const entry = JSON.parse(p.body.text) as { path?: string; blob: string; size: number };
  if (entry.path !== p.path || entry.blob !== p.blob || entry.size !== p.size) bad.push('line fields');
  if (p.size === 0) return bad;
  const dir = join(repo, p.location!.dir);
  const parts: Buffer[] = [];
  for (const s of p.segments) {
    if (b3sum(join(dir, s.path)) !== s.hash) bad.push(`leaf ${s.path}`);
    if (!merkleCheck(s.hash, s.leaf, p.merkle!.leafCount, s.steps, p.merkle!.root)) bad.push(`merkle ${s.path}`);
    parts.push(await readFile(join(dir, s.path)));
  }
  const from = p.location!.offset - p.segments[0]!.offset;
  await writeFile(join(work, 'cut.bin'), Buffer.concat(parts).subarray(from, from + p.size));
  if (b3sum(join(work, 'cut.bin')) !== entry.blob) bad.push('cut bytes');
  // And the pack's manifest carries that root.
  const pm = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { merkle: { root: string } };
  if (pm.merkle.root !== p.merkle!.root) bad.push('manifest root');
  return bad;
}

test('verify NAME@ID:PATH --proof --json: a proof b3sum and the Merkle rules check without BlockFrame, and a tampered proof fails', { skip: !haveCommand('b3sum') && 'b3sum not installed' }, async () => {
  const { dir: root, cleanup } = await tempDir('bf-proof-');
  try {
    const repo = join(root, 'repo');
    await cp(FIXTURE, repo, { recursive: true });
    const index = JSON.parse(await readFile(join(REPO_ROOT, 'test', 'fixtures', 'v3', 'index.json'), 'utf8')) as { cases: { id: string; snapshots: { id: string }[] }[] };
    const first = index.cases[0]!.snapshots[0]!.id;
    // A file spanning several segments of a pack, one in the latest snapshot, and an empty one.
    for (const spec of [`tree@${first.slice(0, 10)}:dir/b.bin`, 'tree:dir/shared.bin', 'tree:empty']) {
      // The CLI's JSON once (the same object the library returns), the library for the rest (cheap: no process each).
      const r = spec.endsWith('b.bin') ? runCli(['verify', '--archive', repo, spec, '--proof', '--json'], { env }) : { status: 0, stdout: JSON.stringify(await proveFile(spec, { archive: repo, pool })), stderr: '' };
      assert.equal(r.status, 0, `${spec}: ${r.stderr}`);
      const p = JSON.parse(r.stdout) as FileProof;
      assert.equal(p.ok, true, spec);
      assert.deepEqual(p.problems, []);
      assert.deepEqual(checkFileProof(p), [], spec);
      assert.deepEqual(await strangerCheck(p, repo, root), [], `${spec}: a stranger checks the proof`);
      if (p.size === 0) continue;
      assert.equal(p.location!.kind, 'pack');
      if (!spec.endsWith('b.bin')) continue;
      assert.ok(p.segments.length >= 5, 'b.bin (20,000 bytes) spans several 4 KiB segments');

      // Tampering: each change is caught by checkFileProof and by the stranger's check.
      const tampered: [string, (q: FileProof) => void][] = [
        ['a Merkle step', (q) => (q.segments[0]!.steps[0]!.hash = q.segments[0]!.steps[0]!.hash.replace(/^./, (c) => (c === '0' ? '1' : '0')))],
        ['a leaf', (q) => (q.segments[1]!.hash = q.segments[0]!.hash)],
        ['the header', (q) => (q.snapshot.header = q.snapshot.header.replace('"entries": ', '"entries":  '))],
        ['the body line', (q) => (q.body.text = q.body.text.replace(/"size":\d+/, `"size":${q.size + 1}`))],
        ['the offset', (q) => (q.location!.offset += 1)],
      ];
      for (const [what, change] of tampered) {
        const q = JSON.parse(r.stdout) as FileProof;
        change(q);
        const mine = checkFileProof(q);
        const theirs = await strangerCheck(q, repo, root);
        // A moved offset is caught only by cutting the bytes again (the stored cutHash no longer describes the cut).
        if (what !== 'the offset') assert.notDeepEqual(mine, [], `${spec}: checkFileProof refuses a tampered ${what}`);
        assert.notDeepEqual(theirs, [], `${spec}: the stranger refuses a tampered ${what}`);
      }
    }
    // Text form, and usage errors.
    const t = runCli(['verify', '--archive', repo, 'tree:dir/shared.bin', '--proof'], { env });
    assert.equal(t.status, 0, t.stderr);
    assert.match(t.stdout, /^ok: dir\/shared\.bin of snapshot tree@[0-9a-f]{64}\n/);
    for (const [spec, code] of [['tree:dir', 'BF_OUTPUT_INVALID'], ['tree:nope', 'BF_FILE_NOT_FOUND'], ['tree', 'BF_USAGE']] as const) {
      await assert.rejects(proveFile(spec, { archive: repo, pool }), (e: unknown) => isBlockFrameError(e, code), spec);
    }
    const two = runCli(['verify', '--archive', repo, 'tree:a.txt', 'tree:empty', '--proof'], { env });
    assert.equal(two.status, 2);
  } finally {
    await cleanup();
  }
});

test('proveFile of a file whose segment is damaged: the proof is still made from the verified (rebuilt) bytes', async () => {
  const { dir: root, cleanup } = await tempDir('bf-proof-dmg-');
  try {
    const repo = join(root, 'repo');
    await cp(FIXTURE, repo, { recursive: true });
    const good = await proveFile('tree:dir/shared.bin', { archive: repo, pool });
    const seg = join(repo, good.location!.dir, good.segments[0]!.path);
    const b = await readFile(seg);
    b[10]! ^= 0xff;
    await writeFile(seg, b);
    const p = await proveFile('tree:dir/shared.bin', { archive: repo, pool });
    assert.ok(p.ok);
    assert.deepEqual({ ...p }, { ...good }, 'the same proof: it is of the content, which the parity restores');
  } finally {
    await cleanup();
  }
});
