// Format v3 snapshots (FORMAT.md 13.3): path rules, path order, body lines and the streaming body reader, headers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isBlockFrameError, type ErrorCode } from '../../src/errors.js';
import { blake3Hex } from '../../src/integrity/blake3.js';
import {
  BodyReader,
  EMPTY_BLOB,
  MAX_LINE_BYTES,
  assertSafePath,
  comparePaths,
  encodeEntryLine,
  parseEntryLine,
  pathRuleBroken,
  readBody,
  type BodyTotals,
  type SnapshotEntry,
} from '../../src/layout/snapshot.js';
import {
  buildSnapshotHeader,
  checkBodyAgainstHeader,
  parseSnapshotHeader,
  snapshotId,
  type SnapshotHeader,
} from '../../src/layout/snapshot-header.js';

const B = (s: string | number[]): Buffer => (typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s));
const H = (c: string) => c.repeat(64);

function code(fn: () => unknown): ErrorCode | 'none' | 'other' {
  try {
    fn();
    return 'none';
  } catch (e) {
    return isBlockFrameError(e) ? e.code : 'other';
  }
}

async function readAll(body: Uint8Array, cut: number[] = []): Promise<{ entries: SnapshotEntry[]; totals: BodyTotals }> {
  const pieces: Uint8Array[] = [];
  let at = 0;
  for (const c of [...cut].sort((a, b) => a - b)) {
    pieces.push(body.subarray(at, Math.max(at, Math.min(c, body.length))));
    at = Math.max(at, Math.min(c, body.length));
  }
  pieces.push(body.subarray(at));
  async function* src() {
    for (const p of pieces) yield p;
  }
  const it = readBody(src());
  const entries: SnapshotEntry[] = [];
  for (;;) {
    const r = await it.next();
    if (r.done) return { entries, totals: r.value };
    entries.push(r.value);
  }
}

// --- paths -------------------------------------------------------------------------------------------------------

test('path rules: each broken rule is named, with BF_PATH_UNSAFE', () => {
  const cases: [Buffer, string][] = [
    [B(''), 'empty'],
    [B('/etc/passwd'), 'absolute'],
    [B('a//b'), 'empty-component'],
    [B('a/'), 'empty-component'],
    [B('./a'), 'dot-component'],
    [B('a/./b'), 'dot-component'],
    [B('..'), 'dotdot-component'],
    [B('a/../../b'), 'dotdot-component'],
    [B('a/..'), 'dotdot-component'],
    [B([0x61, 0, 0x62]), 'nul'],
    [B('x'.repeat(4097)), 'too-long'],
  ];
  for (const [p, rule] of cases) {
    assert.equal(pathRuleBroken(p), rule, p.toString('latin1'));
    try {
      assertSafePath(p);
      assert.fail('accepted');
    } catch (e) {
      assert.ok(isBlockFrameError(e, 'BF_PATH_UNSAFE'));
      assert.equal(e.context.rule, rule);
    }
  }
  for (const ok of ['a', '...', '.a', 'a..', 'a/.b/..c', 'x'.repeat(4096)]) assert.equal(pathRuleBroken(B(ok)), null, ok);
  assert.equal(pathRuleBroken(B([0xff, 0x2f, 0xc3])), null, 'non-UTF-8 bytes are allowed');
});

test('path order: "/" sorts below every byte, component by component, a prefix first', () => {
  const sorted = ['a', 'a/b', 'a/b/c', 'a/c', 'a.b', 'a0', 'b'].map((s) => B(s));
  const shuffled = [sorted[4]!, sorted[1]!, sorted[6]!, sorted[0]!, sorted[3]!, sorted[5]!, sorted[2]!];
  assert.deepEqual(shuffled.sort(comparePaths), sorted);
  assert.ok(comparePaths(B('a/\x01'), B('a\x01')) < 0);
  assert.ok(comparePaths(B([0x61, 0xff]), B([0x61, 0x2f, 0x00 + 1])) > 0);
});

// --- random trees ------------------------------------------------------------------------------------------------

type Tree = Map<string, Tree | 'file' | 'symlink'>; // keys are names in latin1 (one char per byte)
const NAME_BYTES = [0x01, 0x20, 0x2d, 0x2e, 0x30, 0x41, 0x61, 0x7e, 0x7f, 0x80, 0xa9, 0xc3, 0xe2, 0xff];
const nameArb = fc
  .array(fc.constantFrom(...NAME_BYTES), { minLength: 1, maxLength: 4 })
  .map((a) => Buffer.from(a).toString('latin1'))
  .filter((n) => n !== '.' && n !== '..');
const treeArb = fc.array(fc.tuple(fc.array(nameArb, { minLength: 1, maxLength: 4 }), fc.constantFrom<'file' | 'symlink'>('file', 'symlink')), { maxLength: 40 });

function buildTree(specs: [string[], 'file' | 'symlink'][]): Tree {
  const root: Tree = new Map();
  for (const [comps, leaf] of specs) {
    let node = root;
    comps.forEach((c, i) => {
      const last = i === comps.length - 1;
      const cur = node.get(c);
      if (last) {
        if (cur === undefined) node.set(c, leaf);
        return;
      }
      if (cur instanceof Map) node = cur;
      else {
        const sub: Tree = new Map();
        node.set(c, sub);
        node = sub;
      }
    });
  }
  return root;
}

/** A depth-first walk listing each directory's children in byte order: the order FORMAT.md 13.3 derives. */
function dfs(tree: Tree, prefix: string, out: SnapshotEntry[], seed: { n: number }): void {
  const names = [...tree.keys()].sort((a, b) => Buffer.compare(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1')));
  for (const name of names) {
    const node = tree.get(name)!;
    const path = Buffer.from(prefix + name, 'latin1');
    const n = seed.n++;
    const mtimeNs = BigInt(n) * 1_000_000_007n - 5_000_000_000n;
    if (node instanceof Map) {
      out.push({ type: 'dir', path, mode: 0o755 ^ (n & 0o7000), mtimeNs });
      dfs(node, `${prefix}${name}/`, out, seed);
    } else if (node === 'file') {
      const size = n % 3 === 0 ? 0 : n * 1000;
      out.push({ type: 'file', path, mode: n % 2 ? 0o644 : 0o600, mtimeNs: mtimeNs + 1_700_000_000_000_000_000n, size, blob: size === 0 ? EMPTY_BLOB : blake3Hex(path) });
    } else {
      out.push({ type: 'symlink', path, target: n % 2 ? B('../x/y') : Buffer.concat([B('t'), path]), mtimeNs });
    }
  }
}

test('property: path order equals a depth-first walk with children sorted bytewise', () => {
  fc.assert(
    fc.property(treeArb, fc.integer(), (specs, seed) => {
      const walk: SnapshotEntry[] = [];
      dfs(buildTree(specs), '', walk, { n: 0 });
      const paths = walk.map((e) => e.path);
      const shuffled = fc.sample(fc.shuffledSubarray(paths, { minLength: paths.length, maxLength: paths.length }), { seed, numRuns: 1 })[0]!;
      assert.deepEqual([...shuffled].sort(comparePaths), paths);
    }),
    { numRuns: 200 },
  );
});

test('property: random trees encode to body lines and read back identically, from any chunking', async () => {
  await fc.assert(
    fc.asyncProperty(treeArb, fc.array(fc.nat(4000), { maxLength: 6 }), async (specs, cut) => {
      const entries: SnapshotEntry[] = [];
      dfs(buildTree(specs), '', entries, { n: 0 });
      const body = Buffer.concat(entries.map(encodeEntryLine));
      const got = await readAll(body, cut);
      assert.deepEqual(got.entries, entries);
      const bytes = entries.reduce((s, e) => s + (e.type === 'file' ? e.size : 0), 0);
      assert.deepEqual(got.totals, { entries: entries.length, bytes, size: body.length });
    }),
    { numRuns: 150 },
  );
});

test('non-UTF-8 names and targets use path_b64 / target_b64 and round-trip byte for byte', () => {
  const path = B([0x61, 0x2f, 0xff, 0xfe]);
  const target = B([0x80, 0x2e]);
  const line = encodeEntryLine({ type: 'symlink', path, target, mtimeNs: 5n });
  assert.equal(line.toString(), `{"path_b64":"${path.toString('base64')}","type":"symlink","target_b64":"${target.toString('base64')}","mtime_ns":"5"}\n`);
  const e = parseEntryLine(line.subarray(0, -1));
  assert.deepEqual(e, { type: 'symlink', path, target, mtimeNs: 5n });
  const f = encodeEntryLine({ type: 'file', path: B('é'), mode: 420, mtimeNs: 1715531412123456789n, size: 3, blob: H('a') });
  assert.equal(f.toString(), `{"path":"é","type":"file","mode":420,"mtime_ns":"1715531412123456789","size":3,"blob":"${H('a')}"}\n`);
});

// --- malformed lines ---------------------------------------------------------------------------------------------

test('every malformed body line is refused with its code', () => {
  const file = (o: Record<string, unknown>) => JSON.stringify({ path: 'a', type: 'file', mode: 420, mtime_ns: '1', size: 1, blob: H('b'), ...o });
  const bad: [string, ErrorCode][] = [
    ['not json', 'BF_SNAPSHOT_INVALID'],
    ['[1]', 'BF_SNAPSHOT_INVALID'],
    ['"a"', 'BF_SNAPSHOT_INVALID'],
    [file({ type: 'fifo' }), 'BF_SNAPSHOT_INVALID'],
    [file({ extra: 1 }), 'BF_SNAPSHOT_INVALID'],
    [file({ target: 'x' }), 'BF_SNAPSHOT_INVALID'],
    [JSON.stringify({ path: 'a', type: 'file', mode: 420, mtime_ns: '1', size: 1 }), 'BF_SNAPSHOT_INVALID'],
    [file({ path_b64: B([0xff]).toString('base64') }), 'BF_SNAPSHOT_INVALID'], // both path and path_b64
    [JSON.stringify({ path_b64: B('ok').toString('base64'), type: 'dir', mode: 1, mtime_ns: '1' }), 'BF_SNAPSHOT_INVALID'], // b64 of UTF-8
    [JSON.stringify({ path_b64: '/w==x', type: 'dir', mode: 1, mtime_ns: '1' }), 'BF_SNAPSHOT_INVALID'], // not canonical
    [file({ path: '\ud800' }), 'BF_SNAPSHOT_INVALID'],
    [file({ mode: -1 }), 'BF_SNAPSHOT_INVALID'],
    [file({ mode: 0o10000 }), 'BF_SNAPSHOT_INVALID'],
    [file({ mode: 1.5 }), 'BF_SNAPSHOT_INVALID'],
    [file({ mode: '420' }), 'BF_SNAPSHOT_INVALID'],
    [file({ mtime_ns: 1 }), 'BF_SNAPSHOT_INVALID'],
    [file({ mtime_ns: '01' }), 'BF_SNAPSHOT_INVALID'],
    [file({ mtime_ns: '1.5' }), 'BF_SNAPSHOT_INVALID'],
    [file({ mtime_ns: '-0' }), 'BF_SNAPSHOT_INVALID'],
    [file({ mtime_ns: '9223372036854775808' }), 'BF_SNAPSHOT_INVALID'],
    [file({ size: -1 }), 'BF_SNAPSHOT_INVALID'],
    [file({ size: 2 ** 53 }), 'BF_SNAPSHOT_INVALID'],
    [file({ blob: H('B') }), 'BF_SNAPSHOT_INVALID'],
    [file({ blob: 'ab' }), 'BF_SNAPSHOT_INVALID'],
    [file({ size: 0 }), 'BF_SNAPSHOT_INVALID'], // size 0 needs the empty blob
    [file({ blob: EMPTY_BLOB }), 'BF_SNAPSHOT_INVALID'],
    [JSON.stringify({ path: 'l', type: 'symlink', target: '', mtime_ns: '1' }), 'BF_SNAPSHOT_INVALID'],
    [JSON.stringify({ path: 'l', type: 'symlink', target: 'a\u0000b', mtime_ns: '1' }), 'BF_SNAPSHOT_INVALID'],
    [JSON.stringify({ path: 'l', type: 'symlink', mode: 1, target: 'x', mtime_ns: '1' }), 'BF_SNAPSHOT_INVALID'],
    [JSON.stringify({ path: 'd', type: 'dir', mode: 1, mtime_ns: '1', size: 0 }), 'BF_SNAPSHOT_INVALID'],
    [file({ path: '../x' }), 'BF_PATH_UNSAFE'],
    [file({ path: '/abs' }), 'BF_PATH_UNSAFE'],
    [file({ path: 'a//b' }), 'BF_PATH_UNSAFE'],
    [file({ path: 'a\u0000b' }), 'BF_PATH_UNSAFE'],
    [file({ path: '' }), 'BF_PATH_UNSAFE'],
    [JSON.stringify({ path_b64: B([0x2e, 0x2e, 0x2f, 0xff]).toString('base64'), type: 'dir', mode: 1, mtime_ns: '1' }), 'BF_PATH_UNSAFE'],
    [file({ path: 'x'.repeat(MAX_LINE_BYTES) }), 'BF_SNAPSHOT_INVALID'],
  ];
  for (const [line, want] of bad) assert.equal(code(() => parseEntryLine(B(line), 1)), want, line.slice(0, 120));
  assert.equal(code(() => parseEntryLine(B(file({})), 1)), 'none');
});

test('property: a path breaking any rule is refused with BF_PATH_UNSAFE wherever it sits in a line', () => {
  const badComp = fc.constantFrom('', '.', '..');
  fc.assert(
    fc.property(fc.array(fc.constantFrom('a', 'b.', 'é'), { maxLength: 3 }), badComp, fc.array(fc.constantFrom('a', 'c'), { maxLength: 3 }), fc.boolean(), (pre, mid, post, abs) => {
      const path = (abs ? '/' : '') + [...pre, mid, ...post].join('/');
      const line = JSON.stringify({ path, type: 'dir', mode: 493, mtime_ns: '0' });
      assert.equal(code(() => parseEntryLine(B(line), 1)), 'BF_PATH_UNSAFE', path);
    }),
    { numRuns: 300 },
  );
});

test('the body reader refuses wrong order, duplicates, orphans, parents that are not dirs, long and unterminated lines', async () => {
  const d = (p: string) => encodeEntryLine({ type: 'dir', path: B(p), mode: 493, mtimeNs: 0n });
  const f = (p: string) => encodeEntryLine({ type: 'file', path: B(p), mode: 420, mtimeNs: 0n, size: 1, blob: H('c') });
  const cases: [Buffer, ErrorCode | 'none'][] = [
    [Buffer.concat([d('a'), f('a/x'), f('a.b')]), 'none'],
    [Buffer.concat([d('a'), f('a.b'), f('a/x')]), 'BF_SNAPSHOT_INVALID'], // plain byte order, not path order
    [Buffer.concat([f('a'), f('a')]), 'BF_SNAPSHOT_INVALID'],
    [Buffer.concat([f('b'), f('a')]), 'BF_SNAPSHOT_INVALID'],
    [f('a/x'), 'BF_SNAPSHOT_INVALID'], // no parent
    [Buffer.concat([f('a'), f('a/x')]), 'BF_SNAPSHOT_INVALID'], // parent is a file
    [Buffer.concat([d('a'), d('a/b'), f('a/c/x')]), 'BF_SNAPSHOT_INVALID'], // a/c missing
    [Buffer.concat([d('a'), d('a/b'), f('a/b/x'), f('a/y')]), 'none'],
    [f('a').subarray(0, -1), 'BF_SNAPSHOT_INVALID'], // no final newline
    [Buffer.concat([f('a'), B('\n')]), 'BF_SNAPSHOT_INVALID'], // empty line
    [Buffer.concat([B('x'.repeat(MAX_LINE_BYTES + 10)), B('\n')]), 'BF_SNAPSHOT_INVALID'],
  ];
  for (const [body, want] of cases) {
    let got: ErrorCode | 'none' | 'other' = 'none';
    try {
      await readAll(body, [3, 70000]);
    } catch (e) {
      got = isBlockFrameError(e) ? e.code : 'other';
    }
    assert.equal(got, want, body.toString().slice(0, 200));
  }
  const r = new BodyReader();
  r.line(d('a').subarray(0, -1));
  assert.throws(() => r.line(f('b/c').subarray(0, -1)), (e) => isBlockFrameError(e, 'BF_SNAPSHOT_INVALID') && e.context.line === 2);
});

// --- header ------------------------------------------------------------------------------------------------------

const header = (o: Partial<SnapshotHeader> = {}): SnapshotHeader => ({
  format_version: 3,
  kind: 'snapshot',
  name: 'photos',
  created_at: '2026-12-03T15:20:00.000Z',
  parent: null,
  root_hash: H('1'),
  root_size: 401286,
  entries: 2023,
  bytes: 540000000,
  generator: 'blockframe 0.3.0',
  ...o,
});

test('header: deterministic two-space JSON in the spec order; id = BLAKE3 of its bytes; parse round-trips', () => {
  const h = header({ parent: H('2') });
  const bytes = buildSnapshotHeader({ ...h, generator: h.generator, name: h.name } as SnapshotHeader);
  assert.equal(
    bytes.toString(),
    `{\n  "format_version": 3,\n  "kind": "snapshot",\n  "name": "photos",\n  "created_at": "2026-12-03T15:20:00.000Z",\n  "parent": "${H('2')}",\n  "root_hash": "${H('1')}",\n  "root_size": 401286,\n  "entries": 2023,\n  "bytes": 540000000,\n  "generator": "blockframe 0.3.0"\n}\n`,
  );
  const reordered = JSON.parse(bytes.toString()) as SnapshotHeader;
  const shuffled = Object.fromEntries(Object.entries(reordered).reverse()) as unknown as SnapshotHeader;
  assert.ok(buildSnapshotHeader(shuffled).equals(bytes), 'field order of the input does not matter');
  const id = snapshotId(bytes);
  assert.equal(id, blake3Hex(bytes));
  assert.deepEqual(parseSnapshotHeader(bytes, id), h);
});

test('header: every broken field is refused with BF_SNAPSHOT_INVALID naming it', () => {
  const good = buildSnapshotHeader(header());
  const cases: [Buffer, string][] = [
    [Buffer.from(good.toString().replace('  "kind"', ' "kind"')), '(all)'], // not canonical
    [Buffer.from(good.toString().trimEnd()), '(all)'],
    [Buffer.from(good.toString().replace('"generator"', '"extra": 1,\n  "generator"')), 'extra'],
    [Buffer.from(good.toString().replace(/,\n {2}"generator": "[^"]*"/, '')), 'generator'],
    [B('nope'), '(all)'],
  ];
  for (const [bytes, field] of cases) {
    assert.throws(() => parseSnapshotHeader(bytes), (e) => isBlockFrameError(e, 'BF_SNAPSHOT_INVALID') && e.context.field === field, field);
  }
  assert.throws(() => parseSnapshotHeader(good, H('0')), (e) => isBlockFrameError(e, 'BF_SNAPSHOT_INVALID') && e.context.field === 'id');
  const fields: [Partial<SnapshotHeader>, string][] = [
    [{ format_version: 2 as 3 }, 'format_version'],
    [{ kind: 'name' as 'snapshot' }, 'kind'],
    [{ name: '' }, 'name'],
    [{ name: 'x'.repeat(4097) }, 'name'],
    [{ created_at: '2026-12-03 15:20:00' }, 'created_at'],
    [{ created_at: '2026-13-03T15:20:00.000Z' }, 'created_at'],
    [{ parent: 'abc' }, 'parent'],
    [{ root_hash: H('G') }, 'root_hash'],
    [{ root_size: -1 }, 'root_size'],
    [{ entries: 1.5 }, 'entries'],
    [{ bytes: 2 ** 53 }, 'bytes'],
    [{ root_size: 0 }, 'root_hash'],
    [{ root_size: 0, root_hash: EMPTY_BLOB }, 'entries'],
    [{ generator: '' }, 'generator'],
  ];
  for (const [o, field] of fields) {
    assert.throws(() => buildSnapshotHeader(header(o)), (e) => isBlockFrameError(e, 'BF_SNAPSHOT_INVALID') && e.context.field === field, field);
  }
  assert.doesNotThrow(() => buildSnapshotHeader(header({ name: 'é'.repeat(4096), root_size: 0, root_hash: EMPTY_BLOB, entries: 0, bytes: 0 })));
});

test('header: a body that disagrees with root_size, entries, bytes or root_hash is refused', async () => {
  const entries: SnapshotEntry[] = [
    { type: 'dir', path: B('d'), mode: 493, mtimeNs: 1n },
    { type: 'file', path: B('d/f'), mode: 420, mtimeNs: 2n, size: 10, blob: H('e') },
  ];
  const body = Buffer.concat(entries.map(encodeEntryLine));
  const { totals } = await readAll(body);
  const h = header({ root_hash: blake3Hex(body), root_size: body.length, entries: 2, bytes: 10 });
  checkBodyAgainstHeader(h, totals, blake3Hex(body));
  for (const [o, field] of [[{ root_size: body.length + 1 }, 'root_size'], [{ entries: 3 }, 'entries'], [{ bytes: 11 }, 'bytes'], [{ root_hash: H('0') }, 'root_hash']] as const) {
    assert.throws(() => checkBodyAgainstHeader({ ...h, ...o }, totals, blake3Hex(body)), (e) => isBlockFrameError(e, 'BF_SNAPSHOT_INVALID') && e.context.field === field);
  }
});
