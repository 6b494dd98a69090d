// The aws-chunked body encoding: decode it in constant memory, checking each chunk's signature and the trailer.
import { createHash } from 'node:crypto';
import { s3Error } from './errors.js';
import { chunkStringToSign, EMPTY_SHA256, signHex, trailerStringToSign } from './sigv4.js';

/** A chunk header line ("hex-size;chunk-signature=…") or a trailer line longer than this is malformed. */
const MAX_LINE = 4096;
/** Trailer lines accepted at most (S3 sends one checksum and a signature). */
const MAX_TRAILERS = 16;

export interface ChunkChain {
  /** Each chunk is signed, chaining on `seed` (the request's signature); else only framing is checked. */
  signed: boolean;
  /**
   * The body ends in trailing headers (the -TRAILER payloads). When also `signed`, the trailer must carry an
   * x-amz-trailer-signature that verifies; without `trailer`, anything after the final chunk is refused.
   */
  trailer: boolean;
  seed: string;
  key: Buffer;
  scope: string;
  amzDate: string;
}

/** Trailing headers of the body (lower-case names), e.g. x-amz-checksum-crc32, once the generator has finished. */
export type Trailers = Map<string, string>;

function bad(why: string): Error {
  return s3Error('IncompleteBody', `the aws-chunked body is malformed: ${why}`);
}

/**
 * Decode an aws-chunked body (Amazon S3 API Reference, "Signature Calculations for the Authorization Header:
 * Transferring Payload in Multiple Chunks" and "…with trailing checksums"). Yields the decoded bytes as they
 * arrive (slices of the input: nothing is held beyond one header line), verifies each chunk signature at the
 * chunk's end (SignatureDoesNotMatch), and fills `trailers`. Bytes are yielded before their chunk is verified:
 * callers spool them and decide only after the generator returns.
 */
export async function* decodeChunked(source: AsyncIterable<Buffer>, chain: ChunkChain, trailers: Trailers): AsyncGenerator<Buffer> {
  let previous = chain.seed;
  let pending: Buffer = Buffer.alloc(0);
  const it = source[Symbol.asyncIterator]();
  let ended = false;
  const more = async (): Promise<boolean> => {
    if (ended) return false;
    const n = await it.next();
    if (n.done) {
      ended = true;
      return false;
    }
    pending = pending.length ? Buffer.concat([pending, n.value]) : n.value;
    return true;
  };
  const line = async (): Promise<string> => {
    for (;;) {
      const i = pending.indexOf('\r\n');
      if (i >= 0) {
        const text = pending.subarray(0, i).toString('latin1');
        pending = pending.subarray(i + 2);
        return text;
      }
      if (pending.length > MAX_LINE) throw bad('a header line is too long');
      if (!(await more())) throw bad('the body ends inside a chunk header');
    }
  };
  for (;;) {
    const head = await line();
    const m = /^([0-9a-fA-F]{1,16})(?:;chunk-signature=([0-9a-f]{64}))?$/.exec(head);
    if (!m) throw bad(`bad chunk header ${JSON.stringify(head.slice(0, 100))}`);
    const size = parseInt(m[1]!, 16);
    if (chain.signed && !m[2]) throw bad('a chunk has no chunk-signature');
    const hash = chain.signed ? createHash('sha256') : undefined;
    let left = size;
    while (left > 0) {
      if (pending.length === 0 && !(await more())) throw bad('the body ends inside a chunk');
      const take = pending.subarray(0, Math.min(left, pending.length));
      pending = pending.subarray(take.length);
      left -= take.length;
      hash?.update(take);
      yield take;
    }
    if (chain.signed) {
      const digest = size === 0 ? EMPTY_SHA256 : hash!.digest('hex');
      const expected = signHex(chain.key, chunkStringToSign(chain.amzDate, chain.scope, previous, digest));
      if (expected !== m[2]) throw s3Error('SignatureDoesNotMatch', 'a chunk signature of the aws-chunked body does not match');
      previous = expected;
    }
    if (size > 0) {
      if ((await line()) !== '') throw bad('a chunk is longer than its header says');
      continue;
    }
    // The last chunk: with trailers, header lines until an empty line; without, one empty line (or the end).
    if (pending.length === 0 && !(await more())) {
      if (chain.signed && chain.trailer) throw bad('the trailer and its x-amz-trailer-signature are missing');
      return;
    }
    const lines: string[] = [];
    for (;;) {
      const l = await line();
      if (l === '') break;
      lines.push(l);
      if (lines.length > MAX_TRAILERS) throw bad('too many trailer lines');
    }
    let signature: string | undefined;
    let signedText = '';
    for (const l of lines) {
      const c = l.indexOf(':');
      if (c <= 0) throw bad(`bad trailer line ${JSON.stringify(l.slice(0, 100))}`);
      const name = l.slice(0, c).trim().toLowerCase();
      const value = l.slice(c + 1).trim();
      if (name === 'x-amz-trailer-signature') signature = value;
      else {
        trailers.set(name, value);
        signedText += `${name}:${value}\n`;
      }
    }
    if (!chain.trailer && lines.length > 0) throw bad('trailing headers in a body whose x-amz-content-sha256 announces none');
    if (chain.signed && chain.trailer) {
      // A signed-trailer body without its signature would let anyone append or change the trailing checksums.
      if (signature === undefined) throw bad('the trailer has no x-amz-trailer-signature');
      const expected = signHex(chain.key, trailerStringToSign(chain.amzDate, chain.scope, previous, createHash('sha256').update(signedText).digest('hex')));
      if (expected !== signature) throw s3Error('SignatureDoesNotMatch', 'the trailer signature of the aws-chunked body does not match');
    }
    // Anything after the trailer is framing garbage.
    if (pending.length > 0 || (await more())) throw bad('bytes after the final chunk');
    return;
  }
}
