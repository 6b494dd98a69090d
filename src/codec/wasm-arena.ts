// Allocator of the WASM kernel's linear memory: first-fit blocks that never move, growing the memory on demand.
import { BlockFrameError } from '../errors.js';
import type { WasmMemory } from '../wasm.js';

const PAGE = 65536;
/** Every block starts on a cache line, so SIMD loads of a block never split one needlessly. */
const ALIGN = 64;

const up = (n: number, a: number): number => Math.ceil(n / a) * a;

/**
 * Blocks of a WebAssembly memory from `start` on. Freed blocks are kept in an address-ordered free list and
 * merged with free neighbours; memory is grown (never shrunk) when no free block fits. With a shared memory,
 * growing does not detach earlier views (a SharedArrayBuffer is never detached), so a block's Uint8Array stays
 * valid for the memory's life. Errors: BF_INTERNAL when the memory cannot grow (its maximum, or no address space).
 */
export class WasmArena {
  /** Free blocks [offset, offset + size), sorted by offset. */
  private readonly free: { offset: number; size: number }[] = [];
  /** Size of every live block, by offset. */
  private readonly live = new Map<number, number>();
  private top: number;

  constructor(private readonly memory: WasmMemory, start: number) {
    this.top = up(start, ALIGN);
  }

  /** Offset of a new block of at least `bytes` bytes (bytes >= 1), aligned to 64. */
  alloc(bytes: number): number {
    const size = up(Math.max(1, bytes), ALIGN);
    for (let i = 0; i < this.free.length; i++) {
      const f = this.free[i];
      if (f.size < size) continue;
      const offset = f.offset;
      if (f.size === size) this.free.splice(i, 1);
      else { f.offset += size; f.size -= size; }
      this.live.set(offset, size);
      return offset;
    }
    const offset = this.top;
    const end = offset + size;
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      try {
        this.memory.grow(Math.ceil((end - have) / PAGE));
      } catch (err) {
        throw new BlockFrameError('BF_INTERNAL', `codec: the WebAssembly kernel's memory cannot grow to ${end} bytes: ${(err as Error).message}`);
      }
    }
    this.top = end;
    this.live.set(offset, size);
    return offset;
  }

  /** Return the block at `offset` (from alloc) for reuse; unknown offsets are ignored. */
  release(offset: number): void {
    const size = this.live.get(offset);
    if (size === undefined) return;
    this.live.delete(offset);
    let i = 0;
    while (i < this.free.length && this.free[i].offset < offset) i++;
    this.free.splice(i, 0, { offset, size });
    // Merge with the next and the previous free block where they touch.
    const next = this.free[i + 1];
    if (next && offset + size === next.offset) {
      this.free[i].size += next.size;
      this.free.splice(i + 1, 1);
    }
    const prev = this.free[i - 1];
    if (prev && prev.offset + prev.size === offset) {
      prev.size += this.free[i].size;
      this.free.splice(i, 1);
    }
    // A free block at the top goes back to the bump pointer.
    const last = this.free[this.free.length - 1];
    if (last && last.offset + last.size === this.top) {
      this.top = last.offset;
      this.free.pop();
    }
  }
}
