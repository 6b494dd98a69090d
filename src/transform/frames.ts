// Owns the frame table of format v2 (docs/FORMAT.md §12.2): per-frame stored lengths and flags, and range planning.
import { BlockFrameError } from '../errors.js';

/** Plaintext bytes per frame that BlockFrame writes (1 MiB: within 4% of whole-file zstd -3 on a mixed corpus; see README). */
export const DEFAULT_FRAME_SIZE = 1 << 20;
export const MIN_FRAME_SIZE = 64 * 1024;
export const MAX_FRAME_SIZE = 16 * 1024 * 1024;
/** The AES-256-GCM tag appended to every encrypted frame. */
export const GCM_TAG_BYTES = 16;
/** Bit 31 of a frame word: the body is a zstd frame. */
export const FLAG_ZSTD = 0x8000_0000;
const LEN_MASK = 0x7fff_ffff;

/** Frames of a `size`-byte plaintext. */
export function frameCount(size: number, frameSize: number): number {
  return Math.ceil(size / frameSize);
}

/** Plaintext length of frame `j`. */
export function framePlainLength(j: number, size: number, frameSize: number): number {
  return Math.min(frameSize, size - j * frameSize);
}

/** One frame's place in the stored stream. */
export interface FrameRef {
  index: number;
  /** Offset of the frame's first plaintext byte in the file. */
  plainOffset: number;
  plainLength: number;
  storedOffset: number;
  storedLength: number;
  compressed: boolean;
}

/**
 * The parsed `content.frames` table: word j = stored length of frame j (bits 0-30) | FLAG_ZSTD. Offsets are prefix
 * sums, held as float64 (exact up to 2^53 bytes).
 */
export class FrameTable {
  private readonly words: Uint32Array;
  private readonly offsets: Float64Array;
  constructor(
    words: Uint32Array,
    readonly size: number,
    readonly frameSize: number,
  ) {
    this.words = words;
    this.offsets = new Float64Array(words.length + 1);
    for (let j = 0; j < words.length; j++) this.offsets[j + 1] = this.offsets[j]! + (words[j]! & LEN_MASK);
  }

  get count(): number {
    return this.words.length;
  }

  /** Total stored bytes. */
  get storedSize(): number {
    return this.offsets[this.words.length]!;
  }

  frame(j: number): FrameRef {
    const w = this.words[j]!;
    return {
      index: j,
      plainOffset: j * this.frameSize,
      plainLength: framePlainLength(j, this.size, this.frameSize),
      storedOffset: this.offsets[j]!,
      storedLength: w & LEN_MASK,
      compressed: (w & FLAG_ZSTD) !== 0,
    };
  }

  /** Frames overlapping plaintext bytes [offset, offset + length): first and last index (inclusive), or null when empty. */
  span(offset: number, length: number): { first: number; last: number } | null {
    if (length <= 0 || offset >= this.size) return null;
    const end = Math.min(this.size, offset + length);
    return { first: Math.floor(offset / this.frameSize), last: Math.floor((end - 1) / this.frameSize) };
  }

  /** The table as stored in the manifest: base64 of the little-endian words. */
  toBase64(): string {
    return Buffer.from(littleEndian(this.words)).toString('base64');
  }

  /**
   * Parse and check a manifest's table against `size`, `frameSize` and `storedSize` (docs/FORMAT.md §12.5).
   * Throws BF_MANIFEST_INVALID naming `field`.
   */
  static parse(b64: string, size: number, frameSize: number, storedSize: number, maxOverhead: number, where: string, field: string): FrameTable {
    const bad = (problem: string) => new BlockFrameError('BF_MANIFEST_INVALID', `${where}: field "${field}" ${problem}`, { path: where, field });
    const n = frameCount(size, frameSize);
    if (b64.length !== Math.ceil((n * 4) / 3) * 4) throw bad(`must hold ${n} frames (${Math.ceil((n * 4) / 3) * 4} base64 characters)`);
    const raw = Buffer.from(b64, 'base64');
    if (raw.length !== n * 4 || raw.toString('base64') !== b64) throw bad('is not canonical base64');
    const words = new Uint32Array(n);
    for (let j = 0; j < n; j++) words[j] = raw.readUInt32LE(j * 4);
    const t = new FrameTable(words, size, frameSize);
    for (let j = 0; j < n; j++) {
      const len = words[j]! & LEN_MASK;
      if (len < 1 || len > framePlainLength(j, size, frameSize) + maxOverhead) throw bad(`frame ${j} has a stored length of ${len} bytes, outside 1..${framePlainLength(j, size, frameSize) + maxOverhead}`);
    }
    if (t.storedSize !== storedSize) throw bad(`sums to ${t.storedSize} stored bytes, but content.stored_size is ${storedSize}`);
    return t;
  }
}

/** Builds a table frame by frame, in order. */
export class FrameTableBuilder {
  private words: Uint32Array;
  private n = 0;
  constructor(
    readonly size: number,
    readonly frameSize: number,
  ) {
    this.words = new Uint32Array(frameCount(size, frameSize));
  }
  set(j: number, storedLength: number, compressed: boolean): void {
    if (storedLength < 1 || storedLength > LEN_MASK) throw new BlockFrameError('BF_INTERNAL', `frame ${j}: stored length ${storedLength} out of range`);
    this.words[j] = (storedLength | (compressed ? FLAG_ZSTD : 0)) >>> 0;
    this.n = Math.max(this.n, j + 1);
  }
  build(): FrameTable {
    return new FrameTable(this.words, this.size, this.frameSize);
  }
}

function littleEndian(words: Uint32Array): Uint8Array {
  const out = Buffer.alloc(words.length * 4);
  for (let j = 0; j < words.length; j++) out.writeUInt32LE(words[j]!, j * 4);
  return out;
}
