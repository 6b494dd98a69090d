// Owns BLAKE3 subtree chaining values of fixed-size units (format v2 chunk hashes) and their merge into the whole-message hash.
//
// Reference: J. O'Connor, J.-P. Aumasson, S. Neves, Z. Wilcox-O'Hearn, "BLAKE3: one function, fast
// everywhere" (2020), §2 Specification: §2.1 "Tree Structure" (left subtrees are complete, power-of-two
// and at least as large as their right sibling), "Chunk Chaining Values" (a chunk's blocks carry its
// chunk counter, CHUNK_START / CHUNK_END, ROOT only on the root), "Parent Node Chaining Values" (counter
// 0, 64-byte block = left CV || right CV, PARENT flag, ROOT only on the root). Bao ("verified
// streaming", and its "chunk groups") rests on the same fact used here: a run of 2^k whole chunks
// starting at a multiple of 2^k is a node of the tree of every longer message, so its chaining value
// can be computed from those bytes and their position alone.
//
// Units. A message of totalLen bytes is cut into units of unitSize bytes (a power of two, 1 KiB to
// 256 KiB); only the last unit may be shorter; the empty message has one empty unit. Because unitSize
// is a power of two of chunks, when there are two or more units each unit is one subtree of the
// message's BLAKE3 tree (§2.1: the left split of a tree of more than one unit is always a multiple of
// unitSize), and the tree above the units has exactly BLAKE3's left-heavy shape with units as leaves.
//
// Pure: no I/O, no clock. Three engines give identical bytes (docs/hashing.md): the native addon
// (native/blake3cv: BLAKE3's official C library, AVX-512 / AVX2 / SSE4.1 picked at run time) when it was
// built, loads and passes a known-answer check of the official test vectors, and BLOCKFRAME_BLAKE3 is not
// `wasm`; else the WebAssembly SIMD kernel (asm/blake3.ts); else a portable scalar TypeScript compression.

import { loadKernel, type Blake3Kernel } from './blake3-simd.js';
import { IntegrityError, toHex } from './hex.js';
import { loadNativeCvEngine, nativeCvRejected } from './blake3-native-cv.js';

/** BLAKE3 chunk length in bytes (the tree's leaf size). */
const CHUNK_LEN = 1024;
/** Chaining value / hash length in bytes. */
const CV_LEN = 32;
/** Smallest unit size accepted, in bytes: one BLAKE3 chunk. */
export const MIN_UNIT_SIZE = 1024;
/** Largest unit size accepted, in bytes: the kernel's input window, so a whole unit is one kernel call. */
export const MAX_UNIT_SIZE = 256 * 1024;
const TWO32 = 2 ** 32;

const CHUNK_START = 1;
const CHUNK_END = 2;
const PARENT = 4;
const ROOT = 8;

/** Which implementation computes chaining values. */
export type Blake3CvBackend = 'native' | 'wasm-simd' | 'portable';

/** unitCVs / unitCV / rootFromCVs (documented below) bound to one implementation; both give identical bytes. */
export interface Blake3Cv {
  readonly backend: Blake3CvBackend;
  unitCVs(data: Uint8Array, firstUnit: number, unitSize: number, totalLen: number, into: Uint8Array, intoOffset?: number): number;
  unitCV(unit: Uint8Array, unitIndex: number, unitSize: number, totalLen: number): Uint8Array;
  rootFromCVs(cvs: Uint8Array, unitSize: number, totalLen: number): Uint8Array;
}

// ---------------------------------------------------------------------------------------------
// Engines: the three BLAKE3 node operations over some addressable copy of the input.

/**
 * The node operations of one backend. Offsets address the bytes most recently given to stage().
 * Every result is a 32-byte chaining value (the hash when `root`) written to out[outOff, outOff + 32).
 */
interface Engine {
  readonly backend: Blake3CvBackend;
  /** Largest number of bytes one stage() call may take. */
  readonly stageLimit: number;
  /** Make data[from, to) addressable; returns the offset of data[from]. */
  stage(data: Uint8Array, from: number, to: number): number;
  /** Non-root CV of the complete subtree of `chunks` (a power of two <= 256) whole chunks at `off`, first chunk number `counter` (a multiple of `chunks`). */
  subtree(off: number, chunks: number, counter: number, out: Uint8Array, outOff: number): void;
  /** CV of one chunk of `len` (0..1024) bytes at `off`, chunk number `counter`. */
  chunk(off: number, len: number, counter: number, root: boolean, out: Uint8Array, outOff: number): void;
  /** CV of the parent whose children's CVs are block[0, 32) (left) and block[32, 64) (right). */
  parent(block: Uint8Array, root: boolean, out: Uint8Array, outOff: number): void;
  /** Optional batch: `units` complete subtrees of `chunks` chunks back to back from `off` (as many subtree() calls). */
  subtrees?(off: number, units: number, chunks: number, counter: number, out: Uint8Array, outOff: number): void;
}

class WasmEngine implements Engine {
  readonly backend = 'wasm-simd';
  readonly stageLimit: number;
  constructor(private readonly k: Blake3Kernel) {
    this.stageLimit = k.windowChunks * CHUNK_LEN;
  }
  stage(data: Uint8Array, from: number, to: number): number {
    this.k.mem.set(data.subarray(from, to), this.k.input);
    return 0;
  }
  subtree(off: number, chunks: number, counter: number, out: Uint8Array, outOff: number): void {
    this.k.ex.hashSubtree(off, chunks, counter >>> 0, Math.floor(counter / TWO32));
    this.result(out, outOff);
  }
  chunk(off: number, len: number, counter: number, root: boolean, out: Uint8Array, outOff: number): void {
    this.k.ex.hashChunk(off, len, counter >>> 0, Math.floor(counter / TWO32), root ? 1 : 0);
    this.result(out, outOff);
  }
  parent(block: Uint8Array, root: boolean, out: Uint8Array, outOff: number): void {
    this.k.mem.set(block.subarray(0, 2 * CV_LEN), this.k.parentIn);
    this.k.ex.hashParent(root ? 1 : 0);
    this.result(out, outOff);
  }
  private result(out: Uint8Array, outOff: number): void {
    const o = this.k.out;
    out.set(this.k.mem.subarray(o, o + CV_LEN), outOff);
  }
}

// The portable compression function (paper §2.2 and its round-function appendix; same G and
// message schedule as BLAKE2s, 7 rounds, state row 3 = counter lo, counter hi, block length, flags).

const IV = Uint32Array.of(0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19);
/** Message word order of each of the 7 rounds: round r applies the BLAKE3 permutation r times. */
const SCHEDULE: Uint8Array = (() => {
  const perm = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];
  const s = new Uint8Array(7 * 16);
  let order = Array.from({ length: 16 }, (_, i) => i);
  for (let r = 0; r < 7; r++) {
    s.set(order, r * 16);
    order = perm.map((p) => order[p]!);
  }
  return s;
})();

class PortableEngine implements Engine {
  readonly backend = 'portable';
  readonly stageLimit = Infinity;
  private data: Uint8Array = new Uint8Array(0);
  private readonly v = new Uint32Array(16);
  private readonly m = new Uint32Array(16);
  private readonly cv = new Uint32Array(8);
  private readonly pad = new Uint8Array(64);
  /** Chunk CVs of one subtree, reduced level by level in place (like the kernel's CVS region). */
  private readonly cvs = new Uint8Array((MAX_UNIT_SIZE / CHUNK_LEN) * CV_LEN);

  stage(data: Uint8Array, from: number): number {
    this.data = data;
    return from;
  }

  subtree(off: number, chunks: number, counter: number, out: Uint8Array, outOff: number): void {
    const cvs = this.cvs;
    for (let i = 0; i < chunks; i++) this.chunk(off + i * CHUNK_LEN, CHUNK_LEN, counter + i, false, cvs, i * CV_LEN);
    for (let n = chunks; n > 1; n >>= 1) {
      for (let p = 0; p < n >> 1; p++) this.parent(cvs.subarray(p * 2 * CV_LEN), false, cvs, p * CV_LEN);
    }
    out.set(cvs.subarray(0, CV_LEN), outOff);
  }

  chunk(off: number, len: number, counter: number, root: boolean, out: Uint8Array, outOff: number): void {
    const cv = this.cv;
    cv.set(IV);
    const blocks = len === 0 ? 1 : Math.ceil(len / 64);
    for (let b = 0; b < blocks; b++) {
      const last = b === blocks - 1;
      const blen = last ? len - b * 64 : 64;
      let src = this.data;
      let at = off + b * 64;
      if (blen < 64) {
        this.pad.fill(0);
        this.pad.set(src.subarray(at, at + blen));
        src = this.pad;
        at = 0;
      }
      const flags = (b === 0 ? CHUNK_START : 0) | (last ? CHUNK_END | (root ? ROOT : 0) : 0);
      this.compress(src, at, counter, blen, flags);
    }
    writeWords(cv, out, outOff);
  }

  parent(block: Uint8Array, root: boolean, out: Uint8Array, outOff: number): void {
    this.cv.set(IV);
    this.compress(block, 0, 0, 64, PARENT | (root ? ROOT : 0));
    writeWords(this.cv, out, outOff);
  }

  /** this.cv = first 8 words of compress(this.cv, block at src[at, at + 64), counter, blockLen, flags). */
  private compress(src: Uint8Array, at: number, counter: number, blockLen: number, flags: number): void {
    const { v, m, cv } = this;
    for (let i = 0; i < 16; i++) {
      const o = at + 4 * i;
      m[i] = src[o]! | (src[o + 1]! << 8) | (src[o + 2]! << 16) | (src[o + 3]! << 24);
    }
    v.set(cv, 0);
    v[8] = IV[0]!;
    v[9] = IV[1]!;
    v[10] = IV[2]!;
    v[11] = IV[3]!;
    v[12] = counter >>> 0;
    v[13] = Math.floor(counter / TWO32);
    v[14] = blockLen;
    v[15] = flags;
    for (let r = 0; r < 7; r++) {
      const s = r * 16;
      // columns, then diagonals
      g(v, m, 0, 4, 8, 12, SCHEDULE[s]!, SCHEDULE[s + 1]!);
      g(v, m, 1, 5, 9, 13, SCHEDULE[s + 2]!, SCHEDULE[s + 3]!);
      g(v, m, 2, 6, 10, 14, SCHEDULE[s + 4]!, SCHEDULE[s + 5]!);
      g(v, m, 3, 7, 11, 15, SCHEDULE[s + 6]!, SCHEDULE[s + 7]!);
      g(v, m, 0, 5, 10, 15, SCHEDULE[s + 8]!, SCHEDULE[s + 9]!);
      g(v, m, 1, 6, 11, 12, SCHEDULE[s + 10]!, SCHEDULE[s + 11]!);
      g(v, m, 2, 7, 8, 13, SCHEDULE[s + 12]!, SCHEDULE[s + 13]!);
      g(v, m, 3, 4, 9, 14, SCHEDULE[s + 14]!, SCHEDULE[s + 15]!);
    }
    for (let i = 0; i < 8; i++) cv[i] = v[i]! ^ v[i + 8]!;
  }
}

/** The quarter-round G on state words a, b, c, d with message words m[x], m[y] (Uint32Array stores wrap mod 2^32). */
function g(v: Uint32Array, m: Uint32Array, a: number, b: number, c: number, d: number, x: number, y: number): void {
  v[a] = v[a]! + v[b]! + m[x]!;
  let t = v[d]! ^ v[a]!;
  v[d] = (t >>> 16) | (t << 16);
  v[c] = v[c]! + v[d]!;
  t = v[b]! ^ v[c]!;
  v[b] = (t >>> 12) | (t << 20);
  v[a] = v[a]! + v[b]! + m[y]!;
  t = v[d]! ^ v[a]!;
  v[d] = (t >>> 8) | (t << 24);
  v[c] = v[c]! + v[d]!;
  t = v[b]! ^ v[c]!;
  v[b] = (t >>> 7) | (t << 25);
}

/** Little-endian bytes of 8 words to out[off, off + 32). */
function writeWords(w: Uint32Array, out: Uint8Array, off: number): void {
  for (let i = 0; i < 8; i++) {
    const x = w[i]!;
    out[off + 4 * i] = x;
    out[off + 4 * i + 1] = x >>> 8;
    out[off + 4 * i + 2] = x >>> 16;
    out[off + 4 * i + 3] = x >>> 24;
  }
}

// ---------------------------------------------------------------------------------------------
// The tree, shared by both engines.

/** One 64-byte parent block (left CV || right CV) per recursion level of treeCV; a unit tree is at most 9 levels deep. */
const TREE_SCRATCH = Array.from({ length: 10 }, () => new Uint8Array(2 * CV_LEN));

/**
 * CV of the BLAKE3 (sub)tree over `len` bytes at `off` whose first chunk is number `counter`, built
 * with §2.1's rule (the left subtree holds the largest power of two of chunks that is less than the
 * total), with ROOT on its top node only when `root`. Needs len <= MAX_UNIT_SIZE and, when len spans
 * more than one chunk, `counter` a multiple of the left subtree's chunk count (true for unit starts).
 */
function treeCV(e: Engine, off: number, len: number, counter: number, root: boolean, out: Uint8Array, outOff: number, depth = 0): void {
  if (len <= CHUNK_LEN) {
    e.chunk(off, len, counter, root, out, outOff);
    return;
  }
  let left = 1;
  while (left * 2 * CHUNK_LEN < len) left *= 2;
  const block = TREE_SCRATCH[depth]!;
  e.subtree(off, left, counter, block, 0);
  const split = left * CHUNK_LEN;
  treeCV(e, off + split, len - split, counter + left, false, block, CV_LEN, depth + 1);
  e.parent(block, root, out, outOff);
}

function fail(message: string): never {
  throw new IntegrityError('BF_BLAKE3_UNITS_INVALID', message);
}

function checkUnitSize(unitSize: number): void {
  if (!Number.isInteger(unitSize) || unitSize < MIN_UNIT_SIZE || unitSize > MAX_UNIT_SIZE || (unitSize & (unitSize - 1)) !== 0) {
    fail(`unit size ${unitSize} is not a power of two from ${MIN_UNIT_SIZE} to ${MAX_UNIT_SIZE} bytes`);
  }
}

function checkCount(name: string, x: number): void {
  if (!Number.isSafeInteger(x) || x < 0) fail(`${name} ${x} is not a non-negative integer`);
}

/** Number of units of a totalLen-byte message: ceil(totalLen / unitSize), and 1 for the empty message. */
export function unitCount(totalLen: number, unitSize: number): number {
  checkUnitSize(unitSize);
  checkCount('message length', totalLen);
  return Math.max(1, Math.ceil(totalLen / unitSize));
}

function unitCVsWith(e: Engine, data: Uint8Array, firstUnit: number, unitSize: number, totalLen: number, into: Uint8Array, intoOffset: number): number {
  const units = unitCount(totalLen, unitSize);
  checkCount('first unit', firstUnit);
  checkCount('output offset', intoOffset);
  const start = firstUnit * unitSize;
  const end = start + data.length;
  if (firstUnit > units || end > totalLen) fail(`units from ${firstUnit} (${data.length} bytes) run past the end of a ${totalLen}-byte message`);
  if (end !== totalLen && data.length % unitSize !== 0) fail(`${data.length} bytes of input end inside unit ${Math.floor(end / unitSize)} (unit size ${unitSize})`);
  const count = totalLen === 0 && firstUnit === 0 ? 1 : Math.ceil(data.length / unitSize);
  if (intoOffset + count * CV_LEN > into.length) fail(`${count} chaining values do not fit at offset ${intoOffset} of a ${into.length}-byte output`);
  if (units === 1) {
    // A one-unit message is a tree of its own: its top node is the root, so its value is the hash.
    if (count === 1) treeCV(e, e.stage(data, 0, data.length), data.length, 0, true, into, intoOffset);
    return count;
  }
  const chunksPerUnit = unitSize / CHUNK_LEN;
  const perStage = Math.max(1, Math.floor(Math.min(e.stageLimit, data.length) / unitSize));
  for (let i = 0; i < count; i += perStage) {
    const n = Math.min(perStage, count - i);
    const from = i * unitSize;
    const to = Math.min(from + n * unitSize, data.length);
    const base = e.stage(data, from, to);
    let j = 0;
    if (e.subtrees) {
      // Every whole unit of this stage in one call (the native engine hashes their chunks side by side).
      const whole = Math.min(n, Math.floor((to - from) / unitSize));
      if (whole > 0) e.subtrees(base, whole, chunksPerUnit, (firstUnit + i) * chunksPerUnit, into, intoOffset + i * CV_LEN);
      j = whole;
    }
    for (; j < n; j++) {
      const off = base + j * unitSize;
      const len = Math.min(unitSize, to - from - j * unitSize);
      const counter = (firstUnit + i + j) * chunksPerUnit;
      const outOff = intoOffset + (i + j) * CV_LEN;
      if (len === unitSize) e.subtree(off, chunksPerUnit, counter, into, outOff);
      else treeCV(e, off, len, counter, false, into, outOff); // the message's short last unit: the right-most subtree
    }
  }
  return count;
}

function unitCVWith(e: Engine, unit: Uint8Array, unitIndex: number, unitSize: number, totalLen: number): Uint8Array {
  const units = unitCount(totalLen, unitSize);
  checkCount('unit index', unitIndex);
  if (unitIndex >= units) fail(`unit ${unitIndex} is outside a ${units}-unit message`);
  const want = Math.min(unitSize, totalLen - unitIndex * unitSize);
  if (unit.length !== want) fail(`unit ${unitIndex} of a ${totalLen}-byte message has ${want} bytes, got ${unit.length}`);
  const out = new Uint8Array(CV_LEN);
  unitCVsWith(e, unit, unitIndex, unitSize, totalLen, out, 0);
  return out;
}

function rootFromCVsWith(e: Engine, cvs: Uint8Array, unitSize: number, totalLen: number): Uint8Array {
  const units = unitCount(totalLen, unitSize);
  if (cvs.length !== units * CV_LEN) fail(`a ${totalLen}-byte message has ${units} units of ${unitSize} bytes, got ${cvs.length / CV_LEN} chaining values (${cvs.length} bytes)`);
  if (units === 1) return cvs.slice(0, CV_LEN);
  // The incremental form of §2.1 with units as leaves: a stack of complete subtrees, largest first.
  // After leaf i (not the last) merge once per trailing zero bit of i + 1; the last leaf then folds
  // into every stacked subtree from the right, and only that final parent is the root.
  const stack = new Uint8Array(Math.ceil(Math.log2(units) + 1) * CV_LEN);
  const block = new Uint8Array(2 * CV_LEN);
  let depth = 0;
  for (let i = 0; i < units - 1; i++) {
    stack.set(cvs.subarray(i * CV_LEN, (i + 1) * CV_LEN), depth * CV_LEN);
    depth++;
    for (let t = i + 1; t % 2 === 0; t /= 2) {
      depth--;
      block.set(stack.subarray((depth - 1) * CV_LEN, (depth + 1) * CV_LEN));
      e.parent(block, false, stack, (depth - 1) * CV_LEN);
    }
  }
  const out = cvs.slice((units - 1) * CV_LEN);
  for (let d = depth - 1; d >= 0; d--) {
    block.set(stack.subarray(d * CV_LEN, (d + 1) * CV_LEN), 0);
    block.set(out, CV_LEN);
    e.parent(block, d === 0, out, 0);
  }
  return out;
}

function bind(e: Engine): Blake3Cv {
  return {
    backend: e.backend,
    unitCVs: (data, firstUnit, unitSize, totalLen, into, intoOffset = 0) => unitCVsWith(e, data, firstUnit, unitSize, totalLen, into, intoOffset),
    unitCV: (unit, unitIndex, unitSize, totalLen) => unitCVWith(e, unit, unitIndex, unitSize, totalLen),
    rootFromCVs: (cvs, unitSize, totalLen) => rootFromCVsWith(e, cvs, unitSize, totalLen),
  };
}

/**
 * Known answers a native engine must give before it is used: official BLAKE3 test vectors (input byte i is
 * i mod 251; hashes from the BLAKE3 repository's test_vectors.json) merged from unit CVs of several unit sizes,
 * so batches of subtrees, short last units, partial chunks and parents are all exercised.
 */
const KNOWN: ReadonlyArray<readonly [len: number, unitSizes: readonly number[], hash: string]> = [
  [102400, [1024, 4096, 65536], 'bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085'],
  [1025, [1024], 'd00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444'],
];

/** True when `impl` reproduces every KNOWN hash (any exception counts as a failure). */
function knownAnswers(impl: Blake3Cv): boolean {
  try {
    for (const [len, sizes, want] of KNOWN) {
      const input = new Uint8Array(len);
      for (let i = 0; i < len; i++) input[i] = i % 251;
      for (const unitSize of sizes) {
        const cvs = new Uint8Array(unitCount(len, unitSize) * CV_LEN);
        impl.unitCVs(input, 0, unitSize, len, cvs);
        if (toHex(impl.rootFromCVs(cvs, unitSize, len)) !== want) return false;
      }
    }
    return true;
  } catch {
    return false;
  }
}

const kernel = loadKernel();
const portable = bind(new PortableEngine());
const simd = kernel === null ? null : bind(new WasmEngine(kernel));
const nativeEngine = loadNativeCvEngine();
const native = nativeEngine === null ? null : knownAnswers(bind(nativeEngine)) ? bind(nativeEngine) : (nativeCvRejected(), null);

/**
 * The implementation unitCVs / unitCV / rootFromCVs use: the native addon when it loads and passes its known-answer
 * check (and BLOCKFRAME_BLAKE3 is not `wasm`), else the WASM SIMD kernel, else portable TypeScript.
 */
export const BLAKE3_CV_BACKEND: Blake3CvBackend = native !== null ? 'native' : simd === null ? 'portable' : 'wasm-simd';
const chosen = native ?? simd ?? portable;

/** How many chunks the native engine hashes side by side (16 AVX-512, 8 AVX2, 4 SSE4.1), 0 when it is not in use. */
export const BLAKE3_CV_NATIVE_DEGREE: number = native !== null ? nativeEngine!.degree : 0;

/**
 * The operations bound to one backend (tests and the bench compare them; production code uses the functions below).
 * Throws BF_BLAKE3_NOT_READY for 'wasm-simd' or 'native' where that engine is unavailable (or, native, disabled or
 * rejected by its known-answer check).
 */
export function blake3Cv(backend: Blake3CvBackend): Blake3Cv {
  if (backend === 'portable') return portable;
  if (backend === 'native') {
    if (native === null) throw new IntegrityError('BF_BLAKE3_NOT_READY', 'the native BLAKE3 chaining-value addon is not in use here (not built, disabled with BLOCKFRAME_BLAKE3=wasm, or failed its check)');
    return native;
  }
  if (simd === null) throw new IntegrityError('BF_BLAKE3_NOT_READY', 'the WebAssembly SIMD BLAKE3 kernel is not available in this runtime');
  return simd;
}

/**
 * Write the 32-byte chaining value of each unit held by `data` to `into`, consecutively from byte
 * `intoOffset`; returns how many were written.
 *
 * - `data`: units firstUnit, firstUnit + 1, … of the message, back to back; every one whole
 *   (unitSize bytes) except that `data` may end at the message's end with its short last unit.
 *   It covers ceil(data.length / unitSize) units (the empty message: data empty, firstUnit 0, one unit).
 * - `unitSize`: bytes per unit, a power of two from 1024 (one BLAKE3 chunk) to 262144; format v2 uses 65536.
 * - `totalLen`: the whole message's length in bytes (safe integer); it decides where the tree ends.
 * - `into`: needs 32 * count bytes from `intoOffset`.
 *
 * Value: with two or more units, unit u's value is the non-root chaining value of the subtree of the
 * message's BLAKE3 tree that covers it: chunk counters start at u * unitSize / 1024, and a short last
 * unit is the right-most subtree, shaped by §2.1's left-heavy rule, still without ROOT. A one-unit
 * message (totalLen <= unitSize, 0 included) has no such subtree below the root, so its value is
 * defined as the plain BLAKE3 hash of the message (ROOT flag), what `b3sum` prints.
 *
 * Throws IntegrityError BF_BLAKE3_UNITS_INVALID when unitSize, firstUnit, the length of `data` or the
 * room in `into` do not fit the message.
 */
export function unitCVs(data: Uint8Array, firstUnit: number, unitSize: number, totalLen: number, into: Uint8Array, intoOffset = 0): number {
  return chosen.unitCVs(data, firstUnit, unitSize, totalLen, into, intoOffset);
}

/**
 * The value unitCVs gives unit `unitIndex` (a fresh 32-byte array), for verifying one unit on its own.
 * `unit` must be exactly that unit's bytes: unitSize, or the remainder for the message's last unit.
 * Throws BF_BLAKE3_UNITS_INVALID when the index or length does not fit the message.
 */
export function unitCV(unit: Uint8Array, unitIndex: number, unitSize: number, totalLen: number): Uint8Array {
  return chosen.unitCV(unit, unitIndex, unitSize, totalLen);
}

/**
 * The BLAKE3 hash (32 bytes, fresh) of the whole totalLen-byte message from its units' values, as
 * unitCVs writes them (`cvs` = 32 bytes per unit, in order): the units are merged with parent
 * compressions in BLAKE3's left-heavy shape, ROOT only on the last one. One unit: its value already
 * is the hash and is returned as is. Costs units - 1 compressions.
 * Throws BF_BLAKE3_UNITS_INVALID unless cvs holds exactly max(1, ceil(totalLen / unitSize)) values.
 */
export function rootFromCVs(cvs: Uint8Array, unitSize: number, totalLen: number): Uint8Array {
  return chosen.rootFromCVs(cvs, unitSize, totalLen);
}

/** The engine parentCV uses: the same choice as the functions above (their bound copies are private to bind()). */
const parentEngine: Engine = kernel === null ? new PortableEngine() : new WasmEngine(kernel);
const PARENT_BLOCK = new Uint8Array(2 * CV_LEN);

/**
 * The chaining value (32 bytes, fresh) of the BLAKE3 parent node whose children have the chaining values
 * `left` and `right` (32 bytes each), with the ROOT flag when `root` (then it is the message's hash). The
 * paper's §2.1 "Parent Node Chaining Values"; rootFromCVs is a sequence of these. Lets a writer merge units'
 * values in order as they come (a stack of complete subtrees) instead of keeping all of them.
 */
export function parentCV(left: Uint8Array, right: Uint8Array, root: boolean): Uint8Array {
  if (left.length !== CV_LEN || right.length !== CV_LEN) fail(`a parent node needs two ${CV_LEN}-byte chaining values`);
  PARENT_BLOCK.set(left, 0);
  PARENT_BLOCK.set(right, CV_LEN);
  const out = new Uint8Array(CV_LEN);
  parentEngine.parent(PARENT_BLOCK, root, out, 0);
  return out;
}
