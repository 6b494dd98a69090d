// S3 error vocabulary: the S3 codes the endpoint answers with, their statuses, and the map from BlockFrame codes.
import { BlockFrameError, ERROR_CODES, fromSystemError, isBlockFrameError, type ErrorCode, type ErrorContext } from '../errors.js';

/**
 * S3 error codes this endpoint sends, with the HTTP status AWS documents for each and the BlockFrame code the
 * error carries (`code`), so logs and the library match on BF_ codes while clients see S3 codes.
 * Source: Amazon S3 API Reference, "Error responses" (List of error codes).
 */
export const S3_ERRORS = {
  AccessDenied: { status: 403, bf: 'BF_S3_DENIED' },
  AccessForbidden: { status: 403, bf: 'BF_S3_DENIED' },
  AuthorizationHeaderMalformed: { status: 400, bf: 'BF_S3_AUTH' },
  AuthorizationQueryParametersError: { status: 400, bf: 'BF_S3_AUTH' },
  BadDigest: { status: 400, bf: 'BF_S3_DIGEST' },
  BucketAlreadyExists: { status: 409, bf: 'BF_S3_CONFLICT' },
  BucketAlreadyOwnedByYou: { status: 409, bf: 'BF_S3_CONFLICT' },
  BucketNotEmpty: { status: 409, bf: 'BF_S3_CONFLICT' },
  ConditionalRequestConflict: { status: 409, bf: 'BF_S3_PRECONDITION' },
  EntityTooLarge: { status: 400, bf: 'BF_S3_INVALID' },
  EntityTooSmall: { status: 400, bf: 'BF_S3_INVALID' },
  IncompleteBody: { status: 400, bf: 'BF_S3_DIGEST' },
  InsufficientStorage: { status: 507, bf: 'BF_NO_SPACE' },
  InternalError: { status: 500, bf: 'BF_INTERNAL' },
  InvalidAccessKeyId: { status: 403, bf: 'BF_S3_AUTH' },
  InvalidArgument: { status: 400, bf: 'BF_S3_INVALID' },
  InvalidBucketName: { status: 400, bf: 'BF_S3_INVALID' },
  InvalidDigest: { status: 400, bf: 'BF_S3_DIGEST' },
  InvalidPart: { status: 400, bf: 'BF_S3_INVALID' },
  InvalidPartNumber: { status: 416, bf: 'BF_RANGE_NOT_SATISFIABLE' },
  InvalidPartOrder: { status: 400, bf: 'BF_S3_INVALID' },
  InvalidRange: { status: 416, bf: 'BF_RANGE_NOT_SATISFIABLE' },
  InvalidRequest: { status: 400, bf: 'BF_S3_INVALID' },
  InvalidURI: { status: 400, bf: 'BF_S3_INVALID' },
  KeyTooLongError: { status: 400, bf: 'BF_S3_INVALID' },
  MalformedXML: { status: 400, bf: 'BF_S3_INVALID' },
  MaxMessageLengthExceeded: { status: 400, bf: 'BF_S3_INVALID' },
  MetadataTooLarge: { status: 400, bf: 'BF_S3_INVALID' },
  MethodNotAllowed: { status: 405, bf: 'BF_METHOD_NOT_ALLOWED' },
  MissingContentLength: { status: 411, bf: 'BF_S3_INVALID' },
  NoSuchBucket: { status: 404, bf: 'BF_S3_NO_SUCH' },
  NoSuchKey: { status: 404, bf: 'BF_S3_NO_SUCH' },
  NoSuchUpload: { status: 404, bf: 'BF_S3_NO_SUCH' },
  NotImplemented: { status: 501, bf: 'BF_S3_NOT_IMPLEMENTED' },
  PreconditionFailed: { status: 412, bf: 'BF_S3_PRECONDITION' },
  RequestTimeTooSkewed: { status: 403, bf: 'BF_S3_AUTH' },
  RequestTimeout: { status: 400, bf: 'BF_ABORTED' },
  ServiceUnavailable: { status: 503, bf: 'BF_STORE_UNAVAILABLE' },
  SignatureDoesNotMatch: { status: 403, bf: 'BF_S3_AUTH' },
  SlowDown: { status: 503, bf: 'BF_SERVER_BUSY' },
  XAmzContentSHA256Mismatch: { status: 400, bf: 'BF_S3_DIGEST' },
} as const satisfies Record<string, { status: number; bf: ErrorCode }>;

export type S3Code = keyof typeof S3_ERRORS;

/**
 * The S3 column of the error catalogue: the S3 code a BlockFrame error is answered with when it reaches a client
 * without a more precise S3 code of its own. Codes not listed fall back by HTTP status (see s3CodeFor).
 * docs/errors.md shows this table; test/s3/errors.test.ts keeps the two in step.
 */
export const S3_FOR_BF: Partial<Record<ErrorCode, S3Code>> = {
  BF_INVALID_RANGE: 'InvalidArgument',
  BF_RANGE_NOT_SATISFIABLE: 'InvalidRange',
  BF_NO_SPACE: 'InsufficientStorage',
  BF_ARCHIVE_NOT_FOUND: 'NoSuchKey',
  BF_BAD_REQUEST: 'InvalidRequest',
  BF_UNAUTHORIZED: 'AccessDenied',
  BF_FORBIDDEN: 'AccessDenied',
  BF_NOT_FOUND: 'NoSuchKey',
  BF_METHOD_NOT_ALLOWED: 'MethodNotAllowed',
  BF_ARCHIVE_BUSY: 'SlowDown',
  BF_SERVER_BUSY: 'SlowDown',
  BF_STORE_UNAVAILABLE: 'ServiceUnavailable',
  // A blob no pack holds any more is lost data, not a bad request.
  BF_BLOB_MISSING: 'InternalError',
  BF_STORE_KEY_MISSING: 'InternalError',
  BF_STORE_DENIED: 'InternalError',
  BF_STORE_NOT_MOUNTED: 'ServiceUnavailable',
  BF_STORE_FOREIGN: 'InternalError',
  BF_ABORTED: 'IncompleteBody',
  BF_KEY_REQUIRED: 'AccessDenied',
  BF_KEY_WRONG: 'AccessDenied',
  BF_FRAME_INVALID: 'InternalError',
  BF_TRANSFORM_UNAVAILABLE: 'NotImplemented',
  BF_S3_AUTH: 'SignatureDoesNotMatch',
  BF_S3_DENIED: 'AccessDenied',
  BF_S3_NO_SUCH: 'NoSuchKey',
  BF_S3_CONFLICT: 'BucketNotEmpty',
  BF_S3_INVALID: 'InvalidRequest',
  BF_S3_DIGEST: 'BadDigest',
  BF_S3_PRECONDITION: 'PreconditionFailed',
  BF_S3_NOT_IMPLEMENTED: 'NotImplemented',
  // A prune holds the repository (docs/FORMAT.md §13.6): a client should retry later, as on a busy archive.
  BF_REPO_LOCKED: 'SlowDown',
};

/** A coded error that is answered with S3 code `s3` (its BlockFrame code from S3_ERRORS unless `bf` says). */
export function s3Error(s3: S3Code, message: string, context: ErrorContext = {}, bf: ErrorCode = S3_ERRORS[s3].bf): BlockFrameError {
  return new BlockFrameError(bf, message, { ...context, s3 });
}

/**
 * Fixed messages for errors that did not arise in this layer (their own text may name server paths, store keys
 * or archive directories): the client gets the S3 code's text here, or the catalogue's summary of the
 * BlockFrame code; never the lower layer's message.
 */
const CLIENT_MESSAGES: Partial<Record<S3Code, string>> = {
  AccessDenied: 'Access Denied',
  IncompleteBody: 'You did not provide the number of bytes specified by the Content-Length HTTP header.',
  InsufficientStorage: 'Your upload exceeds the space left on the server.',
  InternalError: 'We encountered an internal error. Please try again.',
  InvalidRange: 'The requested range is not satisfiable',
  NoSuchKey: 'The specified key does not exist.',
  ServiceUnavailable: 'Service is unable to handle request.',
  SlowDown: 'Please reduce your request rate.',
};

/** What a client is told about an error: S3 code, status, message, and the context fields it may see. */
export interface ClientError {
  code: S3Code;
  status: number;
  message: string;
  /** The error's context when it was raised as an S3 error in this layer (bucket, key, …: the client's own words); else empty. */
  context: ErrorContext;
  /** The full detail was withheld (a 5xx, or a lower layer's error): log it. */
  withheld: boolean;
}

/**
 * The client's view of any error. Only errors raised with s3Error (messages written in src/s3 for clients, from
 * what the client sent) keep their message and context; every other error (store, engine, file system, bugs) is
 * answered with a fixed text, so no server path, store key or archive directory ever reaches a client. An
 * InternalError's message is always the fixed one.
 */
export function clientError(err: unknown): ClientError {
  const { code, status } = s3CodeFor(err);
  const authored = isBlockFrameError(err) && typeof err.context.s3 === 'string';
  if (authored && code !== 'InternalError') return { code, status, message: err.message, context: err.context, withheld: status >= 500 };
  const bf = isBlockFrameError(err) ? err.code : undefined;
  const message = CLIENT_MESSAGES[code] ?? (bf ? `${ERROR_CODES[bf].summary[0]!.toUpperCase()}${ERROR_CODES[bf].summary.slice(1)}.` : CLIENT_MESSAGES.InternalError!);
  return { code, status, message, context: {}, withheld: true };
}

/**
 * The S3 code and status for any error: the error's own `s3` context, else the S3 column, else by the
 * BlockFrame code's HTTP status (4xx → InvalidRequest, 5xx → InternalError). A Node system error that escaped
 * unclassified is classified as the file layer would (fromSystemError: ENOSPC is BF_NO_SPACE, so 507
 * InsufficientStorage); any other non-BlockFrame error is a bug (InternalError).
 */
export function s3CodeFor(err: unknown): { code: S3Code; status: number } {
  if (!isBlockFrameError(err)) {
    const sys = fromSystemError(err, '', 'serving an S3 request');
    return isBlockFrameError(sys) ? s3CodeFor(sys) : { code: 'InternalError', status: 500 };
  }
  const own = err.context.s3;
  if (typeof own === 'string' && own in S3_ERRORS) return { code: own as S3Code, status: S3_ERRORS[own as S3Code].status };
  const mapped = S3_FOR_BF[err.code];
  if (mapped) return { code: mapped, status: S3_ERRORS[mapped].status };
  const status = ERROR_CODES[err.code]?.httpStatus ?? 500;
  return status < 500 ? { code: 'InvalidRequest', status: 400 } : { code: 'InternalError', status: 500 };
}
