// Owns the integrity layer's coded errors and strict lowercase hex encoding/decoding of byte strings.

import { BlockFrameError } from '../errors.js';

/** Stable codes of errors thrown by src/integrity. Match on `code`, never on `message`. */
export type IntegrityErrorCode =
  | 'BF_HEX_INVALID' // a string is not lowercase hex of the expected length
  | 'BF_BLAKE3_NOT_READY' // a sync BLAKE3 function ran before `await initBlake3()`
  | 'BF_BLAKE3_FINALIZED' // update() on a hash stream after digest()
  | 'BF_BLAKE3_UNITS_INVALID' // unit chaining values asked for or merged with a size, index or count that does not fit the message
  | 'BF_MERKLE_LEAF_INVALID' // a Merkle leaf is not 32 bytes
  | 'BF_MERKLE_INDEX'; // a proof was requested for an index outside [0, leafCount)

/** An integrity-layer error; a BlockFrameError so the one catalogue in src/errors.ts describes every code. */
export class IntegrityError extends BlockFrameError {
  constructor(code: IntegrityErrorCode, message: string) {
    super(code, message);
    this.name = 'IntegrityError';
  }
}

const DIGITS = '0123456789abcdef';
const BYTE_HEX: string[] = Array.from({ length: 256 }, (_, b) => DIGITS[b >> 4]! + DIGITS[b & 15]!);

/** Lowercase hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += BYTE_HEX[bytes[i]!];
  return s;
}

function nibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 97 && c <= 102) return c - 87; // a-f
  return -1;
}

/** True iff `s` is lowercase hex (of exactly `byteLength` bytes when given). */
export function isHex(s: unknown, byteLength?: number): s is string {
  if (typeof s !== 'string' || s.length % 2 !== 0) return false;
  if (byteLength !== undefined && s.length !== byteLength * 2) return false;
  for (let i = 0; i < s.length; i++) if (nibble(s.charCodeAt(i)) < 0) return false;
  return true;
}

/**
 * Decode lowercase hex. Throws BF_HEX_INVALID on odd length, any character outside [0-9a-f]
 * (uppercase is rejected: one value, one spelling), or a length other than `byteLength` bytes when given.
 */
export function fromHex(hex: string, byteLength?: number): Uint8Array {
  if (typeof hex !== 'string') throw new IntegrityError('BF_HEX_INVALID', `expected a hex string, got ${typeof hex}`);
  if (hex.length % 2 !== 0) throw new IntegrityError('BF_HEX_INVALID', `hex string has odd length ${hex.length}`);
  if (byteLength !== undefined && hex.length !== byteLength * 2) {
    throw new IntegrityError('BF_HEX_INVALID', `expected ${byteLength * 2} hex digits, got ${hex.length}`);
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = nibble(hex.charCodeAt(2 * i));
    const lo = nibble(hex.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) {
      const at = hi < 0 ? 2 * i : 2 * i + 1;
      throw new IntegrityError('BF_HEX_INVALID', `invalid hex digit ${JSON.stringify(hex[at])} at offset ${at} (lowercase 0-9a-f only)`);
    }
    out[i] = (hi << 4) | lo;
  }
  return out;
}
