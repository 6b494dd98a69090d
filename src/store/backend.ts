// The storage backend interface: bytes at rest under string keys, nothing else (no manifest knowledge).
// Modelled on restic's backend: small, atomic puts from re-readable sources, errors classified by the backend.
import { Readable } from 'node:stream';
import { BlockFrameError, TRANSIENT_CODES, type ErrorCode } from '../errors.js';

/** What a backend can do beyond the common operations. */
export interface BackendCaps {
  /**
   * put() may move a local file given as `PutSource.file` into place with one rename (same filesystem), and
   * `stagingDir()` gives a scratch directory on that filesystem. Local directories have it; object stores do not.
   */
  atomicRename: boolean;
  /** Objects can be written at random offsets in place. No backend offers this to the engine today: commit spools. */
  randomWrite: boolean;
}

export interface ObjectInfo {
  /** Full key, '/'-separated, relative to the backend's root or prefix. */
  key: string;
  /** Bytes; -1 for a common prefix returned by a delimited listing. */
  size: number;
  /** Present on a delimited listing's "directories" (key ends in '/'). */
  prefix?: true;
}

/**
 * The bytes of one put. `open()` must give the same bytes on every call, so a backend can retry (restic's
 * RewindReader). `file` names a local, fsynced file holding exactly these bytes: a backend with atomicRename may
 * move it into place (the file is then gone), any other backend just reads it.
 */
export interface PutSource {
  size: number;
  open(): Readable;
  file?: string;
}

export interface ListOptions {
  /** With '/', list one level: keys directly under `prefix`, and each deeper level once as a prefix entry. */
  delimiter?: '/';
  signal?: AbortSignal;
}

/**
 * A store of keyed byte objects. Keys are relative, '/'-separated, without '.' or '..' components.
 *
 * Errors are BlockFrameErrors classified by the backend itself, with `store` and `key` in their context:
 * BF_STORE_KEY_MISSING, BF_STORE_NOT_A_FILE (local only), BF_STORE_DENIED, BF_NO_SPACE, BF_STORE_UNAVAILABLE
 * (transient: a retry may help), BF_ABORTED and BF_IO. The engine never looks at errno or HTTP statuses.
 */
export interface Backend {
  /** Where the bytes are, for people: a directory path or an s3:// URL (never credentials). */
  readonly label: string;
  readonly caps: BackendCaps;
  /**
   * Read bytes [offset, offset + into.length) of `key` into `into`. Returns how many were read: fewer only when
   * the object ends first (0 at or past its end). A missing key is BF_STORE_KEY_MISSING.
   */
  get(key: string, into: Uint8Array, offset: number, signal?: AbortSignal): Promise<number>;
  /**
   * get(), for a server's many small reads of the same objects: a backend may keep the object open between calls
   * (a local file's descriptor) for a short while, so an object replaced meanwhile may still read as it was for
   * that long. Callers verify what they read. Absent: use get().
   */
  getHeld?(key: string, into: Uint8Array, offset: number, signal?: AbortSignal): Promise<number>;
  /** Close what getHeld() keeps open for keys starting with `prefix` (all with ''), so the next read sees the store as it is now. */
  dropHeld?(prefix: string): void;
  /** Store `source` under `key` atomically: readers see the old object, the new one, or none; never a part. */
  put(key: string, source: PutSource, signal?: AbortSignal): Promise<void>;
  /** Size of `key`, or null when it does not exist. */
  stat(key: string, signal?: AbortSignal): Promise<ObjectInfo | null>;
  /** Every key starting with `prefix` (in no promised order), or one level of it with a delimiter. */
  list(prefix: string, opts?: ListOptions): AsyncIterable<ObjectInfo>;
  /** Remove `key`; removing a missing key is not an error. */
  delete(key: string, signal?: AbortSignal): Promise<void>;
  /** A local scratch directory on the backend's own filesystem (atomicRename backends only). */
  stagingDir?(): Promise<string>;
  /**
   * Move a whole local directory (made inside stagingDir()) to be the keys under `prefix` + '/', with one atomic
   * rename: readers see all of it or none. 'exists' (and the directory is removed) when `prefix` is taken. A nested
   * `prefix` ("packs/ab/pack_…") gets its parent directories made first.
   */
  adopt?(localDir: string, prefix: string): Promise<'published' | 'exists'>;
  close(): Promise<void>;
}

/** A coded store error with the context a user needs. */
export function storeError(code: ErrorCode, backend: { label: string }, key: string, message: string, cause?: unknown): BlockFrameError {
  return new BlockFrameError(code, `${message} (store ${backend.label}${key ? `, key ${key}` : ''})`, { store: backend.label, key }, cause === undefined ? undefined : { cause });
}

export function isTransient(err: unknown): boolean {
  return err instanceof BlockFrameError && TRANSIENT_CODES.has(err.code);
}

/** Throw BF_ABORTED (with the store and key) when `signal` has fired: every backend method checks it first. */
export function throwIfAborted(backend: { label: string }, key: string, signal?: AbortSignal): void {
  if (signal?.aborted) throw storeError('BF_ABORTED', backend, key, 'cancelled');
}

/** Refuse keys that could leave the backend's root: empty, absolute, '.', '..', backslashes or NUL. */
export function checkKey(backend: { label: string }, key: string, allowEmpty = false): void {
  const bad = (!allowEmpty && key === '') || key.startsWith('/') || key.includes('\\') || key.includes('\0') || key.split('/').some((p, i, a) => p === '.' || p === '..' || (p === '' && i < a.length - 1));
  if (bad) throw storeError('BF_INTERNAL', backend, key, `invalid key ${JSON.stringify(key)}`);
}

/** A PutSource over bytes in memory. */
export function bytesSource(bytes: Uint8Array): PutSource {
  return { size: bytes.length, open: () => Readable.from([Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)]) };
}

/** A PutSource over text (UTF-8). */
export function textSource(text: string): PutSource {
  return bytesSource(new TextEncoder().encode(text));
}

/** The whole object `key` (for small objects: manifests, markers, the chunk index), or null when missing. */
export async function getAll(b: Backend, key: string, maxBytes: number, signal?: AbortSignal): Promise<Uint8Array | null> {
  const st = await b.stat(key, signal);
  if (!st) return null;
  if (st.size > maxBytes) {
    const e = storeError('BF_IO', b, key, `object is ${st.size} bytes, more than the ${maxBytes} expected`);
    e.context.tooLarge = true;
    throw e;
  }
  const buf = new Uint8Array(st.size);
  let n: number;
  try {
    n = await b.get(key, buf, 0, signal);
  } catch (err) {
    if (err instanceof BlockFrameError && err.code === 'BF_STORE_KEY_MISSING') return null;
    throw err;
  }
  return buf.subarray(0, n);
}

/** Read exactly as much as fits: loops get() until `into` is full or the object ends. */
export async function getFully(b: Backend, key: string, into: Uint8Array, offset: number, signal?: AbortSignal): Promise<number> {
  let done = 0;
  while (done < into.length) {
    const n = await b.get(key, into.subarray(done), offset + done, signal);
    if (n === 0) break;
    done += n;
  }
  return done;
}
