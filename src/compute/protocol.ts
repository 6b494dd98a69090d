// Messages between the engine and its compute workers (hashing and Reed-Solomon encoding/reconstruction).

import type { FrameParams } from '../transform/frame-codec.js';

/** A byte range inside shared memory; workers read and write it in place, nothing is copied between threads. */
export type SharedView = Uint8Array;

export type Request =
  | { op: 'hashOpen'; stream: number }
  | { op: 'hashUpdate'; stream: number; data: SharedView }
  | { op: 'hashDigest'; stream: number }
  /** Chunk hashes: plain BLAKE3 per chunk (format v1), or with `cv` the chunks' chaining values in a shard of `total` bytes whose chunk `firstUnit` starts `data` (v2). */
  | { op: 'chunkHashes'; data: SharedView; chunkSize: number; out: SharedView; cv?: ChunkCv }
  | { op: 'encode'; k: number; m: number; data: SharedView[]; parity: SharedView[] }
  | { op: 'reconstruct'; k: number; m: number; shards: (SharedView | null)[]; out: SharedView[] }
  | { op: 'xor'; into: SharedView[]; from: SharedView[] }
  /** Which Reed-Solomon kernel this worker's codecs use (src/codec/index.ts codecKernel); the reply is its name. */
  | { op: 'codecKernel' }
  /** Encode plaintext frames (docs/FORMAT.md §12.2) into `out`, one after another; the reply lists "length:flag" per frame. */
  | { op: 'frameEncode'; plain: SharedView; first: number; frameSize: number; params: FrameParams; out: SharedView }
  /** Decode consecutive stored frames (`frames`: stored length, plain length, compressed) from `stored` into `out`. */
  | { op: 'frameDecode'; stored: SharedView; first: number; frames: [number, number, boolean][]; params: FrameParams; out: SharedView; what: string };

/** Where a run of chunks sits in its shard, for chaining-value chunk hashes (docs/FORMAT.md §12.1). */
export interface ChunkCv {
  firstUnit: number;
  total: number;
}

export type Envelope = { id: number; req: Request };

export type Reply = { id: number; ok: true; value?: string } | { id: number; ok: false; message: string; code?: string };
