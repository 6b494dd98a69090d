// Tests for src/integrity/merkle.ts: roots vs an independent reference, proofs, and tamper rejection.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { blake3, initBlake3 } from '../../src/integrity/blake3.js';
import { toHex } from '../../src/integrity/hex.js';
import { merkleProof, merkleRoot, merkleRootHex, verifyMerkleProof, type MerkleProof } from '../../src/integrity/merkle.js';

before(async () => {
  await initBlake3();
});

// ---- Independent reference: recursive split at the largest power of two below n (same shape as
// level-by-level pairing with odd-node promotion), built on Buffers and hex strings.
const H = (...parts: Buffer[]): Buffer => Buffer.from(blake3(Buffer.concat(parts)));
const refLeaf = (v: Buffer): Buffer => H(Buffer.from([0]), v);
const refInner = (l: Buffer, r: Buffer): Buffer => H(Buffer.from([1]), l, r);
const split = (n: number): number => {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
};
function refTop(v: Buffer[]): Buffer {
  if (v.length === 1) return refLeaf(v[0]!);
  const k = split(v.length);
  return refInner(refTop(v.slice(0, k)), refTop(v.slice(k)));
}
function refRoot(hexLeaves: string[]): string {
  if (hexLeaves.length === 0) return H(Buffer.from([2])).toString('hex');
  const n = Buffer.alloc(8);
  n.writeBigUInt64LE(BigInt(hexLeaves.length));
  return H(Buffer.from([3]), n, refTop(hexLeaves.map((h) => Buffer.from(h, 'hex')))).toString('hex');
}
function refPath(v: Buffer[], m: number): Array<{ side: 'left' | 'right'; hash: string }> {
  if (v.length === 1) return [];
  const k = split(v.length);
  return m < k
    ? [...refPath(v.slice(0, k), m), { side: 'right', hash: refTop(v.slice(k)).toString('hex') }]
    : [...refPath(v.slice(k), m - k), { side: 'left', hash: refTop(v.slice(0, k)).toString('hex') }];
}

const leavesOf = (n: number, salt = ''): string[] =>
  Array.from({ length: n }, (_, i) => toHex(blake3(new TextEncoder().encode(`${salt}shard-${i}`))));
const flipHex = (h: string, bit: number): string => {
  const b = Buffer.from(h, 'hex');
  b[(bit >> 3) % b.length]! ^= 1 << (bit & 7);
  return b.toString('hex');
};
const clone = (p: MerkleProof): MerkleProof => ({ ...p, steps: p.steps.map((s) => ({ ...s })) });
const treeArb = fc.integer({ min: 1, max: 70 }).chain((n) =>
  fc.record({ n: fc.constant(n), i: fc.nat({ max: n - 1 }), salt: fc.string({ maxLength: 4 }) }),
);

test('roots match the reference for 0,1,2,3,5,8,33 leaves', () => {
  for (const n of [0, 1, 2, 3, 5, 8, 33]) {
    const leaves = leavesOf(n);
    const want = refRoot(leaves);
    assert.equal(merkleRootHex(leaves), want, `n=${n}`);
    assert.equal(toHex(merkleRoot(leaves.map((h) => Buffer.from(h, 'hex')))), want, `n=${n} (bytes)`);
  }
});

test('roots match the reference for random trees (property)', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 80 }), (vs) => {
      const hex = vs.map(toHex);
      assert.equal(merkleRootHex(hex), refRoot(hex));
    }),
    { numRuns: 200 },
  );
});

test('empty tree: root is BLAKE3(0x02), nothing to prove', () => {
  assert.equal(merkleRootHex([]), toHex(blake3(Uint8Array.of(2))));
  assert.throws(() => merkleProof([], 0), { code: 'BF_MERKLE_INDEX' });
});

test('distinct leaf counts and orders give distinct roots', () => {
  const seen = new Set<string>();
  for (let n = 0; n <= 40; n++) seen.add(merkleRootHex(leavesOf(n)));
  assert.equal(seen.size, 41);
  const l = leavesOf(4);
  assert.notEqual(merkleRootHex(l), merkleRootHex([l[1]!, l[0]!, l[2]!, l[3]!]));
  // Promotion is not duplication: [a,b,c] differs from [a,b,c,c].
  assert.notEqual(merkleRootHex(l.slice(0, 3)), merkleRootHex([...l.slice(0, 3), l[2]!]));
});

test('invalid leaves and indexes throw coded errors', () => {
  assert.throws(() => merkleRoot([new Uint8Array(31)]), { code: 'BF_MERKLE_LEAF_INVALID' });
  assert.throws(() => merkleRoot([new Uint8Array(33)]), { code: 'BF_MERKLE_LEAF_INVALID' });
  assert.throws(() => merkleRootHex(['00']), { code: 'BF_HEX_INVALID' });
  assert.throws(() => merkleRootHex([leavesOf(1)[0]!.toUpperCase()]), { code: 'BF_HEX_INVALID' });
  const l = leavesOf(5);
  for (const i of [-1, 5, 6, 1.5, Number.NaN, Infinity]) assert.throws(() => merkleProof(l, i), { code: 'BF_MERKLE_INDEX' }, String(i));
});

test('every index of trees with 1..40 and 33 leaves: proof equals the reference path and verifies', () => {
  for (let n = 1; n <= 40; n++) {
    const leaves = leavesOf(n);
    const root = merkleRootHex(leaves);
    const bufs = leaves.map((h) => Buffer.from(h, 'hex'));
    for (let i = 0; i < n; i++) {
      const p = merkleProof(leaves, i);
      assert.deepEqual(p, { index: i, leafCount: n, leaf: leaves[i], steps: refPath(bufs, i) }, `n=${n} i=${i}`);
      assert.ok(p.steps.length <= Math.ceil(Math.log2(n)));
      assert.equal(verifyMerkleProof(p, root), true, `n=${n} i=${i}`);
      assert.equal(verifyMerkleProof(JSON.parse(JSON.stringify(p)) as MerkleProof, root), true, 'survives JSON');
    }
  }
});

test('exhaustive (n<=40): a proof for index i never verifies as index j, nor with another leafCount', () => {
  for (let n = 1; n <= 40; n++) {
    const leaves = leavesOf(n);
    const root = merkleRootHex(leaves);
    for (let i = 0; i < n; i++) {
      const p = merkleProof(leaves, i);
      for (let j = 0; j < n; j++) {
        if (j === i) continue;
        assert.equal(verifyMerkleProof({ ...p, index: j }, root), false, `n=${n} ${i} as ${j}`);
        assert.equal(verifyMerkleProof({ ...p, index: j, leaf: leaves[j]! }, root), false, `n=${n} ${i} as ${j} w/ leaf`);
      }
      for (let c = 0; c <= 2 * n + 2; c++) {
        if (c !== n) assert.equal(verifyMerkleProof({ ...p, leafCount: c }, root), false, `n=${n} i=${i} count ${c}`);
      }
    }
  }
});

test('tampered proofs are rejected (property)', () => {
  type Tamper = (p: MerkleProof, leaves: string[], bit: number, pick: number) => MerkleProof | null;
  const tampers: Record<string, Tamper> = {
    'wrong index': (p, _l, _b, k) => {
      const j = (p.index + 1 + (k % (p.leafCount + 3))) % (p.leafCount + 4); // any index but p.index, some out of range
      return j === p.index ? null : { ...p, index: j };
    },
    'weird index': (p, _l, _b, k) => ({ ...p, index: [-1, p.leafCount, p.index + 0.5, Number.NaN, Infinity][k % 5]! }),
    'wrong leafCount': (p, _l, _b, k) => ({ ...p, leafCount: [0, -1, p.leafCount + 1 + (k % 50), p.index + 1 === p.leafCount ? 0 : p.index + 1, p.leafCount * 2, p.leafCount + 0.5][k % 6]! }),
    'flipped bit in a step hash': (p, _l, b, k) => {
      if (p.steps.length === 0) return null;
      const q = clone(p);
      const s = q.steps[k % q.steps.length]!;
      s.hash = flipHex(s.hash, b);
      return q;
    },
    'flipped leaf bit': (p, _l, b) => ({ ...p, leaf: flipHex(p.leaf, b) }),
    'other leaf': (p, l, _b, k) => (l.length < 2 ? null : { ...p, leaf: l[(p.index + 1 + (k % (l.length - 1))) % l.length]! }),
    'swapped side': (p, _l, _b, k) => {
      if (p.steps.length === 0) return null;
      const q = clone(p);
      const s = q.steps[k % q.steps.length]!;
      s.side = s.side === 'left' ? 'right' : 'left';
      return q;
    },
    'truncated steps': (p, _l, _b, k) => {
      if (p.steps.length === 0) return null;
      const q = clone(p);
      q.steps.splice(k % q.steps.length, 1);
      return q;
    },
    'extended steps': (p, l, _b, k) => {
      const q = clone(p);
      const extra = { side: k % 2 ? ('left' as const) : ('right' as const), hash: l[k % l.length]! };
      q.steps.splice(k % (q.steps.length + 1), 0, extra);
      return q;
    },
    'swapped adjacent steps': (p, _l, _b, k) => {
      if (p.steps.length < 2) return null;
      const q = clone(p);
      const a = k % (q.steps.length - 1);
      [q.steps[a], q.steps[a + 1]] = [q.steps[a + 1]!, q.steps[a]!];
      return q.steps[a]!.hash === q.steps[a + 1]!.hash && q.steps[a]!.side === q.steps[a + 1]!.side ? null : q;
    },
    'malformed step hash': (p, _l, _b, k) => {
      if (p.steps.length === 0) return null;
      const q = clone(p);
      const s = q.steps[k % q.steps.length]!;
      s.hash = [s.hash.toUpperCase(), s.hash.slice(2), s.hash + '00', '', 'zz' + s.hash.slice(2)][k % 5]!;
      return s.hash === p.steps[k % p.steps.length]!.hash ? null : q;
    },
  };
  fc.assert(
    fc.property(treeArb, fc.constantFrom(...Object.keys(tampers)), fc.nat({ max: 255 }), fc.nat(), ({ n, i, salt }, name, bit, pick) => {
      const leaves = leavesOf(n, salt);
      const root = merkleRootHex(leaves);
      const p = merkleProof(leaves, i);
      assert.equal(verifyMerkleProof(p, root), true);
      const bad = tampers[name]!(clone(p), leaves, bit, pick);
      if (bad === null) return; // tamper not applicable to this proof shape
      assert.equal(verifyMerkleProof(bad, root), false, `${name}: ${JSON.stringify(bad)}`);
    }),
    { numRuns: 1500 },
  );
});

test('wrong or malformed roots are rejected (property)', () => {
  fc.assert(
    fc.property(treeArb, fc.nat({ max: 255 }), ({ n, i, salt }, bit) => {
      const leaves = leavesOf(n, salt);
      const root = merkleRootHex(leaves);
      const p = merkleProof(leaves, i);
      assert.equal(verifyMerkleProof(p, flipHex(root, bit)), false);
      assert.equal(verifyMerkleProof(p, merkleRootHex(leavesOf(n, salt + '!'))), false);
      assert.equal(verifyMerkleProof(p, root.toUpperCase()), false);
      assert.equal(verifyMerkleProof(p, root.slice(1)), false);
      assert.equal(verifyMerkleProof(p, merkleRootHex([])), false);
    }),
    { numRuns: 300 },
  );
});

test('structurally broken proofs return false instead of throwing', () => {
  const leaves = leavesOf(5);
  const root = merkleRootHex(leaves);
  const p = merkleProof(leaves, 1);
  const broken: unknown[] = [
    null, undefined, 42, {}, { ...p, steps: undefined }, { ...p, steps: 'x' }, { ...p, leaf: undefined },
    { ...p, steps: [null, ...p.steps.slice(1)] }, { ...p, steps: [{ side: 'up', hash: p.steps[0]!.hash }, ...p.steps.slice(1)] },
    { ...p, index: '1' }, { ...p, leafCount: '5' },
  ];
  for (const b of broken) assert.equal(verifyMerkleProof(b as MerkleProof, root), false, JSON.stringify(b));
  assert.equal(verifyMerkleProof(p, 42 as unknown as string), false);
});

test('worked example in docs/merkle.md (3 leaves: blake3 of "a", "b", "c")', () => {
  const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
  const leaves = ['a', 'b', 'c'].map((s) => toHex(blake3(enc(s))));
  assert.deepEqual(leaves, DOC.leaves);
  assert.equal(merkleRootHex(leaves), DOC.root);
  assert.deepEqual(merkleProof(leaves, 0), DOC.proof0);
  assert.deepEqual(merkleProof(leaves, 2), DOC.proof2);
  assert.equal(merkleRootHex([]), DOC.empty);
});

// Values copied into docs/merkle.md; if this test fails the spec and the code disagree.
const DOC = {
  leaves: [
    '17762fddd969a453925d65717ac3eea21320b66b54342fde15128d6caf21215f',
    '10e5cf3d3c8a4f9f3468c8cc58eea84892a22fdadbc1acb22410190044c1d553',
    'ea7aa1fc9efdbe106dbb70369a75e9671fa29d52bd55536711bf197477b8f021',
  ],
  root: '929709c9aff0e2ee6231c3490610f33cda9b00906ead2f2e1ea779394ebf1146',
  proof0: {
    index: 0,
    leafCount: 3,
    leaf: '17762fddd969a453925d65717ac3eea21320b66b54342fde15128d6caf21215f',
    steps: [
      { side: 'right', hash: 'ddc979d8eed4bd09f1a3b785b5a10348bfac8c69ddaaf276b8306f8a517da712' },
      { side: 'right', hash: 'b9952b170ff2d87e9f922862d53e24fc5996be32beb2471712f0fe8308b86f6f' },
    ],
  } satisfies MerkleProof,
  proof2: {
    index: 2,
    leafCount: 3,
    leaf: 'ea7aa1fc9efdbe106dbb70369a75e9671fa29d52bd55536711bf197477b8f021',
    steps: [{ side: 'left', hash: '31b7bbaf63d23584a9db776539be09557402d57b2eac626cd8d0701658ed5dd4' }],
  } satisfies MerkleProof,
  empty: 'ab13bedf42e84bae0f7c62c7dd6a8ada571e8829bed6ea558217f0361b5e25d0',
};
