// Messages between the engine and its compute workers (hashing and Reed-Solomon encoding/reconstruction).

/** A byte range inside shared memory; workers read and write it in place, nothing is copied between threads. */
export type SharedView = Uint8Array;

export type Request =
  | { op: 'hashOpen'; stream: number }
  | { op: 'hashUpdate'; stream: number; data: SharedView }
  | { op: 'hashDigest'; stream: number }
  | { op: 'chunkHashes'; data: SharedView; chunkSize: number; out: SharedView }
  | { op: 'encode'; k: number; m: number; data: SharedView[]; parity: SharedView[] }
  | { op: 'reconstruct'; k: number; m: number; shards: (SharedView | null)[]; out: SharedView[] }
  | { op: 'xor'; into: SharedView[]; from: SharedView[] };

export type Envelope = { id: number; req: Request };

export type Reply = { id: number; ok: true; value?: string } | { id: number; ok: false; message: string; code?: string };
