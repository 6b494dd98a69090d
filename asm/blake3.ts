// AssemblyScript BLAKE3 kernel: the compression function, 4-way WebAssembly SIMD chunk/parent hashing, subtree reduction.
//
// Stateless: every call reads its input from fixed regions of linear memory that a JS driver
// (src/integrity/blake3-simd.ts for streaming hashes, src/integrity/blake3-cv.ts for unit chaining
// values) fills right before the call, and writes its result to OUT. The tree bookkeeping
// (chaining-value stack, partial-chunk buffering, ROOT placement) lives in the drivers.
//
// Memory layout (fixed; static data must end below 64 KiB, checked by init()):
//   PARENT_IN 64 bytes   left || right chaining values for hashParent()
//   OUT       32 bytes   result of every export
//   KEY       32 bytes   the key words (the IV, for plain hashing)
//   PAD       64 bytes   zero-padded copy of a short final block
//   CVS       8 KiB      chunk chaining values of one subtree, reduced level by level in place
//   INPUT     256 KiB    the input window (WINDOW_CHUNKS whole chunks; small enough to stay in L2)
//
// SIMD layout (hash4): four independent inputs are hashed at once, one per u32 lane. State word i
// of all four inputs is one v128; message words are loaded row-wise and transposed 4x4 so that
// vector m[i] holds word i of each input. The seven rounds are unrolled with the message schedule
// applied at compile time (round r uses the message permutation applied r times). In each G step
// the message word is added to `a` before `b`, which keeps it off the dependency chain.
// Rotations by 16 and 8 are byte swizzles with constant in-range indices (one pshufb each in V8);
// rotations by 12 and 7 are shift/shift/or.

const PAGE: usize = 65536;
const PARENT_IN: usize = PAGE;
const OUT: usize = PARENT_IN + 64;
const KEY: usize = OUT + 32;
const PAD: usize = KEY + 32;
const CVS: usize = PAGE + 256;
const WINDOW_CHUNKS: u32 = 256;
const CHUNK_LEN: usize = 1024;
const INPUT: usize = 2 * PAGE;
const END: usize = INPUT + <usize>WINDOW_CHUNKS * CHUNK_LEN;

const IV0: u32 = 0x6a09e667, IV1: u32 = 0xbb67ae85, IV2: u32 = 0x3c6ef372, IV3: u32 = 0xa54ff53a;
const IV4: u32 = 0x510e527f, IV5: u32 = 0x9b05688c, IV6: u32 = 0x1f83d9ab, IV7: u32 = 0x5be0cd19;

const CHUNK_START: u32 = 1;
const CHUNK_END: u32 = 2;
const PARENT: u32 = 4;
const ROOT: u32 = 8;

/** Grow memory to hold the layout and store the key; returns the INPUT window address. Idempotent. */
export function init(): usize {
  if (__heap_base > PAGE) unreachable();
  const need = <i32>((END + PAGE - 1) / PAGE);
  const have = memory.size();
  if (have < need && memory.grow(need - have) < 0) unreachable();
  store<u32>(KEY, IV0, 0); store<u32>(KEY, IV1, 4); store<u32>(KEY, IV2, 8); store<u32>(KEY, IV3, 12);
  store<u32>(KEY, IV4, 16); store<u32>(KEY, IV5, 20); store<u32>(KEY, IV6, 24); store<u32>(KEY, IV7, 28);
  return INPUT;
}

/** Number of whole chunks the INPUT window holds. */
export function windowChunks(): u32 {
  return WINDOW_CHUNKS;
}

/** Address of the 64-byte parent input (left CV then right CV). */
export function parentInPtr(): usize {
  return PARENT_IN;
}

/** Address of the 32-byte result of hashSubtree / hashChunk / hashParent. */
export function outPtr(): usize {
  return OUT;
}

// ---------------------------------------------------------------------------------------------
// Single compression (scalar), used for lone chunks, partial chunks and the top of each subtree.

/**
 * Compress one 64-byte block at `block` with the chaining value at `cvIn`; stores the new
 * chaining value (the first 8 output words) at `cvOut`. Every input is read before any output is
 * written, so cvOut may overlap cvIn or block.
 */
function compress(cvIn: usize, block: usize, counter: u64, blockLen: u32, flags: u32, cvOut: usize): void {
  const w0 = load<u32>(block, 0);
  const w1 = load<u32>(block, 4);
  const w2 = load<u32>(block, 8);
  const w3 = load<u32>(block, 12);
  const w4 = load<u32>(block, 16);
  const w5 = load<u32>(block, 20);
  const w6 = load<u32>(block, 24);
  const w7 = load<u32>(block, 28);
  const w8 = load<u32>(block, 32);
  const w9 = load<u32>(block, 36);
  const w10 = load<u32>(block, 40);
  const w11 = load<u32>(block, 44);
  const w12 = load<u32>(block, 48);
  const w13 = load<u32>(block, 52);
  const w14 = load<u32>(block, 56);
  const w15 = load<u32>(block, 60);
  let s0 = load<u32>(cvIn, 0);
  let s1 = load<u32>(cvIn, 4);
  let s2 = load<u32>(cvIn, 8);
  let s3 = load<u32>(cvIn, 12);
  let s4 = load<u32>(cvIn, 16);
  let s5 = load<u32>(cvIn, 20);
  let s6 = load<u32>(cvIn, 24);
  let s7 = load<u32>(cvIn, 28);
  let s8 = IV0, s9 = IV1, s10 = IV2, s11 = IV3;
  let s12 = <u32>counter, s13 = <u32>(counter >>> 32), s14 = blockLen, s15 = flags;
  // round 0: message words 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
  s0 = s0 + w0 + s4; s1 = s1 + w2 + s5; s2 = s2 + w4 + s6; s3 = s3 + w6 + s7;
  s12 = rotr<u32>(s12 ^ s0, 16); s13 = rotr<u32>(s13 ^ s1, 16); s14 = rotr<u32>(s14 ^ s2, 16); s15 = rotr<u32>(s15 ^ s3, 16);
  s8 = s8 + s12; s9 = s9 + s13; s10 = s10 + s14; s11 = s11 + s15;
  s4 = rotr<u32>(s4 ^ s8, 12); s5 = rotr<u32>(s5 ^ s9, 12); s6 = rotr<u32>(s6 ^ s10, 12); s7 = rotr<u32>(s7 ^ s11, 12);
  s0 = s0 + w1 + s4; s1 = s1 + w3 + s5; s2 = s2 + w5 + s6; s3 = s3 + w7 + s7;
  s12 = rotr<u32>(s12 ^ s0, 8); s13 = rotr<u32>(s13 ^ s1, 8); s14 = rotr<u32>(s14 ^ s2, 8); s15 = rotr<u32>(s15 ^ s3, 8);
  s8 = s8 + s12; s9 = s9 + s13; s10 = s10 + s14; s11 = s11 + s15;
  s4 = rotr<u32>(s4 ^ s8, 7); s5 = rotr<u32>(s5 ^ s9, 7); s6 = rotr<u32>(s6 ^ s10, 7); s7 = rotr<u32>(s7 ^ s11, 7);
  s0 = s0 + w8 + s5; s1 = s1 + w10 + s6; s2 = s2 + w12 + s7; s3 = s3 + w14 + s4;
  s15 = rotr<u32>(s15 ^ s0, 16); s12 = rotr<u32>(s12 ^ s1, 16); s13 = rotr<u32>(s13 ^ s2, 16); s14 = rotr<u32>(s14 ^ s3, 16);
  s10 = s10 + s15; s11 = s11 + s12; s8 = s8 + s13; s9 = s9 + s14;
  s5 = rotr<u32>(s5 ^ s10, 12); s6 = rotr<u32>(s6 ^ s11, 12); s7 = rotr<u32>(s7 ^ s8, 12); s4 = rotr<u32>(s4 ^ s9, 12);
  s0 = s0 + w9 + s5; s1 = s1 + w11 + s6; s2 = s2 + w13 + s7; s3 = s3 + w15 + s4;
  s15 = rotr<u32>(s15 ^ s0, 8); s12 = rotr<u32>(s12 ^ s1, 8); s13 = rotr<u32>(s13 ^ s2, 8); s14 = rotr<u32>(s14 ^ s3, 8);
  s10 = s10 + s15; s11 = s11 + s12; s8 = s8 + s13; s9 = s9 + s14;
  s5 = rotr<u32>(s5 ^ s10, 7); s6 = rotr<u32>(s6 ^ s11, 7); s7 = rotr<u32>(s7 ^ s8, 7); s4 = rotr<u32>(s4 ^ s9, 7);
  // round 1: message words 2 6 3 10 7 0 4 13 1 11 12 5 9 14 15 8
  s0 = s0 + w2 + s4; s1 = s1 + w3 + s5; s2 = s2 + w7 + s6; s3 = s3 + w4 + s7;
  s12 = rotr<u32>(s12 ^ s0, 16); s13 = rotr<u32>(s13 ^ s1, 16); s14 = rotr<u32>(s14 ^ s2, 16); s15 = rotr<u32>(s15 ^ s3, 16);
  s8 = s8 + s12; s9 = s9 + s13; s10 = s10 + s14; s11 = s11 + s15;
  s4 = rotr<u32>(s4 ^ s8, 12); s5 = rotr<u32>(s5 ^ s9, 12); s6 = rotr<u32>(s6 ^ s10, 12); s7 = rotr<u32>(s7 ^ s11, 12);
  s0 = s0 + w6 + s4; s1 = s1 + w10 + s5; s2 = s2 + w0 + s6; s3 = s3 + w13 + s7;
  s12 = rotr<u32>(s12 ^ s0, 8); s13 = rotr<u32>(s13 ^ s1, 8); s14 = rotr<u32>(s14 ^ s2, 8); s15 = rotr<u32>(s15 ^ s3, 8);
  s8 = s8 + s12; s9 = s9 + s13; s10 = s10 + s14; s11 = s11 + s15;
  s4 = rotr<u32>(s4 ^ s8, 7); s5 = rotr<u32>(s5 ^ s9, 7); s6 = rotr<u32>(s6 ^ s10, 7); s7 = rotr<u32>(s7 ^ s11, 7);
  s0 = s0 + w1 + s5; s1 = s1 + w12 + s6; s2 = s2 + w9 + s7; s3 = s3 + w15 + s4;
  s15 = rotr<u32>(s15 ^ s0, 16); s12 = rotr<u32>(s12 ^ s1, 16); s13 = rotr<u32>(s13 ^ s2, 16); s14 = rotr<u32>(s14 ^ s3, 16);
  s10 = s10 + s15; s11 = s11 + s12; s8 = s8 + s13; s9 = s9 + s14;
  s5 = rotr<u32>(s5 ^ s10, 12); s6 = rotr<u32>(s6 ^ s11, 12); s7 = rotr<u32>(s7 ^ s8, 12); s4 = rotr<u32>(s4 ^ s9, 12);
  s0 = s0 + w11 + s5; s1 = s1 + w5 + s6; s2 = s2 + w14 + s7; s3 = s3 + w8 + s4;
  s15 = rotr<u32>(s15 ^ s0, 8); s12 = rotr<u32>(s12 ^ s1, 8); s13 = rotr<u32>(s13 ^ s2, 8); s14 = rotr<u32>(s14 ^ s3, 8);
  s10 = s10 + s15; s11 = s11 + s12; s8 = s8 + s13; s9 = s9 + s14;
  s5 = rotr<u32>(s5 ^ s10, 7); s6 = rotr<u32>(s6 ^ s11, 7); s7 = rotr<u32>(s7 ^ s8, 7); s4 = rotr<u32>(s4 ^ s9, 7);
  // round 2: message words 3 4 10 12 13 2 7 14 6 5 9 0 11 15 8 1
  s0 = s0 + w3 + s4; s1 = s1 + w10 + s5; s2 = s2 + w13 + s6; s3 = s3 + w7 + s7;
  s12 = rotr<u32>(s12 ^ s0, 16); s13 = rotr<u32>(s13 ^ s1, 16); s14 = rotr<u32>(s14 ^ s2, 16); s15 = rotr<u32>(s15 ^ s3, 16);
  s8 = s8 + s12; s9 = s9 + s13; s10 = s10 + s14; s11 = s11 + s15;
  s4 = rotr<u32>(s4 ^ s8, 12); s5 = rotr<u32>(s5 ^ s9, 12); s6 = rotr<u32>(s6 ^ s10, 12); s7 = rotr<u32>(s7 ^ s11, 12);
  s0 = s0 + w4 + s4; s1 = s1 + w12 + s5; s2 = s2 + w2 + s6; s3 = s3 + w14 + s7;
  s12 = rotr<u32>(s12 ^ s0, 8); s13 = rotr<u32>(s13 ^ s1, 8); s14 = rotr<u32>(s14 ^ s2, 8); s15 = rotr<u32>(s15 ^ s3, 8);
  s8 = s8 + s12; s9 = s9 + s13; s10 = s10 + s14; s11 = s11 + s15;
  s4 = rotr<u32>(s4 ^ s8, 7); s5 = rotr<u32>(s5 ^ s9, 7); s6 = rotr<u32>(s6 ^ s10, 7); s7 = rotr<u32>(s7 ^ s11, 7);
  s0 = s0 + w6 + s5; s1 = s1 + w9 + s6; s2 = s2 + w11 + s7; s3 = s3 + w8 + s4;
  s15 = rotr<u32>(s15 ^ s0, 16); s12 = rotr<u32>(s12 ^ s1, 16); s13 = rotr<u32>(s13 ^ s2, 16); s14 = rotr<u32>(s14 ^ s3, 16);
  s10 = s10 + s15; s11 = s11 + s12; s8 = s8 + s13; s9 = s9 + s14;
  s5 = rotr<u32>(s5 ^ s10, 12); s6 = rotr<u32>(s6 ^ s11, 12); s7 = rotr<u32>(s7 ^ s8, 12); s4 = rotr<u32>(s4 ^ s9, 12);
  s0 = s0 + w5 + s5; s1 = s1 + w0 + s6; s2 = s2 + w15 + s7; s3 = s3 + w1 + s4;
  s15 = rotr<u32>(s15 ^ s0, 8); s12 = rotr<u32>(s12 ^ s1, 8); s13 = rotr<u32>(s13 ^ s2, 8); s14 = rotr<u32>(s14 ^ s3, 8);
  s10 = s10 + s15; s11 = s11 + s12; s8 = s8 + s13; s9 = s9 + s14;
  s5 = rotr<u32>(s5 ^ s10, 7); s6 = rotr<u32>(s6 ^ s11, 7); s7 = rotr<u32>(s7 ^ s8, 7); s4 = rotr<u32>(s4 ^ s9, 7);
  // round 3: message words 10 7 12 9 14 3 13 15 4 0 11 2 5 8 1 6
  s0 = s0 + w10 + s4; s1 = s1 + w12 + s5; s2 = s2 + w14 + s6; s3 = s3 + w13 + s7;
  s12 = rotr<u32>(s12 ^ s0, 16); s13 = rotr<u32>(s13 ^ s1, 16); s14 = rotr<u32>(s14 ^ s2, 16); s15 = rotr<u32>(s15 ^ s3, 16);
  s8 = s8 + s12; s9 = s9 + s13; s10 = s10 + s14; s11 = s11 + s15;
  s4 = rotr<u32>(s4 ^ s8, 12); s5 = rotr<u32>(s5 ^ s9, 12); s6 = rotr<u32>(s6 ^ s10, 12); s7 = rotr<u32>(s7 ^ s11, 12);
  s0 = s0 + w7 + s4; s1 = s1 + w9 + s5; s2 = s2 + w3 + s6; s3 = s3 + w15 + s7;
  s12 = rotr<u32>(s12 ^ s0, 8); s13 = rotr<u32>(s13 ^ s1, 8); s14 = rotr<u32>(s14 ^ s2, 8); s15 = rotr<u32>(s15 ^ s3, 8);
  s8 = s8 + s12; s9 = s9 + s13; s10 = s10 + s14; s11 = s11 + s15;
  s4 = rotr<u32>(s4 ^ s8, 7); s5 = rotr<u32>(s5 ^ s9, 7); s6 = rotr<u32>(s6 ^ s10, 7); s7 = rotr<u32>(s7 ^ s11, 7);
  s0 = s0 + w4 + s5; s1 = s1 + w11 + s6; s2 = s2 + w5 + s7; s3 = s3 + w1 + s4;
  s15 = rotr<u32>(s15 ^ s0, 16); s12 = rotr<u32>(s12 ^ s1, 16); s13 = rotr<u32>(s13 ^ s2, 16); s14 = rotr<u32>(s14 ^ s3, 16);
  s10 = s10 + s15; s11 = s11 + s12; s8 = s8 + s13; s9 = s9 + s14;
  s5 = rotr<u32>(s5 ^ s10, 12); s6 = rotr<u32>(s6 ^ s11, 12); s7 = rotr<u32>(s7 ^ s8, 12); s4 = rotr<u32>(s4 ^ s9, 12);
  s0 = s0 + w0 + s5; s1 = s1 + w2 + s6; s2 = s2 + w8 + s7; s3 = s3 + w6 + s4;
  s15 = rotr<u32>(s15 ^ s0, 8); s12 = rotr<u32>(s12 ^ s1, 8); s13 = rotr<u32>(s13 ^ s2, 8); s14 = rotr<u32>(s14 ^ s3, 8);
  s10 = s10 + s15; s11 = s11 + s12; s8 = s8 + s13; s9 = s9 + s14;
  s5 = rotr<u32>(s5 ^ s10, 7); s6 = rotr<u32>(s6 ^ s11, 7); s7 = rotr<u32>(s7 ^ s8, 7); s4 = rotr<u32>(s4 ^ s9, 7);
  // round 4: message words 12 13 9 11 15 10 14 8 7 2 5 3 0 1 6 4
  s0 = s0 + w12 + s4; s1 = s1 + w9 + s5; s2 = s2 + w15 + s6; s3 = s3 + w14 + s7;
  s12 = rotr<u32>(s12 ^ s0, 16); s13 = rotr<u32>(s13 ^ s1, 16); s14 = rotr<u32>(s14 ^ s2, 16); s15 = rotr<u32>(s15 ^ s3, 16);
  s8 = s8 + s12; s9 = s9 + s13; s10 = s10 + s14; s11 = s11 + s15;
  s4 = rotr<u32>(s4 ^ s8, 12); s5 = rotr<u32>(s5 ^ s9, 12); s6 = rotr<u32>(s6 ^ s10, 12); s7 = rotr<u32>(s7 ^ s11, 12);
  s0 = s0 + w13 + s4; s1 = s1 + w11 + s5; s2 = s2 + w10 + s6; s3 = s3 + w8 + s7;
  s12 = rotr<u32>(s12 ^ s0, 8); s13 = rotr<u32>(s13 ^ s1, 8); s14 = rotr<u32>(s14 ^ s2, 8); s15 = rotr<u32>(s15 ^ s3, 8);
  s8 = s8 + s12; s9 = s9 + s13; s10 = s10 + s14; s11 = s11 + s15;
  s4 = rotr<u32>(s4 ^ s8, 7); s5 = rotr<u32>(s5 ^ s9, 7); s6 = rotr<u32>(s6 ^ s10, 7); s7 = rotr<u32>(s7 ^ s11, 7);
  s0 = s0 + w7 + s5; s1 = s1 + w5 + s6; s2 = s2 + w0 + s7; s3 = s3 + w6 + s4;
  s15 = rotr<u32>(s15 ^ s0, 16); s12 = rotr<u32>(s12 ^ s1, 16); s13 = rotr<u32>(s13 ^ s2, 16); s14 = rotr<u32>(s14 ^ s3, 16);
  s10 = s10 + s15; s11 = s11 + s12; s8 = s8 + s13; s9 = s9 + s14;
  s5 = rotr<u32>(s5 ^ s10, 12); s6 = rotr<u32>(s6 ^ s11, 12); s7 = rotr<u32>(s7 ^ s8, 12); s4 = rotr<u32>(s4 ^ s9, 12);
  s0 = s0 + w2 + s5; s1 = s1 + w3 + s6; s2 = s2 + w1 + s7; s3 = s3 + w4 + s4;
  s15 = rotr<u32>(s15 ^ s0, 8); s12 = rotr<u32>(s12 ^ s1, 8); s13 = rotr<u32>(s13 ^ s2, 8); s14 = rotr<u32>(s14 ^ s3, 8);
  s10 = s10 + s15; s11 = s11 + s12; s8 = s8 + s13; s9 = s9 + s14;
  s5 = rotr<u32>(s5 ^ s10, 7); s6 = rotr<u32>(s6 ^ s11, 7); s7 = rotr<u32>(s7 ^ s8, 7); s4 = rotr<u32>(s4 ^ s9, 7);
  // round 5: message words 9 14 11 5 8 12 15 1 13 3 0 10 2 6 4 7
  s0 = s0 + w9 + s4; s1 = s1 + w11 + s5; s2 = s2 + w8 + s6; s3 = s3 + w15 + s7;
  s12 = rotr<u32>(s12 ^ s0, 16); s13 = rotr<u32>(s13 ^ s1, 16); s14 = rotr<u32>(s14 ^ s2, 16); s15 = rotr<u32>(s15 ^ s3, 16);
  s8 = s8 + s12; s9 = s9 + s13; s10 = s10 + s14; s11 = s11 + s15;
  s4 = rotr<u32>(s4 ^ s8, 12); s5 = rotr<u32>(s5 ^ s9, 12); s6 = rotr<u32>(s6 ^ s10, 12); s7 = rotr<u32>(s7 ^ s11, 12);
  s0 = s0 + w14 + s4; s1 = s1 + w5 + s5; s2 = s2 + w12 + s6; s3 = s3 + w1 + s7;
  s12 = rotr<u32>(s12 ^ s0, 8); s13 = rotr<u32>(s13 ^ s1, 8); s14 = rotr<u32>(s14 ^ s2, 8); s15 = rotr<u32>(s15 ^ s3, 8);
  s8 = s8 + s12; s9 = s9 + s13; s10 = s10 + s14; s11 = s11 + s15;
  s4 = rotr<u32>(s4 ^ s8, 7); s5 = rotr<u32>(s5 ^ s9, 7); s6 = rotr<u32>(s6 ^ s10, 7); s7 = rotr<u32>(s7 ^ s11, 7);
  s0 = s0 + w13 + s5; s1 = s1 + w0 + s6; s2 = s2 + w2 + s7; s3 = s3 + w4 + s4;
  s15 = rotr<u32>(s15 ^ s0, 16); s12 = rotr<u32>(s12 ^ s1, 16); s13 = rotr<u32>(s13 ^ s2, 16); s14 = rotr<u32>(s14 ^ s3, 16);
  s10 = s10 + s15; s11 = s11 + s12; s8 = s8 + s13; s9 = s9 + s14;
  s5 = rotr<u32>(s5 ^ s10, 12); s6 = rotr<u32>(s6 ^ s11, 12); s7 = rotr<u32>(s7 ^ s8, 12); s4 = rotr<u32>(s4 ^ s9, 12);
  s0 = s0 + w3 + s5; s1 = s1 + w10 + s6; s2 = s2 + w6 + s7; s3 = s3 + w7 + s4;
  s15 = rotr<u32>(s15 ^ s0, 8); s12 = rotr<u32>(s12 ^ s1, 8); s13 = rotr<u32>(s13 ^ s2, 8); s14 = rotr<u32>(s14 ^ s3, 8);
  s10 = s10 + s15; s11 = s11 + s12; s8 = s8 + s13; s9 = s9 + s14;
  s5 = rotr<u32>(s5 ^ s10, 7); s6 = rotr<u32>(s6 ^ s11, 7); s7 = rotr<u32>(s7 ^ s8, 7); s4 = rotr<u32>(s4 ^ s9, 7);
  // round 6: message words 11 15 5 0 1 9 8 6 14 10 2 12 3 4 7 13
  s0 = s0 + w11 + s4; s1 = s1 + w5 + s5; s2 = s2 + w1 + s6; s3 = s3 + w8 + s7;
  s12 = rotr<u32>(s12 ^ s0, 16); s13 = rotr<u32>(s13 ^ s1, 16); s14 = rotr<u32>(s14 ^ s2, 16); s15 = rotr<u32>(s15 ^ s3, 16);
  s8 = s8 + s12; s9 = s9 + s13; s10 = s10 + s14; s11 = s11 + s15;
  s4 = rotr<u32>(s4 ^ s8, 12); s5 = rotr<u32>(s5 ^ s9, 12); s6 = rotr<u32>(s6 ^ s10, 12); s7 = rotr<u32>(s7 ^ s11, 12);
  s0 = s0 + w15 + s4; s1 = s1 + w0 + s5; s2 = s2 + w9 + s6; s3 = s3 + w6 + s7;
  s12 = rotr<u32>(s12 ^ s0, 8); s13 = rotr<u32>(s13 ^ s1, 8); s14 = rotr<u32>(s14 ^ s2, 8); s15 = rotr<u32>(s15 ^ s3, 8);
  s8 = s8 + s12; s9 = s9 + s13; s10 = s10 + s14; s11 = s11 + s15;
  s4 = rotr<u32>(s4 ^ s8, 7); s5 = rotr<u32>(s5 ^ s9, 7); s6 = rotr<u32>(s6 ^ s10, 7); s7 = rotr<u32>(s7 ^ s11, 7);
  s0 = s0 + w14 + s5; s1 = s1 + w2 + s6; s2 = s2 + w3 + s7; s3 = s3 + w7 + s4;
  s15 = rotr<u32>(s15 ^ s0, 16); s12 = rotr<u32>(s12 ^ s1, 16); s13 = rotr<u32>(s13 ^ s2, 16); s14 = rotr<u32>(s14 ^ s3, 16);
  s10 = s10 + s15; s11 = s11 + s12; s8 = s8 + s13; s9 = s9 + s14;
  s5 = rotr<u32>(s5 ^ s10, 12); s6 = rotr<u32>(s6 ^ s11, 12); s7 = rotr<u32>(s7 ^ s8, 12); s4 = rotr<u32>(s4 ^ s9, 12);
  s0 = s0 + w10 + s5; s1 = s1 + w12 + s6; s2 = s2 + w4 + s7; s3 = s3 + w13 + s4;
  s15 = rotr<u32>(s15 ^ s0, 8); s12 = rotr<u32>(s12 ^ s1, 8); s13 = rotr<u32>(s13 ^ s2, 8); s14 = rotr<u32>(s14 ^ s3, 8);
  s10 = s10 + s15; s11 = s11 + s12; s8 = s8 + s13; s9 = s9 + s14;
  s5 = rotr<u32>(s5 ^ s10, 7); s6 = rotr<u32>(s6 ^ s11, 7); s7 = rotr<u32>(s7 ^ s8, 7); s4 = rotr<u32>(s4 ^ s9, 7);
  store<u32>(cvOut, s0 ^ s8, 0);
  store<u32>(cvOut, s1 ^ s9, 4);
  store<u32>(cvOut, s2 ^ s10, 8);
  store<u32>(cvOut, s3 ^ s11, 12);
  store<u32>(cvOut, s4 ^ s12, 16);
  store<u32>(cvOut, s5 ^ s13, 20);
  store<u32>(cvOut, s6 ^ s14, 24);
  store<u32>(cvOut, s7 ^ s15, 28);
}

/**
 * Chaining value of one chunk of `len` bytes (0..1024; 0 only for the empty input) at `ptr`,
 * hashed as chunk number `counter`; `extra` (ROOT or 0) is added to the last block's flags.
 */
function chunkCv(ptr: usize, len: usize, counter: u64, extra: u32, out: usize): void {
  memory.copy(out, KEY, 32);
  const blocks: usize = len == 0 ? 1 : (len + 63) >> 6;
  for (let b: usize = 0; b < blocks; b++) {
    let flags: u32 = b == 0 ? CHUNK_START : 0;
    let bp = ptr + (b << 6);
    let blen: u32 = 64;
    if (b == blocks - 1) {
      flags |= CHUNK_END | extra;
      blen = <u32>(len - (b << 6));
      if (blen < 64) {
        memory.fill(PAD, 0, 64);
        memory.copy(PAD, bp, blen);
        bp = PAD;
      }
    }
    compress(out, bp, counter, blen, flags, out);
  }
}

// ---------------------------------------------------------------------------------------------
// 4-way SIMD hashing.
// (An 8-way variant interleaving two groups of four measured slower in V8 because of register spills.)

// @ts-ignore: decorator
@inline function rotr16(x: v128): v128 {
  return i8x16.swizzle(x, i8x16(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13));
}

// @ts-ignore: decorator
@inline function rotr12(x: v128): v128 {
  return v128.or(i32x4.shr_u(x, 12), i32x4.shl(x, 20));
}

// @ts-ignore: decorator
@inline function rotr8(x: v128): v128 {
  return i8x16.swizzle(x, i8x16(1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12));
}

// @ts-ignore: decorator
@inline function rotr7(x: v128): v128 {
  return v128.or(i32x4.shr_u(x, 7), i32x4.shl(x, 25));
}

/**
 * Hash 4 inputs of `blocks` 64-byte blocks each (input i at inp + i * stride) from the key, and
 * store their 4 chaining values (32 bytes each, consecutively) at `out`.
 * Input i uses counter + i * step (step 1 for chunks, 0 for parents).
 * Every block gets `flags`; the first also gets `first` and the last also gets `last`.
 * All input of a block is loaded before anything is stored, so `out` may overlap the input when
 * blocks == 1 (in-place parent reduction).
 */
function hash4(inp: usize, stride: usize, blocks: i32, counter: u64, step: u64, flags: u32, first: u32, last: u32, out: usize): void {
  const blockLen = i32x4.splat(64);
  const n0 = counter, n1 = counter + step, n2 = counter + 2 * step, n3 = counter + 3 * step;
  const lo = i32x4.replace_lane(i32x4.replace_lane(i32x4.replace_lane(i32x4.splat(<i32>n0), 1, <i32>n1), 2, <i32>n2), 3, <i32>n3);
  const hi = i32x4.replace_lane(i32x4.replace_lane(i32x4.replace_lane(i32x4.splat(<i32>(n0 >>> 32)), 1, <i32>(n1 >>> 32)), 2, <i32>(n2 >>> 32)), 3, <i32>(n3 >>> 32));
  let h0 = i32x4.splat(load<i32>(KEY, 0));
  let h1 = i32x4.splat(load<i32>(KEY, 4));
  let h2 = i32x4.splat(load<i32>(KEY, 8));
  let h3 = i32x4.splat(load<i32>(KEY, 12));
  let h4 = i32x4.splat(load<i32>(KEY, 16));
  let h5 = i32x4.splat(load<i32>(KEY, 20));
  let h6 = i32x4.splat(load<i32>(KEY, 24));
  let h7 = i32x4.splat(load<i32>(KEY, 28));
  let p = inp;
  for (let b = 0; b < blocks; b++) {
    const p0 = p, p1 = p0 + stride, p2 = p1 + stride, p3 = p2 + stride;
    // message words 0..3 of inputs 0..3, transposed to one word per vector
    const a0 = v128.load(p0, 0), b0 = v128.load(p1, 0), c0 = v128.load(p2, 0), d0 = v128.load(p3, 0);
    const t00 = v128.shuffle<i32>(a0, b0, 0, 4, 1, 5), t01 = v128.shuffle<i32>(a0, b0, 2, 6, 3, 7);
    const t02 = v128.shuffle<i32>(c0, d0, 0, 4, 1, 5), t03 = v128.shuffle<i32>(c0, d0, 2, 6, 3, 7);
    const m0 = v128.shuffle<i64>(t00, t02, 0, 2); const m1 = v128.shuffle<i64>(t00, t02, 1, 3);
    const m2 = v128.shuffle<i64>(t01, t03, 0, 2); const m3 = v128.shuffle<i64>(t01, t03, 1, 3);
    // message words 4..7 of inputs 0..3, transposed to one word per vector
    const a1 = v128.load(p0, 16), b1 = v128.load(p1, 16), c1 = v128.load(p2, 16), d1 = v128.load(p3, 16);
    const t10 = v128.shuffle<i32>(a1, b1, 0, 4, 1, 5), t11 = v128.shuffle<i32>(a1, b1, 2, 6, 3, 7);
    const t12 = v128.shuffle<i32>(c1, d1, 0, 4, 1, 5), t13 = v128.shuffle<i32>(c1, d1, 2, 6, 3, 7);
    const m4 = v128.shuffle<i64>(t10, t12, 0, 2); const m5 = v128.shuffle<i64>(t10, t12, 1, 3);
    const m6 = v128.shuffle<i64>(t11, t13, 0, 2); const m7 = v128.shuffle<i64>(t11, t13, 1, 3);
    // message words 8..11 of inputs 0..3, transposed to one word per vector
    const a2 = v128.load(p0, 32), b2 = v128.load(p1, 32), c2 = v128.load(p2, 32), d2 = v128.load(p3, 32);
    const t20 = v128.shuffle<i32>(a2, b2, 0, 4, 1, 5), t21 = v128.shuffle<i32>(a2, b2, 2, 6, 3, 7);
    const t22 = v128.shuffle<i32>(c2, d2, 0, 4, 1, 5), t23 = v128.shuffle<i32>(c2, d2, 2, 6, 3, 7);
    const m8 = v128.shuffle<i64>(t20, t22, 0, 2); const m9 = v128.shuffle<i64>(t20, t22, 1, 3);
    const m10 = v128.shuffle<i64>(t21, t23, 0, 2); const m11 = v128.shuffle<i64>(t21, t23, 1, 3);
    // message words 12..15 of inputs 0..3, transposed to one word per vector
    const a3 = v128.load(p0, 48), b3 = v128.load(p1, 48), c3 = v128.load(p2, 48), d3 = v128.load(p3, 48);
    const t30 = v128.shuffle<i32>(a3, b3, 0, 4, 1, 5), t31 = v128.shuffle<i32>(a3, b3, 2, 6, 3, 7);
    const t32 = v128.shuffle<i32>(c3, d3, 0, 4, 1, 5), t33 = v128.shuffle<i32>(c3, d3, 2, 6, 3, 7);
    const m12 = v128.shuffle<i64>(t30, t32, 0, 2); const m13 = v128.shuffle<i64>(t30, t32, 1, 3);
    const m14 = v128.shuffle<i64>(t31, t33, 0, 2); const m15 = v128.shuffle<i64>(t31, t33, 1, 3);
    let f = flags;
    if (b == 0) f |= first;
    if (b == blocks - 1) f |= last;
    const fv = i32x4.splat(f);
    let v0 = h0;
    let v1 = h1;
    let v2 = h2;
    let v3 = h3;
    let v4 = h4;
    let v5 = h5;
    let v6 = h6;
    let v7 = h7;
    let v8 = i32x4.splat(IV0), v9 = i32x4.splat(IV1), v10 = i32x4.splat(IV2), v11 = i32x4.splat(IV3);
    let v12 = lo, v13 = hi, v14 = blockLen, v15 = fv;
    // round 0: message words 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
    v0 = i32x4.add(i32x4.add(v0, m0), v4); v1 = i32x4.add(i32x4.add(v1, m2), v5); v2 = i32x4.add(i32x4.add(v2, m4), v6); v3 = i32x4.add(i32x4.add(v3, m6), v7);
    v12 = rotr16(v128.xor(v12, v0)); v13 = rotr16(v128.xor(v13, v1)); v14 = rotr16(v128.xor(v14, v2)); v15 = rotr16(v128.xor(v15, v3));
    v8 = i32x4.add(v8, v12); v9 = i32x4.add(v9, v13); v10 = i32x4.add(v10, v14); v11 = i32x4.add(v11, v15);
    v4 = rotr12(v128.xor(v4, v8)); v5 = rotr12(v128.xor(v5, v9)); v6 = rotr12(v128.xor(v6, v10)); v7 = rotr12(v128.xor(v7, v11));
    v0 = i32x4.add(i32x4.add(v0, m1), v4); v1 = i32x4.add(i32x4.add(v1, m3), v5); v2 = i32x4.add(i32x4.add(v2, m5), v6); v3 = i32x4.add(i32x4.add(v3, m7), v7);
    v12 = rotr8(v128.xor(v12, v0)); v13 = rotr8(v128.xor(v13, v1)); v14 = rotr8(v128.xor(v14, v2)); v15 = rotr8(v128.xor(v15, v3));
    v8 = i32x4.add(v8, v12); v9 = i32x4.add(v9, v13); v10 = i32x4.add(v10, v14); v11 = i32x4.add(v11, v15);
    v4 = rotr7(v128.xor(v4, v8)); v5 = rotr7(v128.xor(v5, v9)); v6 = rotr7(v128.xor(v6, v10)); v7 = rotr7(v128.xor(v7, v11));
    v0 = i32x4.add(i32x4.add(v0, m8), v5); v1 = i32x4.add(i32x4.add(v1, m10), v6); v2 = i32x4.add(i32x4.add(v2, m12), v7); v3 = i32x4.add(i32x4.add(v3, m14), v4);
    v15 = rotr16(v128.xor(v15, v0)); v12 = rotr16(v128.xor(v12, v1)); v13 = rotr16(v128.xor(v13, v2)); v14 = rotr16(v128.xor(v14, v3));
    v10 = i32x4.add(v10, v15); v11 = i32x4.add(v11, v12); v8 = i32x4.add(v8, v13); v9 = i32x4.add(v9, v14);
    v5 = rotr12(v128.xor(v5, v10)); v6 = rotr12(v128.xor(v6, v11)); v7 = rotr12(v128.xor(v7, v8)); v4 = rotr12(v128.xor(v4, v9));
    v0 = i32x4.add(i32x4.add(v0, m9), v5); v1 = i32x4.add(i32x4.add(v1, m11), v6); v2 = i32x4.add(i32x4.add(v2, m13), v7); v3 = i32x4.add(i32x4.add(v3, m15), v4);
    v15 = rotr8(v128.xor(v15, v0)); v12 = rotr8(v128.xor(v12, v1)); v13 = rotr8(v128.xor(v13, v2)); v14 = rotr8(v128.xor(v14, v3));
    v10 = i32x4.add(v10, v15); v11 = i32x4.add(v11, v12); v8 = i32x4.add(v8, v13); v9 = i32x4.add(v9, v14);
    v5 = rotr7(v128.xor(v5, v10)); v6 = rotr7(v128.xor(v6, v11)); v7 = rotr7(v128.xor(v7, v8)); v4 = rotr7(v128.xor(v4, v9));
    // round 1: message words 2 6 3 10 7 0 4 13 1 11 12 5 9 14 15 8
    v0 = i32x4.add(i32x4.add(v0, m2), v4); v1 = i32x4.add(i32x4.add(v1, m3), v5); v2 = i32x4.add(i32x4.add(v2, m7), v6); v3 = i32x4.add(i32x4.add(v3, m4), v7);
    v12 = rotr16(v128.xor(v12, v0)); v13 = rotr16(v128.xor(v13, v1)); v14 = rotr16(v128.xor(v14, v2)); v15 = rotr16(v128.xor(v15, v3));
    v8 = i32x4.add(v8, v12); v9 = i32x4.add(v9, v13); v10 = i32x4.add(v10, v14); v11 = i32x4.add(v11, v15);
    v4 = rotr12(v128.xor(v4, v8)); v5 = rotr12(v128.xor(v5, v9)); v6 = rotr12(v128.xor(v6, v10)); v7 = rotr12(v128.xor(v7, v11));
    v0 = i32x4.add(i32x4.add(v0, m6), v4); v1 = i32x4.add(i32x4.add(v1, m10), v5); v2 = i32x4.add(i32x4.add(v2, m0), v6); v3 = i32x4.add(i32x4.add(v3, m13), v7);
    v12 = rotr8(v128.xor(v12, v0)); v13 = rotr8(v128.xor(v13, v1)); v14 = rotr8(v128.xor(v14, v2)); v15 = rotr8(v128.xor(v15, v3));
    v8 = i32x4.add(v8, v12); v9 = i32x4.add(v9, v13); v10 = i32x4.add(v10, v14); v11 = i32x4.add(v11, v15);
    v4 = rotr7(v128.xor(v4, v8)); v5 = rotr7(v128.xor(v5, v9)); v6 = rotr7(v128.xor(v6, v10)); v7 = rotr7(v128.xor(v7, v11));
    v0 = i32x4.add(i32x4.add(v0, m1), v5); v1 = i32x4.add(i32x4.add(v1, m12), v6); v2 = i32x4.add(i32x4.add(v2, m9), v7); v3 = i32x4.add(i32x4.add(v3, m15), v4);
    v15 = rotr16(v128.xor(v15, v0)); v12 = rotr16(v128.xor(v12, v1)); v13 = rotr16(v128.xor(v13, v2)); v14 = rotr16(v128.xor(v14, v3));
    v10 = i32x4.add(v10, v15); v11 = i32x4.add(v11, v12); v8 = i32x4.add(v8, v13); v9 = i32x4.add(v9, v14);
    v5 = rotr12(v128.xor(v5, v10)); v6 = rotr12(v128.xor(v6, v11)); v7 = rotr12(v128.xor(v7, v8)); v4 = rotr12(v128.xor(v4, v9));
    v0 = i32x4.add(i32x4.add(v0, m11), v5); v1 = i32x4.add(i32x4.add(v1, m5), v6); v2 = i32x4.add(i32x4.add(v2, m14), v7); v3 = i32x4.add(i32x4.add(v3, m8), v4);
    v15 = rotr8(v128.xor(v15, v0)); v12 = rotr8(v128.xor(v12, v1)); v13 = rotr8(v128.xor(v13, v2)); v14 = rotr8(v128.xor(v14, v3));
    v10 = i32x4.add(v10, v15); v11 = i32x4.add(v11, v12); v8 = i32x4.add(v8, v13); v9 = i32x4.add(v9, v14);
    v5 = rotr7(v128.xor(v5, v10)); v6 = rotr7(v128.xor(v6, v11)); v7 = rotr7(v128.xor(v7, v8)); v4 = rotr7(v128.xor(v4, v9));
    // round 2: message words 3 4 10 12 13 2 7 14 6 5 9 0 11 15 8 1
    v0 = i32x4.add(i32x4.add(v0, m3), v4); v1 = i32x4.add(i32x4.add(v1, m10), v5); v2 = i32x4.add(i32x4.add(v2, m13), v6); v3 = i32x4.add(i32x4.add(v3, m7), v7);
    v12 = rotr16(v128.xor(v12, v0)); v13 = rotr16(v128.xor(v13, v1)); v14 = rotr16(v128.xor(v14, v2)); v15 = rotr16(v128.xor(v15, v3));
    v8 = i32x4.add(v8, v12); v9 = i32x4.add(v9, v13); v10 = i32x4.add(v10, v14); v11 = i32x4.add(v11, v15);
    v4 = rotr12(v128.xor(v4, v8)); v5 = rotr12(v128.xor(v5, v9)); v6 = rotr12(v128.xor(v6, v10)); v7 = rotr12(v128.xor(v7, v11));
    v0 = i32x4.add(i32x4.add(v0, m4), v4); v1 = i32x4.add(i32x4.add(v1, m12), v5); v2 = i32x4.add(i32x4.add(v2, m2), v6); v3 = i32x4.add(i32x4.add(v3, m14), v7);
    v12 = rotr8(v128.xor(v12, v0)); v13 = rotr8(v128.xor(v13, v1)); v14 = rotr8(v128.xor(v14, v2)); v15 = rotr8(v128.xor(v15, v3));
    v8 = i32x4.add(v8, v12); v9 = i32x4.add(v9, v13); v10 = i32x4.add(v10, v14); v11 = i32x4.add(v11, v15);
    v4 = rotr7(v128.xor(v4, v8)); v5 = rotr7(v128.xor(v5, v9)); v6 = rotr7(v128.xor(v6, v10)); v7 = rotr7(v128.xor(v7, v11));
    v0 = i32x4.add(i32x4.add(v0, m6), v5); v1 = i32x4.add(i32x4.add(v1, m9), v6); v2 = i32x4.add(i32x4.add(v2, m11), v7); v3 = i32x4.add(i32x4.add(v3, m8), v4);
    v15 = rotr16(v128.xor(v15, v0)); v12 = rotr16(v128.xor(v12, v1)); v13 = rotr16(v128.xor(v13, v2)); v14 = rotr16(v128.xor(v14, v3));
    v10 = i32x4.add(v10, v15); v11 = i32x4.add(v11, v12); v8 = i32x4.add(v8, v13); v9 = i32x4.add(v9, v14);
    v5 = rotr12(v128.xor(v5, v10)); v6 = rotr12(v128.xor(v6, v11)); v7 = rotr12(v128.xor(v7, v8)); v4 = rotr12(v128.xor(v4, v9));
    v0 = i32x4.add(i32x4.add(v0, m5), v5); v1 = i32x4.add(i32x4.add(v1, m0), v6); v2 = i32x4.add(i32x4.add(v2, m15), v7); v3 = i32x4.add(i32x4.add(v3, m1), v4);
    v15 = rotr8(v128.xor(v15, v0)); v12 = rotr8(v128.xor(v12, v1)); v13 = rotr8(v128.xor(v13, v2)); v14 = rotr8(v128.xor(v14, v3));
    v10 = i32x4.add(v10, v15); v11 = i32x4.add(v11, v12); v8 = i32x4.add(v8, v13); v9 = i32x4.add(v9, v14);
    v5 = rotr7(v128.xor(v5, v10)); v6 = rotr7(v128.xor(v6, v11)); v7 = rotr7(v128.xor(v7, v8)); v4 = rotr7(v128.xor(v4, v9));
    // round 3: message words 10 7 12 9 14 3 13 15 4 0 11 2 5 8 1 6
    v0 = i32x4.add(i32x4.add(v0, m10), v4); v1 = i32x4.add(i32x4.add(v1, m12), v5); v2 = i32x4.add(i32x4.add(v2, m14), v6); v3 = i32x4.add(i32x4.add(v3, m13), v7);
    v12 = rotr16(v128.xor(v12, v0)); v13 = rotr16(v128.xor(v13, v1)); v14 = rotr16(v128.xor(v14, v2)); v15 = rotr16(v128.xor(v15, v3));
    v8 = i32x4.add(v8, v12); v9 = i32x4.add(v9, v13); v10 = i32x4.add(v10, v14); v11 = i32x4.add(v11, v15);
    v4 = rotr12(v128.xor(v4, v8)); v5 = rotr12(v128.xor(v5, v9)); v6 = rotr12(v128.xor(v6, v10)); v7 = rotr12(v128.xor(v7, v11));
    v0 = i32x4.add(i32x4.add(v0, m7), v4); v1 = i32x4.add(i32x4.add(v1, m9), v5); v2 = i32x4.add(i32x4.add(v2, m3), v6); v3 = i32x4.add(i32x4.add(v3, m15), v7);
    v12 = rotr8(v128.xor(v12, v0)); v13 = rotr8(v128.xor(v13, v1)); v14 = rotr8(v128.xor(v14, v2)); v15 = rotr8(v128.xor(v15, v3));
    v8 = i32x4.add(v8, v12); v9 = i32x4.add(v9, v13); v10 = i32x4.add(v10, v14); v11 = i32x4.add(v11, v15);
    v4 = rotr7(v128.xor(v4, v8)); v5 = rotr7(v128.xor(v5, v9)); v6 = rotr7(v128.xor(v6, v10)); v7 = rotr7(v128.xor(v7, v11));
    v0 = i32x4.add(i32x4.add(v0, m4), v5); v1 = i32x4.add(i32x4.add(v1, m11), v6); v2 = i32x4.add(i32x4.add(v2, m5), v7); v3 = i32x4.add(i32x4.add(v3, m1), v4);
    v15 = rotr16(v128.xor(v15, v0)); v12 = rotr16(v128.xor(v12, v1)); v13 = rotr16(v128.xor(v13, v2)); v14 = rotr16(v128.xor(v14, v3));
    v10 = i32x4.add(v10, v15); v11 = i32x4.add(v11, v12); v8 = i32x4.add(v8, v13); v9 = i32x4.add(v9, v14);
    v5 = rotr12(v128.xor(v5, v10)); v6 = rotr12(v128.xor(v6, v11)); v7 = rotr12(v128.xor(v7, v8)); v4 = rotr12(v128.xor(v4, v9));
    v0 = i32x4.add(i32x4.add(v0, m0), v5); v1 = i32x4.add(i32x4.add(v1, m2), v6); v2 = i32x4.add(i32x4.add(v2, m8), v7); v3 = i32x4.add(i32x4.add(v3, m6), v4);
    v15 = rotr8(v128.xor(v15, v0)); v12 = rotr8(v128.xor(v12, v1)); v13 = rotr8(v128.xor(v13, v2)); v14 = rotr8(v128.xor(v14, v3));
    v10 = i32x4.add(v10, v15); v11 = i32x4.add(v11, v12); v8 = i32x4.add(v8, v13); v9 = i32x4.add(v9, v14);
    v5 = rotr7(v128.xor(v5, v10)); v6 = rotr7(v128.xor(v6, v11)); v7 = rotr7(v128.xor(v7, v8)); v4 = rotr7(v128.xor(v4, v9));
    // round 4: message words 12 13 9 11 15 10 14 8 7 2 5 3 0 1 6 4
    v0 = i32x4.add(i32x4.add(v0, m12), v4); v1 = i32x4.add(i32x4.add(v1, m9), v5); v2 = i32x4.add(i32x4.add(v2, m15), v6); v3 = i32x4.add(i32x4.add(v3, m14), v7);
    v12 = rotr16(v128.xor(v12, v0)); v13 = rotr16(v128.xor(v13, v1)); v14 = rotr16(v128.xor(v14, v2)); v15 = rotr16(v128.xor(v15, v3));
    v8 = i32x4.add(v8, v12); v9 = i32x4.add(v9, v13); v10 = i32x4.add(v10, v14); v11 = i32x4.add(v11, v15);
    v4 = rotr12(v128.xor(v4, v8)); v5 = rotr12(v128.xor(v5, v9)); v6 = rotr12(v128.xor(v6, v10)); v7 = rotr12(v128.xor(v7, v11));
    v0 = i32x4.add(i32x4.add(v0, m13), v4); v1 = i32x4.add(i32x4.add(v1, m11), v5); v2 = i32x4.add(i32x4.add(v2, m10), v6); v3 = i32x4.add(i32x4.add(v3, m8), v7);
    v12 = rotr8(v128.xor(v12, v0)); v13 = rotr8(v128.xor(v13, v1)); v14 = rotr8(v128.xor(v14, v2)); v15 = rotr8(v128.xor(v15, v3));
    v8 = i32x4.add(v8, v12); v9 = i32x4.add(v9, v13); v10 = i32x4.add(v10, v14); v11 = i32x4.add(v11, v15);
    v4 = rotr7(v128.xor(v4, v8)); v5 = rotr7(v128.xor(v5, v9)); v6 = rotr7(v128.xor(v6, v10)); v7 = rotr7(v128.xor(v7, v11));
    v0 = i32x4.add(i32x4.add(v0, m7), v5); v1 = i32x4.add(i32x4.add(v1, m5), v6); v2 = i32x4.add(i32x4.add(v2, m0), v7); v3 = i32x4.add(i32x4.add(v3, m6), v4);
    v15 = rotr16(v128.xor(v15, v0)); v12 = rotr16(v128.xor(v12, v1)); v13 = rotr16(v128.xor(v13, v2)); v14 = rotr16(v128.xor(v14, v3));
    v10 = i32x4.add(v10, v15); v11 = i32x4.add(v11, v12); v8 = i32x4.add(v8, v13); v9 = i32x4.add(v9, v14);
    v5 = rotr12(v128.xor(v5, v10)); v6 = rotr12(v128.xor(v6, v11)); v7 = rotr12(v128.xor(v7, v8)); v4 = rotr12(v128.xor(v4, v9));
    v0 = i32x4.add(i32x4.add(v0, m2), v5); v1 = i32x4.add(i32x4.add(v1, m3), v6); v2 = i32x4.add(i32x4.add(v2, m1), v7); v3 = i32x4.add(i32x4.add(v3, m4), v4);
    v15 = rotr8(v128.xor(v15, v0)); v12 = rotr8(v128.xor(v12, v1)); v13 = rotr8(v128.xor(v13, v2)); v14 = rotr8(v128.xor(v14, v3));
    v10 = i32x4.add(v10, v15); v11 = i32x4.add(v11, v12); v8 = i32x4.add(v8, v13); v9 = i32x4.add(v9, v14);
    v5 = rotr7(v128.xor(v5, v10)); v6 = rotr7(v128.xor(v6, v11)); v7 = rotr7(v128.xor(v7, v8)); v4 = rotr7(v128.xor(v4, v9));
    // round 5: message words 9 14 11 5 8 12 15 1 13 3 0 10 2 6 4 7
    v0 = i32x4.add(i32x4.add(v0, m9), v4); v1 = i32x4.add(i32x4.add(v1, m11), v5); v2 = i32x4.add(i32x4.add(v2, m8), v6); v3 = i32x4.add(i32x4.add(v3, m15), v7);
    v12 = rotr16(v128.xor(v12, v0)); v13 = rotr16(v128.xor(v13, v1)); v14 = rotr16(v128.xor(v14, v2)); v15 = rotr16(v128.xor(v15, v3));
    v8 = i32x4.add(v8, v12); v9 = i32x4.add(v9, v13); v10 = i32x4.add(v10, v14); v11 = i32x4.add(v11, v15);
    v4 = rotr12(v128.xor(v4, v8)); v5 = rotr12(v128.xor(v5, v9)); v6 = rotr12(v128.xor(v6, v10)); v7 = rotr12(v128.xor(v7, v11));
    v0 = i32x4.add(i32x4.add(v0, m14), v4); v1 = i32x4.add(i32x4.add(v1, m5), v5); v2 = i32x4.add(i32x4.add(v2, m12), v6); v3 = i32x4.add(i32x4.add(v3, m1), v7);
    v12 = rotr8(v128.xor(v12, v0)); v13 = rotr8(v128.xor(v13, v1)); v14 = rotr8(v128.xor(v14, v2)); v15 = rotr8(v128.xor(v15, v3));
    v8 = i32x4.add(v8, v12); v9 = i32x4.add(v9, v13); v10 = i32x4.add(v10, v14); v11 = i32x4.add(v11, v15);
    v4 = rotr7(v128.xor(v4, v8)); v5 = rotr7(v128.xor(v5, v9)); v6 = rotr7(v128.xor(v6, v10)); v7 = rotr7(v128.xor(v7, v11));
    v0 = i32x4.add(i32x4.add(v0, m13), v5); v1 = i32x4.add(i32x4.add(v1, m0), v6); v2 = i32x4.add(i32x4.add(v2, m2), v7); v3 = i32x4.add(i32x4.add(v3, m4), v4);
    v15 = rotr16(v128.xor(v15, v0)); v12 = rotr16(v128.xor(v12, v1)); v13 = rotr16(v128.xor(v13, v2)); v14 = rotr16(v128.xor(v14, v3));
    v10 = i32x4.add(v10, v15); v11 = i32x4.add(v11, v12); v8 = i32x4.add(v8, v13); v9 = i32x4.add(v9, v14);
    v5 = rotr12(v128.xor(v5, v10)); v6 = rotr12(v128.xor(v6, v11)); v7 = rotr12(v128.xor(v7, v8)); v4 = rotr12(v128.xor(v4, v9));
    v0 = i32x4.add(i32x4.add(v0, m3), v5); v1 = i32x4.add(i32x4.add(v1, m10), v6); v2 = i32x4.add(i32x4.add(v2, m6), v7); v3 = i32x4.add(i32x4.add(v3, m7), v4);
    v15 = rotr8(v128.xor(v15, v0)); v12 = rotr8(v128.xor(v12, v1)); v13 = rotr8(v128.xor(v13, v2)); v14 = rotr8(v128.xor(v14, v3));
    v10 = i32x4.add(v10, v15); v11 = i32x4.add(v11, v12); v8 = i32x4.add(v8, v13); v9 = i32x4.add(v9, v14);
    v5 = rotr7(v128.xor(v5, v10)); v6 = rotr7(v128.xor(v6, v11)); v7 = rotr7(v128.xor(v7, v8)); v4 = rotr7(v128.xor(v4, v9));
    // round 6: message words 11 15 5 0 1 9 8 6 14 10 2 12 3 4 7 13
    v0 = i32x4.add(i32x4.add(v0, m11), v4); v1 = i32x4.add(i32x4.add(v1, m5), v5); v2 = i32x4.add(i32x4.add(v2, m1), v6); v3 = i32x4.add(i32x4.add(v3, m8), v7);
    v12 = rotr16(v128.xor(v12, v0)); v13 = rotr16(v128.xor(v13, v1)); v14 = rotr16(v128.xor(v14, v2)); v15 = rotr16(v128.xor(v15, v3));
    v8 = i32x4.add(v8, v12); v9 = i32x4.add(v9, v13); v10 = i32x4.add(v10, v14); v11 = i32x4.add(v11, v15);
    v4 = rotr12(v128.xor(v4, v8)); v5 = rotr12(v128.xor(v5, v9)); v6 = rotr12(v128.xor(v6, v10)); v7 = rotr12(v128.xor(v7, v11));
    v0 = i32x4.add(i32x4.add(v0, m15), v4); v1 = i32x4.add(i32x4.add(v1, m0), v5); v2 = i32x4.add(i32x4.add(v2, m9), v6); v3 = i32x4.add(i32x4.add(v3, m6), v7);
    v12 = rotr8(v128.xor(v12, v0)); v13 = rotr8(v128.xor(v13, v1)); v14 = rotr8(v128.xor(v14, v2)); v15 = rotr8(v128.xor(v15, v3));
    v8 = i32x4.add(v8, v12); v9 = i32x4.add(v9, v13); v10 = i32x4.add(v10, v14); v11 = i32x4.add(v11, v15);
    v4 = rotr7(v128.xor(v4, v8)); v5 = rotr7(v128.xor(v5, v9)); v6 = rotr7(v128.xor(v6, v10)); v7 = rotr7(v128.xor(v7, v11));
    v0 = i32x4.add(i32x4.add(v0, m14), v5); v1 = i32x4.add(i32x4.add(v1, m2), v6); v2 = i32x4.add(i32x4.add(v2, m3), v7); v3 = i32x4.add(i32x4.add(v3, m7), v4);
    v15 = rotr16(v128.xor(v15, v0)); v12 = rotr16(v128.xor(v12, v1)); v13 = rotr16(v128.xor(v13, v2)); v14 = rotr16(v128.xor(v14, v3));
    v10 = i32x4.add(v10, v15); v11 = i32x4.add(v11, v12); v8 = i32x4.add(v8, v13); v9 = i32x4.add(v9, v14);
    v5 = rotr12(v128.xor(v5, v10)); v6 = rotr12(v128.xor(v6, v11)); v7 = rotr12(v128.xor(v7, v8)); v4 = rotr12(v128.xor(v4, v9));
    v0 = i32x4.add(i32x4.add(v0, m10), v5); v1 = i32x4.add(i32x4.add(v1, m12), v6); v2 = i32x4.add(i32x4.add(v2, m4), v7); v3 = i32x4.add(i32x4.add(v3, m13), v4);
    v15 = rotr8(v128.xor(v15, v0)); v12 = rotr8(v128.xor(v12, v1)); v13 = rotr8(v128.xor(v13, v2)); v14 = rotr8(v128.xor(v14, v3));
    v10 = i32x4.add(v10, v15); v11 = i32x4.add(v11, v12); v8 = i32x4.add(v8, v13); v9 = i32x4.add(v9, v14);
    v5 = rotr7(v128.xor(v5, v10)); v6 = rotr7(v128.xor(v6, v11)); v7 = rotr7(v128.xor(v7, v8)); v4 = rotr7(v128.xor(v4, v9));
    h0 = v128.xor(v0, v8);
    h1 = v128.xor(v1, v9);
    h2 = v128.xor(v2, v10);
    h3 = v128.xor(v3, v11);
    h4 = v128.xor(v4, v12);
    h5 = v128.xor(v5, v13);
    h6 = v128.xor(v6, v14);
    h7 = v128.xor(v7, v15);
    p += 64;
  }
  // transpose back: lane i's eight words become chaining value i
  const x0 = v128.shuffle<i32>(h0, h1, 0, 4, 1, 5), x1 = v128.shuffle<i32>(h0, h1, 2, 6, 3, 7);
  const x2 = v128.shuffle<i32>(h2, h3, 0, 4, 1, 5), x3 = v128.shuffle<i32>(h2, h3, 2, 6, 3, 7);
  v128.store(out, v128.shuffle<i64>(x0, x2, 0, 2), 0); v128.store(out, v128.shuffle<i64>(x0, x2, 1, 3), 32);
  v128.store(out, v128.shuffle<i64>(x1, x3, 0, 2), 64); v128.store(out, v128.shuffle<i64>(x1, x3, 1, 3), 96);
  const y0 = v128.shuffle<i32>(h4, h5, 0, 4, 1, 5), y1 = v128.shuffle<i32>(h4, h5, 2, 6, 3, 7);
  const y2 = v128.shuffle<i32>(h6, h7, 0, 4, 1, 5), y3 = v128.shuffle<i32>(h6, h7, 2, 6, 3, 7);
  v128.store(out, v128.shuffle<i64>(y0, y2, 0, 2), 16); v128.store(out, v128.shuffle<i64>(y0, y2, 1, 3), 48);
  v128.store(out, v128.shuffle<i64>(y1, y3, 0, 2), 80); v128.store(out, v128.shuffle<i64>(y1, y3, 1, 3), 112);
}

// ---------------------------------------------------------------------------------------------
// Exports.

/**
 * Chaining value (to OUT) of the complete subtree of `chunks` whole chunks (a power of two,
 * 1..WINDOW_CHUNKS) at INPUT + offset, whose first chunk is number counterHi:counterLo (a multiple of
 * `chunks`). Never the root: the drivers only hash a subtree once more input is known to follow.
 */
export function hashSubtree(offset: usize, chunks: u32, counterLo: u32, counterHi: u32): void {
  const inp = INPUT + offset;
  const counter = (<u64>counterHi << 32) | <u64>counterLo;
  if (chunks == 1) {
    chunkCv(inp, CHUNK_LEN, counter, 0, OUT);
    return;
  }
  if (chunks == 2) {
    chunkCv(inp, CHUNK_LEN, counter, 0, CVS);
    chunkCv(inp + CHUNK_LEN, CHUNK_LEN, counter + 1, 0, CVS + 32);
    compress(KEY, CVS, 0, 64, PARENT, OUT);
    return;
  }
  for (let i: u32 = 0; i < chunks; i += 4) {
    hash4(inp + <usize>i * CHUNK_LEN, CHUNK_LEN, 16, counter + i, 1, 0, CHUNK_START, CHUNK_END, CVS + (<usize>i << 5));
  }
  let n = chunks;
  while (n > 1) {
    const pairs = n >> 1;
    if (pairs >= 4) {
      for (let p: u32 = 0; p < pairs; p += 4) hash4(CVS + (<usize>p << 6), 64, 1, 0, 0, PARENT, 0, 0, CVS + (<usize>p << 5));
    } else {
      for (let p: u32 = 0; p < pairs; p++) compress(KEY, CVS + (<usize>p << 6), 0, 64, PARENT, CVS + (<usize>p << 5));
    }
    n = pairs;
  }
  memory.copy(OUT, CVS, 32);
}

/**
 * Chaining value (to OUT) of one chunk of `len` bytes (0..1024) at INPUT + offset, chunk number
 * counterHi:counterLo. With root != 0 the last block gets the ROOT flag and OUT is the hash.
 */
export function hashChunk(offset: usize, len: u32, counterLo: u32, counterHi: u32, root: u32): void {
  const counter = (<u64>counterHi << 32) | <u64>counterLo;
  chunkCv(INPUT + offset, <usize>len, counter, root != 0 ? ROOT : 0, OUT);
}

/** Parent chaining value (to OUT) of the two CVs at PARENT_IN; root != 0 adds ROOT (OUT is the hash). */
export function hashParent(root: u32): void {
  compress(KEY, PARENT_IN, 0, 64, PARENT | (root != 0 ? ROOT : 0), OUT);
}
