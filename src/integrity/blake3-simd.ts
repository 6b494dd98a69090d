// Owns the WebAssembly SIMD BLAKE3 driver: the hash tree (CV stack, partial-chunk buffer, ROOT) over the asm/blake3.ts kernel.
import { BLAKE3_WASM_BASE64 } from './blake3-wasm-binary.js';
import { IntegrityError } from './hex.js';
import { WASM, type WasmMemory } from '../wasm.js';


/** The kernel's exports (see asm/blake3.ts for the contract of each). */
export interface Blake3Exports {
  readonly memory: WasmMemory;
  init(): number;
  windowChunks(): number;
  parentInPtr(): number;
  outPtr(): number;
  hashSubtree(offset: number, chunks: number, counterLo: number, counterHi: number): void;
  hashChunk(offset: number, len: number, counterLo: number, counterHi: number, root: number): void;
  hashParent(root: number): void;
}

const CHUNK_LEN = 1024;
const OUT_LEN = 32;
/** CV stack depth: one entry per bit of the chunk count, which is far below 2^64. */
const MAX_DEPTH = 64;
const TWO32 = 2 ** 32;

/**
 * One shared kernel instance. Its calls are stateless (each reads only what the driver copied into
 * linear memory just before, synchronously), so any number of hashers can interleave on it.
 */
export interface Blake3Kernel {
  readonly ex: Blake3Exports;
  readonly mem: Uint8Array;
  readonly input: number;
  readonly windowChunks: number;
  readonly parentIn: number;
  readonly out: number;
}

let loaded: Blake3Kernel | null | undefined;

/**
 * The shared kernel instance (loaded on first use), or null where WebAssembly SIMD is unavailable.
 * For the drivers in src/integrity only (this file and blake3-cv.ts): each call must copy its input
 * into linear memory and read OUT back synchronously, with no await in between.
 */
export function loadKernel(): Blake3Kernel | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  try {
    if (WASM !== undefined && BLAKE3_WASM_BASE64.length > 0) {
      const bytes = new Uint8Array(Buffer.from(BLAKE3_WASM_BASE64, 'base64'));
      if (WASM.validate(bytes)) {
        const ex = new WASM.Instance(new WASM.Module(bytes), {}).exports as Blake3Exports;
        const input = ex.init(); // grows memory once; the buffer never changes afterwards
        loaded = {
          ex,
          mem: new Uint8Array(ex.memory.buffer),
          input,
          windowChunks: ex.windowChunks(),
          parentIn: ex.parentInPtr(),
          out: ex.outPtr(),
        };
      }
    }
  } catch {
    loaded = null;
  }
  return loaded;
}

/** True when the WebAssembly SIMD BLAKE3 kernel validates and instantiates in this runtime. */
export function blake3SimdAvailable(): boolean {
  return loadKernel() !== null;
}

/** An incremental BLAKE3-256 hash. digest() does not end the stream: later update() calls continue it. */
export interface Blake3SimdHasher {
  update(data: Uint8Array): void;
  digest(): Uint8Array;
}

class SimdHasher implements Blake3SimdHasher {
  private readonly k: Blake3Kernel;
  /** The newest chunk's bytes (1..1024 once any input arrived). It is hashed only when more input follows, since the last chunk may be the root. */
  private readonly buf = new Uint8Array(CHUNK_LEN);
  private bufLen = 0;
  /** Chunks already folded into the stack (the counter of the buffered chunk). */
  private chunks = 0;
  /** Chaining values of complete subtrees, largest (leftmost) first, 32 bytes each. */
  private readonly stack = new Uint8Array(MAX_DEPTH * OUT_LEN);
  private depth = 0;

  constructor(k: Blake3Kernel) {
    this.k = k;
  }

  update(data: Uint8Array): void {
    const n = data.length;
    if (n === 0) return;
    const k = this.k;
    let pos = 0;
    if (this.bufLen > 0) {
      pos = Math.min(CHUNK_LEN - this.bufLen, n);
      this.buf.set(data.subarray(0, pos), this.bufLen);
      this.bufLen += pos;
      if (pos === n) return;
      // The buffered chunk is full and more input follows, so it is not the last chunk.
      k.mem.set(this.buf, k.input);
      k.ex.hashSubtree(0, 1, this.chunks >>> 0, Math.floor(this.chunks / TWO32));
      this.push(1);
      this.bufLen = 0;
    }
    // Whole chunks with at least one more byte after them; the final 1..1024 bytes stay buffered.
    let whole = Math.floor((n - pos - 1) / CHUNK_LEN);
    const win = k.windowChunks;
    while (whole > 0) {
      // Stop the first window at a multiple of its size, so later windows are single aligned subtrees.
      const w = Math.min(whole, win - (this.chunks % win));
      k.mem.set(data.subarray(pos, pos + w * CHUNK_LEN), k.input);
      let off = 0;
      let left = w;
      while (left > 0) {
        // The largest power of two that fits and keeps the subtree aligned to its own size.
        let size = 1;
        while (size * 2 <= left) size *= 2;
        while (this.chunks % size !== 0) size /= 2;
        k.ex.hashSubtree(off, size, this.chunks >>> 0, Math.floor(this.chunks / TWO32));
        this.push(size);
        off += size * CHUNK_LEN;
        left -= size;
      }
      pos += w * CHUNK_LEN;
      whole -= w;
    }
    this.buf.set(data.subarray(pos), 0);
    this.bufLen = n - pos;
  }

  /**
   * Push the subtree CV in the kernel's OUT (covering `size` chunks, aligned to `size`), then merge
   * equal-sized neighbours: one merge per trailing zero bit of the new chunk count, counted above
   * the subtree's own level. Merged nodes are never the root because more input is known to follow.
   */
  private push(size: number): void {
    const { mem, out, parentIn, ex } = this.k;
    const st = this.stack;
    st.set(mem.subarray(out, out + OUT_LEN), this.depth * OUT_LEN);
    this.depth++;
    this.chunks += size;
    let t = this.chunks / size;
    while (t % 2 === 0) {
      const left = (this.depth - 2) * OUT_LEN;
      mem.set(st.subarray(left, left + 2 * OUT_LEN), parentIn);
      ex.hashParent(0);
      st.set(mem.subarray(out, out + OUT_LEN), left);
      this.depth--;
      t /= 2;
    }
  }

  digest(): Uint8Array {
    const { mem, out, parentIn, input, ex } = this.k;
    mem.set(this.buf.subarray(0, this.bufLen), input);
    const lo = this.chunks >>> 0;
    const hi = Math.floor(this.chunks / TWO32);
    if (this.depth === 0) {
      // A single chunk (possibly empty) is itself the root.
      ex.hashChunk(0, this.bufLen, lo, hi, 1);
      return mem.slice(out, out + OUT_LEN);
    }
    ex.hashChunk(0, this.bufLen, lo, hi, 0);
    for (let i = this.depth - 1; i >= 0; i--) {
      mem.copyWithin(parentIn + OUT_LEN, out, out + OUT_LEN);
      mem.set(this.stack.subarray(i * OUT_LEN, (i + 1) * OUT_LEN), parentIn);
      ex.hashParent(i === 0 ? 1 : 0);
    }
    return mem.slice(out, out + OUT_LEN);
  }
}

/**
 * A new BLAKE3-256 hasher over the shared SIMD kernel (compiled synchronously on first use).
 * Throws BF_BLAKE3_NOT_READY when blake3SimdAvailable() is false.
 */
export function createBlake3Simd(): Blake3SimdHasher {
  const k = loadKernel();
  if (k === null) throw new IntegrityError('BF_BLAKE3_NOT_READY', 'the WebAssembly SIMD BLAKE3 kernel is not available in this runtime');
  return new SimdHasher(k);
}

/** BLAKE3-256 of `data` (a fresh 32-byte array). */
export function blake3Simd(data: Uint8Array): Uint8Array {
  const h = createBlake3Simd();
  h.update(data);
  return h.digest();
}
