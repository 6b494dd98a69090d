// The error catalogue: every stable BlockFrame error code with its CLI exit code and HTTP status.

/** Exit codes documented in the README. */
export const EXIT = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  DAMAGED_REPAIRABLE: 3,
  UNRECOVERABLE: 4,
} as const;

interface CodeInfo {
  /** What the code means, for docs and `--json` output. */
  readonly summary: string;
  readonly exitCode: number;
  readonly httpStatus: number;
}

export const ERROR_CODES = {
  BF_USAGE: { summary: 'the command line is wrong', exitCode: EXIT.USAGE, httpStatus: 400 },
  BF_INVALID_SIZE: { summary: 'a size argument is not a valid byte count', exitCode: EXIT.USAGE, httpStatus: 400 },
  BF_INVALID_TIER: { summary: 'a tier argument is not 1, 2, 3 or 4', exitCode: EXIT.USAGE, httpStatus: 400 },
  BF_INVALID_RANGE: { summary: 'a byte range is malformed', exitCode: EXIT.USAGE, httpStatus: 400 },
  BF_RANGE_NOT_SATISFIABLE: { summary: 'a byte range lies outside the file', exitCode: EXIT.FAILURE, httpStatus: 416 },
  BF_FILE_NOT_FOUND: { summary: 'the input file does not exist', exitCode: EXIT.FAILURE, httpStatus: 404 },
  BF_NOT_A_FILE: { summary: 'the input is not a regular file', exitCode: EXIT.FAILURE, httpStatus: 400 },
  BF_FILE_UNREADABLE: { summary: 'the input file cannot be read', exitCode: EXIT.FAILURE, httpStatus: 403 },
  BF_FILE_CHANGED: { summary: 'the input file changed while it was being committed', exitCode: EXIT.FAILURE, httpStatus: 409 },
  BF_NO_SPACE: { summary: 'the disk is full', exitCode: EXIT.FAILURE, httpStatus: 507 },
  BF_IO: { summary: 'an I/O operation failed', exitCode: EXIT.FAILURE, httpStatus: 500 },
  BF_ARCHIVE_NOT_FOUND: { summary: 'no archive matches the name', exitCode: EXIT.FAILURE, httpStatus: 404 },
  BF_AMBIGUOUS_NAME: { summary: 'more than one archive matches the name', exitCode: EXIT.FAILURE, httpStatus: 409 },
  BF_MANIFEST_MISSING: { summary: 'an archive has no manifest.json', exitCode: EXIT.FAILURE, httpStatus: 500 },
  BF_MANIFEST_INVALID: { summary: 'manifest.json is damaged or fails the schema', exitCode: EXIT.FAILURE, httpStatus: 500 },
  BF_SHARD_MISSING: { summary: 'a shard file is missing', exitCode: EXIT.FAILURE, httpStatus: 500 },
  BF_SHARD_CORRUPT: { summary: 'a shard file does not match its manifest hash', exitCode: EXIT.FAILURE, httpStatus: 500 },
  BF_HASH_MISMATCH: { summary: 'restored bytes do not match original_hash', exitCode: EXIT.FAILURE, httpStatus: 500 },
  BF_OUTPUT_EXISTS: { summary: 'the output path exists and --force was not given', exitCode: EXIT.FAILURE, httpStatus: 409 },
  BF_ABORTED: { summary: 'the operation was cancelled', exitCode: EXIT.FAILURE, httpStatus: 499 },
  BF_UNRECOVERABLE: { summary: 'too many shards of a stripe are lost: the data cannot be rebuilt', exitCode: EXIT.UNRECOVERABLE, httpStatus: 500 },
  BF_RS_TOO_FEW_SHARDS: { summary: 'fewer than k shards survive: the stripe cannot be rebuilt', exitCode: EXIT.UNRECOVERABLE, httpStatus: 500 },
  BF_HEX_INVALID: { summary: 'a string is not lowercase hex of the expected length', exitCode: EXIT.FAILURE, httpStatus: 400 },
  BF_BLAKE3_NOT_READY: { summary: 'BLAKE3 was used before initBlake3() finished (a bug)', exitCode: EXIT.FAILURE, httpStatus: 500 },
  BF_BLAKE3_FINALIZED: { summary: 'a hash stream was updated after digest() (a bug)', exitCode: EXIT.FAILURE, httpStatus: 500 },
  BF_BLAKE3_UNITS_INVALID: { summary: 'unit chaining values were asked for or merged with a unit size, index, length or count that does not fit the message (a bug)', exitCode: EXIT.FAILURE, httpStatus: 500 },
  BF_MERKLE_LEAF_INVALID: { summary: 'a Merkle leaf is not a 32-byte hash', exitCode: EXIT.FAILURE, httpStatus: 400 },
  BF_MERKLE_INDEX: { summary: 'a Merkle proof was asked for a leaf outside the tree', exitCode: EXIT.FAILURE, httpStatus: 400 },
  BF_BAD_REQUEST: { summary: 'an HTTP request is malformed or names a forbidden path', exitCode: EXIT.USAGE, httpStatus: 400 },
  BF_UNAUTHORIZED: { summary: 'the HTTP request lacks a valid bearer token', exitCode: EXIT.FAILURE, httpStatus: 401 },
  BF_FORBIDDEN: { summary: 'the server does not allow this operation (uploads are off)', exitCode: EXIT.FAILURE, httpStatus: 403 },
  BF_NOT_FOUND: { summary: 'no such HTTP route or resource', exitCode: EXIT.FAILURE, httpStatus: 404 },
  BF_METHOD_NOT_ALLOWED: { summary: 'the HTTP method is not supported on this route', exitCode: EXIT.FAILURE, httpStatus: 405 },
  BF_ARCHIVE_ROOT_MISSING: { summary: 'the archive directory does not exist (commit creates it)', exitCode: EXIT.FAILURE, httpStatus: 404 },
  BF_ARCHIVE_BUSY: { summary: 'another process holds the archive for a repair, commit or delete, and did not let go in time', exitCode: EXIT.FAILURE, httpStatus: 409 },
  BF_OUTPUT_INVALID: { summary: 'the output path cannot be written: its directory is missing or not a directory', exitCode: EXIT.FAILURE, httpStatus: 400 },
  BF_SERVER_BUSY: { summary: 'the server is streaming as many files as it allows; retry shortly', exitCode: EXIT.FAILURE, httpStatus: 503 },
  BF_RS_INVALID: { summary: 'a Reed-Solomon code was asked for with an invalid shape (1 <= k, 0 <= m, k + m <= 256)', exitCode: EXIT.USAGE, httpStatus: 400 },
  BF_STORE_KEY_MISSING: { summary: 'a key is not in the store', exitCode: EXIT.FAILURE, httpStatus: 404 },
  BF_STORE_NOT_A_FILE: { summary: 'something other than a regular file sits at a key of a local store (it is never followed)', exitCode: EXIT.FAILURE, httpStatus: 500 },
  BF_STORE_UNAVAILABLE: { summary: 'a store did not answer in time, refused the connection, failed on its side, or misbehaved (a listing that would not end)', exitCode: EXIT.FAILURE, httpStatus: 503 },
  BF_STORE_DENIED: { summary: 'a store refused access (permissions or credentials)', exitCode: EXIT.FAILURE, httpStatus: 403 },
  BF_STORE_NOT_MOUNTED: { summary: 'a store the set knows (by its marker) is not there: its directory or marker is missing (a disk not mounted, a bucket emptied); nothing is written to it until it is back, or replaced with repair --replace', exitCode: EXIT.FAILURE, httpStatus: 503 },
  BF_STORE_FOREIGN: { summary: 'a store carries the marker of another store set, or one this version cannot read: it is left alone', exitCode: EXIT.FAILURE, httpStatus: 409 },
  BF_STORE_CONFIG: { summary: 'a store specification or the store configuration file is invalid', exitCode: EXIT.USAGE, httpStatus: 400 },
  BF_PLACEMENT_IMPOSSIBLE: { summary: 'the stores given cannot survive the number of store failures asked for', exitCode: EXIT.USAGE, httpStatus: 400 },
  BF_KEY_REQUIRED: { summary: 'the archive is encrypted and no key was given (--key-file, BLOCKFRAME_PASSPHRASE or BLOCKFRAME_KEY_FILE)', exitCode: EXIT.FAILURE, httpStatus: 403 },
  BF_KEY_WRONG: { summary: 'none of the keys given opens the encrypted archive', exitCode: EXIT.FAILURE, httpStatus: 403 },
  BF_KEYFILE_INVALID: { summary: 'a key file cannot be read, holds fewer than 32 bytes or more than 1 MiB', exitCode: EXIT.USAGE, httpStatus: 400 },
  BF_NOT_ENCRYPTED: { summary: 'a key was given on the command line but the archive is not encrypted: refused, nothing written (--allow-unencrypted reads it)', exitCode: EXIT.FAILURE, httpStatus: 409 },
  BF_FRAME_INVALID: { summary: 'a stored frame fails to decrypt or decompress to its recorded length (tampering or a bug; its chunks passed their hashes)', exitCode: EXIT.UNRECOVERABLE, httpStatus: 500 },
  BF_TRANSFORM_UNAVAILABLE: { summary: 'a transform (zstd) is not available in this installation', exitCode: EXIT.FAILURE, httpStatus: 501 },
  BF_MOUNT_UNAVAILABLE: { summary: 'FUSE is not available here (no /dev/fuse, no fusermount, or the optional fuse-native package missing); the message says what to install', exitCode: EXIT.FAILURE, httpStatus: 501 },
  BF_MOUNT_POINT_BUSY: { summary: 'the mount point is in use: something is mounted there, a stale FUSE mount of a killed process is left (fusermount -u DIR), or files are open through it at unmount', exitCode: EXIT.FAILURE, httpStatus: 409 },
  BF_MOUNT_FAILED: { summary: 'the kernel or libfuse refused the mount (permissions, or allow_other without user_allow_other in /etc/fuse.conf)', exitCode: EXIT.FAILURE, httpStatus: 500 },
  BF_INTERNAL: { summary: 'an internal error (a bug): please report it', exitCode: EXIT.FAILURE, httpStatus: 500 },
  // The S3 endpoint (src/s3): each S3 error code of a response belongs to one of these (docs/s3.md).
  BF_S3_AUTH: { summary: 'an S3 request is not authenticated: unknown access key, wrong signature, expired or skewed', exitCode: EXIT.FAILURE, httpStatus: 403 },
  BF_S3_DENIED: { summary: 'the S3 user may not do this to this bucket', exitCode: EXIT.FAILURE, httpStatus: 403 },
  BF_S3_NO_SUCH: { summary: 'no such S3 bucket, key or multipart upload', exitCode: EXIT.FAILURE, httpStatus: 404 },
  BF_S3_CONFLICT: { summary: 'the S3 bucket exists already, or is not empty', exitCode: EXIT.FAILURE, httpStatus: 409 },
  BF_S3_INVALID: { summary: 'an S3 request is malformed or breaks a limit (XML, names, parts, sizes)', exitCode: EXIT.USAGE, httpStatus: 400 },
  BF_S3_DIGEST: { summary: 'an S3 request body does not match its Content-MD5, SHA-256, checksum or length', exitCode: EXIT.FAILURE, httpStatus: 400 },
  BF_S3_PRECONDITION: { summary: 'an S3 conditional request does not hold', exitCode: EXIT.FAILURE, httpStatus: 412 },
  BF_S3_NOT_IMPLEMENTED: { summary: 'the S3 operation or header is not supported', exitCode: EXIT.FAILURE, httpStatus: 501 },
  // Format v3 packs and the blob index (docs/FORMAT.md §13.2, §13.5).
  BF_BLOB_MISSING: { summary: 'no valid location holds a blob (format v3): every pack or large-blob archive the index names for it is gone, damaged beyond repair, or does not list it', exitCode: EXIT.UNRECOVERABLE, httpStatus: 404 },
  BF_INDEX_INVALID: { summary: 'an index file (index/*.jsonl, format v3) is damaged: its bytes do not hash to its name, or a line breaks the format', exitCode: EXIT.FAILURE, httpStatus: 500 },
  // Format v3 trees (FORMAT.md 13.3): snapshots, tree walk and restore.
  BF_PATH_UNSAFE: { summary: 'a path of a tree breaks the path rules (empty, absolute, `.`/`..` or empty component, NUL, over 4096 bytes) or would escape the output directory (a link, file or name the file system refuses where the restore must write)', exitCode: EXIT.FAILURE, httpStatus: 400 },
  BF_SNAPSHOT_INVALID: { summary: 'a snapshot header or body line fails the format (fields, order, parents, sizes or hashes)', exitCode: EXIT.FAILURE, httpStatus: 500 },
  // Format v3 catalog (docs/FORMAT.md §13.4, §13.6): name records and repository locks.
  BF_NAME_RECORD_INVALID: { summary: 'a name record (catalog/names/*.json, format v3) is damaged on every store: rebuild it from the snapshot headers', exitCode: EXIT.FAILURE, httpStatus: 500 },
  BF_REPO_LOCKED: { summary: 'another process holds a repository lock this operation cannot run beside (the exclusive lock of a prune; for prune, any other fresh lock); the error names the holder', exitCode: EXIT.FAILURE, httpStatus: 409 },
  // Format v3 S3 staging (docs/FORMAT.md §13.9).
  BF_STAGING_INVALID: { summary: 'a staging segment (.s3/staging/*.seg, format v3) is damaged: its bytes do not hash to its name, its header breaks the format, or a blob in it does not match its hash', exitCode: EXIT.FAILURE, httpStatus: 500 },
} as const satisfies Record<string, CodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Context a user needs to act on an error; every field optional. */
export interface ErrorContext {
  archive?: string;
  path?: string;
  shard?: string;
  field?: string;
  [key: string]: unknown;
}

/** The one error type BlockFrame throws on purpose. Match on `code`, never on `message`. */
export class BlockFrameError extends Error {
  readonly code: ErrorCode;
  readonly context: ErrorContext;
  constructor(code: ErrorCode, message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BlockFrameError';
    this.code = code;
    this.context = context;
  }
  get exitCode(): number {
    return ERROR_CODES[this.code].exitCode;
  }
  get httpStatus(): number {
    return ERROR_CODES[this.code].httpStatus;
  }
  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...this.context };
  }
}

/** Codes a retry may cure: the store was down or slow, not wrong. */
export const TRANSIENT_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['BF_STORE_UNAVAILABLE']);

export function isBlockFrameError(err: unknown, code?: ErrorCode): err is BlockFrameError {
  return err instanceof BlockFrameError && (code === undefined || err.code === code);
}

/** Map a Node system error (ENOENT, ENOSPC, …) on `path` to a coded error; other errors pass through. */
export function fromSystemError(err: unknown, path: string, what: string): unknown {
  if (err instanceof BlockFrameError) return err;
  const sys = err as NodeJS.ErrnoException;
  switch (sys?.code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new BlockFrameError('BF_NO_SPACE', `no space left on device while ${what}: ${path}`, { path }, { cause: err });
    case 'ENOENT':
      return new BlockFrameError('BF_FILE_NOT_FOUND', `no such file: ${path}`, { path }, { cause: err });
    case 'EACCES':
    case 'EPERM':
      return new BlockFrameError('BF_FILE_UNREADABLE', `permission denied while ${what}: ${path}`, { path }, { cause: err });
    case 'EISDIR':
      return new BlockFrameError('BF_NOT_A_FILE', `not a regular file: ${path}`, { path }, { cause: err });
    case 'EROFS':
      return new BlockFrameError('BF_IO', `read-only filesystem while ${what}: ${path}`, { path, errno: 'EROFS' }, { cause: err });
    case 'ABORT_ERR':
      return new BlockFrameError('BF_ABORTED', `cancelled while ${what}`, { path }, { cause: err });
    default:
      if (typeof sys?.code === 'string' && /^E[A-Z]+$/.test(sys.code)) {
        return new BlockFrameError('BF_IO', `${sys.code} while ${what}: ${path}`, { path, errno: sys.code }, { cause: err });
      }
      return err;
  }
}
