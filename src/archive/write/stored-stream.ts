// The stored stream of a transformed commit as the shard writer reads it: frames from the encoder, held in one bounded ring until read.
import { BlockFrameError } from '../../errors.js';
import type { InputFile } from '../../io/input.js';

/**
 * A byte stream of unknown length (at most `bound` bytes) that one producer appends to in order and one reader
 * (the shard writer) reads forward through `readAt`, as if it were a file. Bytes are held in one ring of `capacity`
 * bytes, allocated once and reused: `append` waits while the ring is full (backpressure on the encoder), `readAt`
 * waits until the bytes it asks for exist or the stream has ended, and bytes once read are dropped.
 * `longerThan(pos)` is how the writer learns the length in time: it settles as soon as more than `pos` bytes exist
 * or the stream ends, so a reader at `head` may look ahead by `capacity - maxAppend` bytes.
 *
 * Errors: `fail(err)` makes every pending and later call throw `err` (the writer gave up, or the encoder did);
 * BF_INTERNAL for a read out of order, a look-ahead past the ring, or more bytes than `bound`.
 */
export class StoredStream implements InputFile {
  private readonly ring: Buffer;
  /** Stream offset of the first byte still held; bytes before it are gone. */
  private head = 0;
  /** Bytes appended so far. */
  private tail = 0;
  private ended = false;
  private failure: { err: unknown } | null = null;
  private waiters: (() => void)[] = [];

  constructor(
    readonly capacity: number,
    /** The most bytes one append may carry. */
    readonly maxAppend: number,
    /** The most bytes the stream may hold in all (the plan was made for this many). */
    readonly bound: number,
  ) {
    if (maxAppend > capacity) throw internal(`an append of up to ${maxAppend} bytes does not fit a ${capacity}-byte ring`);
    this.ring = Buffer.allocUnsafe(capacity);
  }

  /** The stream's length; only once it has ended. */
  get size(): number {
    if (!this.ended) throw internal('the stored stream has not ended yet');
    return this.tail;
  }

  /** Append `bytes` (at most maxAppend), waiting while the ring has no room for them. */
  async append(bytes: Uint8Array): Promise<void> {
    if (this.ended) throw internal('append after the end of the stored stream');
    if (bytes.length > this.maxAppend) throw internal(`an append of ${bytes.length} bytes exceeds ${this.maxAppend}`);
    if (this.tail + bytes.length > this.bound) throw internal(`the stored stream exceeds its bound of ${this.bound} bytes`);
    while (this.tail + bytes.length - this.head > this.capacity) {
      this.throwIfFailed();
      await this.wait();
    }
    this.throwIfFailed();
    this.copy(bytes, this.tail, 'in');
    this.tail += bytes.length;
    this.wake();
  }

  /** No more bytes will come. */
  end(): void {
    this.ended = true;
    this.wake();
  }

  /** Make every pending and later call throw `err` (the first failure wins). */
  fail(err: unknown): void {
    this.failure ??= { err };
    this.wake();
  }

  /**
   * Reads up to `length` bytes at `position`, which must be where the previous read ended (the stream is read once,
   * in order); fewer only at the end of the stream.
   */
  async readAt(buf: Uint8Array, length: number, position: number): Promise<number> {
    if (position !== this.head) throw internal(`read at byte ${position} of the stored stream, which is read in order (next: byte ${this.head})`);
    if (length > this.capacity - this.maxAppend) throw internal(`a read of ${length} bytes is larger than the ring allows`);
    while (!this.ended && this.tail < position + length) {
      this.throwIfFailed();
      await this.wait();
    }
    this.throwIfFailed();
    const n = Math.max(0, Math.min(length, this.tail - position));
    this.copy(buf.subarray(0, n), position, 'out');
    this.head += n;
    this.wake();
    return n;
  }

  /**
   * True once the stream is known to hold more than `pos` bytes, false once it has ended with `pos` or fewer.
   * `pos` may be at most capacity - maxAppend bytes past the last read (else the producer could never get there).
   */
  async longerThan(pos: number): Promise<boolean> {
    if (pos - this.head > this.capacity - this.maxAppend) throw internal(`a look-ahead to byte ${pos} from byte ${this.head} does not fit the ring`);
    while (!this.ended && this.tail <= pos) {
      this.throwIfFailed();
      await this.wait();
    }
    this.throwIfFailed();
    return this.tail > pos;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private copy(view: Uint8Array, at: number, dir: 'in' | 'out'): void {
    let done = 0;
    while (done < view.length) {
      const r = (at + done) % this.capacity;
      const n = Math.min(view.length - done, this.capacity - r);
      if (dir === 'in') this.ring.set(view.subarray(done, done + n), r);
      else view.set(this.ring.subarray(r, r + n), done);
      done += n;
    }
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.err;
  }

  private wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

function internal(msg: string): BlockFrameError {
  return new BlockFrameError('BF_INTERNAL', msg);
}
