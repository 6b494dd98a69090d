// commit's transforms (format v2): checking --compress/--encrypt/--frame-size, what 'auto' decides, and the stored stream handed to the shard writer.
import { randomBytes } from 'node:crypto';
import { BlockFrameError } from '../errors.js';
import { openInput, type InputFile } from '../io/input.js';
import type { ComputePool } from '../compute/pool.js';
import type { Geometry } from '../layout/geometry.js';
import type { Spool } from '../store/spool.js';
import { encodeInput, maxBatchStored, type EncodedInput } from '../archive/write/encode-input.js';
import { StoredStream } from '../archive/write/stored-stream.js';
import { SLAB } from '../archive/write/shard-writer.js';
import { maxStoredLength, type FrameParams } from '../transform/frame-codec.js';
import { DEFAULT_FRAME_SIZE, frameCount, MAX_FRAME_SIZE, MIN_FRAME_SIZE } from '../transform/frames.js';
import type { KeySecret } from '../transform/keys.js';
import { ZSTD_DEFAULT_LEVEL, ZSTD_MAX_LEVEL, ZSTD_MIN_LEVEL, zstdCompress, zstdImplementation } from '../transform/zstd.js';

/** What a commit asked for: compression (a zstd level, 'auto', or none), encryption, and the frame size. */
export interface TransformChoice {
  level: number | 'auto' | null;
  encrypt: boolean;
  frameSize: number;
}

/** The transforms a commit asks for, checked; null for none. */
export function checkTransforms(opts: { compress?: number | 'auto'; encrypt?: boolean; frameSize?: number }, secrets: KeySecret[]): TransformChoice | null {
  const level = opts.compress ?? null;
  if (typeof level === 'number' && (!Number.isInteger(level) || level < ZSTD_MIN_LEVEL || level > ZSTD_MAX_LEVEL)) {
    throw new BlockFrameError('BF_USAGE', `invalid zstd level ${level}: use ${ZSTD_MIN_LEVEL} to ${ZSTD_MAX_LEVEL}, or auto`, { field: 'compress' });
  }
  if (level !== null && !zstdImplementation()) throw new BlockFrameError('BF_TRANSFORM_UNAVAILABLE', 'zstd is not available in this installation: commit without --compress');
  const encrypt = opts.encrypt === true;
  if (encrypt && secrets.length === 0) throw new BlockFrameError('BF_KEY_REQUIRED', 'encryption needs a key: --key-file FILE, or BLOCKFRAME_PASSPHRASE / BLOCKFRAME_KEY_FILE', { field: 'encrypt' });
  const frameSize = opts.frameSize ?? DEFAULT_FRAME_SIZE;
  if (!Number.isInteger(frameSize) || frameSize < MIN_FRAME_SIZE || frameSize > MAX_FRAME_SIZE || (frameSize & (frameSize - 1)) !== 0) {
    throw new BlockFrameError('BF_INVALID_SIZE', `invalid frame size ${frameSize}: use a power of two from 64 KiB to 16 MiB`, { field: 'frame_size' });
  }
  if (level === null && !encrypt) return null;
  return { level, encrypt, frameSize };
}

/**
 * 'auto': zstd level 3, unless up to 8 frames sampled across the file shrink by less than 3% in total (media,
 * archives, ciphertext), in which case compression is not worth its CPU and the archive stays plain.
 */
export async function autoLevel(input: InputFile, size: number, frameSize: number): Promise<number | null> {
  const frames = Math.ceil(size / frameSize);
  if (frames === 0) return null;
  const picks = [...new Set(Array.from({ length: Math.min(8, frames) }, (_, i) => Math.floor((i * frames) / Math.min(8, frames))))];
  let plain = 0;
  let packed = 0;
  const buf = Buffer.allocUnsafe(frameSize);
  for (const j of picks) {
    const n = await input.readAt(buf, Math.min(frameSize, size - j * frameSize), j * frameSize);
    plain += n;
    packed += Math.min(n, (await zstdCompress(buf.subarray(0, n), ZSTD_DEFAULT_LEVEL)).length);
  }
  return packed <= plain * 0.97 ? ZSTD_DEFAULT_LEVEL : null;
}


/**
 * Segments up to this size are streamed from the encoder into the shard writer (the look-ahead ring holds one
 * segment); larger ones (a --segment-size above the default, a forced Tier 1) and Tier 4 go through a spool file.
 */
export const STREAM_SEGMENT_MAX = 32 * 1024 * 1024;

/** The most stored bytes `size` bytes of plaintext can become: compression never grows a frame, encryption adds its tag. */
export function storedBound(size: number, frameSize: number, params: FrameParams): number {
  return size + frameCount(size, frameSize) * (maxStoredLength(frameSize, params) - frameSize);
}

/** What the shard writer is handed for a transformed commit (WriteShardsArgs: input, geometry, settle). */
export interface WriterInput {
  input: InputFile;
  geometry: Geometry;
  settle?: (end: number) => Promise<Geometry | null>;
  /** The input can only be read in order (the streamed stored stream): the segment-after-segment writer must take it. */
  inOrder?: boolean;
}

/**
 * The stored stream of a transformed commit (docs/FORMAT.md §12.2). The archive is planned for `bound`, an upper
 * bound of the stored size, so the tier is known before the first frame is encoded; `open` starts the encoder and
 * gives the writer its input: the frames as they are encoded (one pass, no spool: the ring holds one segment of
 * look-ahead, so with zstd the writer learns the real length in time to cut the last segment), or, for Tier 4 and
 * segments above STREAM_SEGMENT_MAX, a spool file written first. Call `finish` once the writer is done, and
 * `close` always. Errors: those of encodeInput, BF_INTERNAL.
 */
export class StoredInput {
  readonly bound: number;
  private stream: StoredStream | null = null;
  private encoding: Promise<EncodedInput> | null = null;
  private spool: Spool | null = null;
  /** The spool file as the writer's input (fallback path), closed by close(). */
  private spooled: InputFile | null = null;

  constructor(
    private readonly a: {
      input: InputFile;
      inputPath: string;
      size: number;
      frameSize: number;
      params: FrameParams;
      pool: ComputePool;
      signal?: AbortSignal;
      /** A spool for the fallback path (discarded by close). */
      spool: () => Promise<Spool>;
    },
  ) {
    this.bound = storedBound(a.size, a.frameSize, a.params);
  }

  /** Start encoding. `planned` is the plan's geometry for `bound`; `plan(n)` the same plan's geometry for n stored bytes. */
  async open(planned: Geometry, plan: (storedBytes: number) => Geometry): Promise<WriterInput> {
    const a = this.a;
    const segment = planned.tier === 1 ? planned.size : planned.segmentSize;
    if (planned.tier === 4 || segment > STREAM_SEGMENT_MAX) {
      const spool = (this.spool = await a.spool());
      const rel = `stored-${randomBytes(6).toString('hex')}`;
      const out = await spool.create(rel);
      try {
        // Scratch, not data: the shards written from it are fsynced, so it needs no fsync of its own.
        this.encoding = encodeInput({ ...a, sink: (b, at) => out.write(b, at) });
        const enc = await this.encoding;
        this.spooled = await openInput(spool.path(rel));
        return { input: this.spooled, geometry: plan(enc.storedSize) };
      } finally {
        await out.close();
      }
    }
    // Without zstd the stored size is exactly the bound: the plan holds as it is and nothing need be looked ahead.
    const exact = a.params.zstdLevel === undefined;
    const maxAppend = maxBatchStored(a.frameSize, a.params);
    const stream = (this.stream = new StoredStream((exact ? 2 * SLAB : Math.max(segment, 2 * SLAB)) + maxAppend, maxAppend, this.bound));
    this.encoding = encodeInput({ ...a, sink: (b) => stream.append(b) }).then(
      (enc) => {
        stream.end();
        return enc;
      },
      (err: unknown) => {
        stream.fail(err);
        throw err;
      },
    );
    this.encoding.catch(() => undefined);
    if (exact) return { input: stream, geometry: planned, inOrder: true };
    return { input: stream, geometry: planned, inOrder: true, settle: async (end) => ((await stream.longerThan(end)) ? null : plan(stream.size)) };
  }

  /** The encoder's result, once the writer has read the whole stream. */
  async finish(): Promise<EncodedInput> {
    if (!this.encoding) throw new BlockFrameError('BF_INTERNAL', 'the stored stream was never opened');
    return this.encoding;
  }

  /** Stop the encoder if it still runs (the writer failed) and drop the spool. */
  async close(): Promise<void> {
    this.stream?.fail(new BlockFrameError('BF_ABORTED', 'the commit stopped before the stored stream was written'));
    await this.encoding?.catch(() => undefined);
    await this.spooled?.close().catch(() => undefined);
    await this.spool?.discard();
  }
}
