// Owns the BLAKE3 Merkle tree over shard hashes (blake3-merkle-v1): roots, inclusion proofs, verification. Spec: docs/merkle.md.
import { blake3 } from './blake3.js';
import { fromHex, IntegrityError, isHex, toHex } from './hex.js';

const LEAF = 0x00;
const INNER = 0x01;
const EMPTY = 0x02;
const ROOT = 0x03;
const HASH_LEN = 32;

/** One sibling on the path from a leaf to the top. `side` is where the SIBLING sits. */
export interface MerkleProofStep {
  side: 'left' | 'right';
  hash: string;
}

/** Inclusion proof of leaf value `leaf` (hex) at `index` in a tree of `leafCount` leaves. */
export interface MerkleProof {
  index: number;
  leafCount: number;
  leaf: string;
  steps: MerkleProofStep[];
}

function leafNode(value: Uint8Array): Uint8Array {
  const buf = new Uint8Array(1 + HASH_LEN);
  buf[0] = LEAF;
  buf.set(value, 1);
  return blake3(buf);
}

function innerNode(left: Uint8Array, right: Uint8Array): Uint8Array {
  const buf = new Uint8Array(1 + 2 * HASH_LEN);
  buf[0] = INNER;
  buf.set(left, 1);
  buf.set(right, 1 + HASH_LEN);
  return blake3(buf);
}

/** The root seals the top node with the leaf count, so a proof cannot lie about the tree's size. */
function sealRoot(leafCount: number, top: Uint8Array): Uint8Array {
  const buf = new Uint8Array(1 + 8 + HASH_LEN);
  buf[0] = ROOT;
  new DataView(buf.buffer).setBigUint64(1, BigInt(leafCount), true);
  buf.set(top, 9);
  return blake3(buf);
}

/** Next level up: pairs hashed left-to-right; an odd last node is promoted unchanged. */
function parentLevel(level: readonly Uint8Array[]): Uint8Array[] {
  const up: Uint8Array[] = [];
  for (let i = 0; i + 1 < level.length; i += 2) up.push(innerNode(level[i]!, level[i + 1]!));
  if (level.length % 2 === 1) up.push(level[level.length - 1]!);
  return up;
}

/** Sibling sides on the path of `index` in a tree of `leafCount` leaves, bottom-up. O(log n). */
function pathSides(index: number, leafCount: number): ('left' | 'right')[] {
  const sides: ('left' | 'right')[] = [];
  for (let pos = index, len = leafCount; len > 1; pos = Math.floor(pos / 2), len = Math.ceil(len / 2)) {
    if (pos % 2 === 1) sides.push('left');
    else if (pos + 1 < len) sides.push('right');
    // else: pos is the promoted last node of an odd level, no sibling.
  }
  return sides;
}

function leafNodes(leaves: readonly Uint8Array[]): Uint8Array[] {
  return leaves.map((v, i) => {
    if (!(v instanceof Uint8Array) || v.length !== HASH_LEN) {
      throw new IntegrityError('BF_MERKLE_LEAF_INVALID', `Merkle leaf ${i} must be ${HASH_LEN} bytes`);
    }
    return leafNode(v);
  });
}

/** Root of the tree over `leaves` (each 32 bytes). Empty list: BLAKE3(0x02). */
export function merkleRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return blake3(Uint8Array.of(EMPTY));
  let level = leafNodes(leaves);
  while (level.length > 1) level = parentLevel(level);
  return sealRoot(leaves.length, level[0]!);
}

/** merkleRoot over hex leaves (64 lowercase hex digits each), as lowercase hex. */
export function merkleRootHex(leavesHex: readonly string[]): string {
  return toHex(merkleRoot(leavesHex.map((h) => fromHex(h, HASH_LEN))));
}

/** Inclusion proof for leaf `index`. Throws BF_MERKLE_INDEX if index is not an integer in [0, leaves). */
export function merkleProof(leavesHex: readonly string[], index: number): MerkleProof {
  const n = leavesHex.length;
  if (!Number.isSafeInteger(index) || index < 0 || index >= n) {
    throw new IntegrityError('BF_MERKLE_INDEX', `leaf index ${index} is outside a tree of ${n} leaves`);
  }
  let level = leafNodes(leavesHex.map((h) => fromHex(h, HASH_LEN)));
  const steps: MerkleProofStep[] = [];
  for (let pos = index; level.length > 1; pos = Math.floor(pos / 2), level = parentLevel(level)) {
    if (pos % 2 === 1) steps.push({ side: 'left', hash: toHex(level[pos - 1]!) });
    else if (pos + 1 < level.length) steps.push({ side: 'right', hash: toHex(level[pos + 1]!) });
  }
  return { index, leafCount: n, leaf: leavesHex[index]!, steps };
}

/**
 * True iff `proof` shows its leaf at proof.index in a tree of proof.leafCount leaves with root `rootHex`.
 * Malformed input (bad hex, index out of range, step count or sides not those dictated by index and
 * leafCount) yields false, never a throw. O(log n).
 */
export function verifyMerkleProof(proof: MerkleProof, rootHex: string): boolean {
  if (typeof proof !== 'object' || proof === null || !Array.isArray(proof.steps)) return false;
  const { index, leafCount, leaf, steps } = proof;
  if (!Number.isSafeInteger(leafCount) || leafCount < 1) return false;
  if (!Number.isSafeInteger(index) || index < 0 || index >= leafCount) return false;
  if (!isHex(leaf, HASH_LEN) || !isHex(rootHex, HASH_LEN)) return false;
  const sides = pathSides(index, leafCount);
  if (steps.length !== sides.length) return false;
  let node = leafNode(fromHex(leaf));
  for (let i = 0; i < sides.length; i++) {
    const step = steps[i];
    if (typeof step !== 'object' || step === null || step.side !== sides[i] || !isHex(step.hash, HASH_LEN)) return false;
    const sibling = fromHex(step.hash);
    node = step.side === 'left' ? innerNode(sibling, node) : innerNode(node, sibling);
  }
  return toHex(sealRoot(leafCount, node)) === rootHex;
}
