// Owns AES-256-GCM for format v2 (docs/FORMAT.md §12.2, §12.4): frame nonces and associated data, metadata sealing.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { BlockFrameError } from '../errors.js';
import { GCM_TAG_BYTES } from './frames.js';

export const KEY_BYTES = 32;
export const NONCE_BYTES = 12;
export const ARCHIVE_ID_BYTES = 32;

/** Nonce of frame j: 0x00000000 || u64be(j). Unique per data key because every commit draws a fresh key. */
export function frameNonce(j: number): Buffer {
  const n = Buffer.alloc(NONCE_BYTES);
  n.writeBigUInt64BE(BigInt(j), 4);
  return n;
}

/** Associated data of frame j: "BF2F" || archive id || u64be(j) || u32be(plain length) || u8(flags). */
export function frameAad(archiveId: Uint8Array, j: number, plainLength: number, compressed: boolean): Buffer {
  const a = Buffer.alloc(4 + ARCHIVE_ID_BYTES + 8 + 4 + 1);
  a.write('BF2F', 0, 'latin1');
  a.set(archiveId, 4);
  a.writeBigUInt64BE(BigInt(j), 4 + ARCHIVE_ID_BYTES);
  a.writeUInt32BE(plainLength, 12 + ARCHIVE_ID_BYTES);
  a[16 + ARCHIVE_ID_BYTES] = compressed ? 1 : 0;
  return a;
}

/**
 * Encrypt `body` into `out` (body.length + 16 bytes: ciphertext then tag). NIST SP 800-38D, 96-bit nonce.
 */
export function sealInto(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, body: Uint8Array, out: Uint8Array): number {
  const c = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_BYTES });
  c.setAAD(aad);
  let o = 0;
  const a = c.update(body);
  out.set(a, o);
  o += a.length;
  const f = c.final();
  out.set(f, o);
  o += f.length;
  out.set(c.getAuthTag(), o);
  return o + GCM_TAG_BYTES;
}

/** Decrypt `sealed` (ciphertext || tag); throws BF_FRAME_INVALID (with `what`) when the tag does not verify. */
export function open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array, what: string): Buffer {
  if (sealed.length < GCM_TAG_BYTES) throw new BlockFrameError('BF_FRAME_INVALID', `${what}: ${sealed.length} bytes is shorter than its tag`);
  const d = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: GCM_TAG_BYTES });
  d.setAAD(aad);
  d.setAuthTag(sealed.subarray(sealed.length - GCM_TAG_BYTES));
  const head = d.update(sealed.subarray(0, sealed.length - GCM_TAG_BYTES));
  try {
    const tail = d.final();
    return tail.length ? Buffer.concat([head, tail]) : head;
  } catch {
    throw new BlockFrameError('BF_FRAME_INVALID', `${what}: authentication failed (the bytes were altered, moved or belong to another archive)`);
  }
}

/** nonce (12 random bytes) || AES-256-GCM(key, nonce, plain, aad), base64: the sealed metadata and keyslot form. */
export function sealRandom(key: Uint8Array, aad: Uint8Array, plain: Uint8Array): string {
  const nonce = randomBytes(NONCE_BYTES);
  const out = Buffer.alloc(NONCE_BYTES + plain.length + GCM_TAG_BYTES);
  out.set(nonce, 0);
  sealInto(key, nonce, aad, plain, out.subarray(NONCE_BYTES));
  return out.toString('base64');
}

/** Inverse of sealRandom; null when the tag does not verify (a wrong key, or tampering). */
export function openRandom(key: Uint8Array, aad: Uint8Array, b64: string): Buffer | null {
  const raw = Buffer.from(b64, 'base64');
  if (raw.length < NONCE_BYTES + GCM_TAG_BYTES) return null;
  try {
    return open(key, raw.subarray(0, NONCE_BYTES), aad, raw.subarray(NONCE_BYTES), 'sealed value');
  } catch {
    return null;
  }
}

/** "BF2M" || archive id: the associated data of the sealed metadata. */
export function metadataAad(archiveId: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from('BF2M', 'latin1'), archiveId]);
}

/** "BF2K" || archive id || slot id (8 bytes): the associated data of a wrapped data key. */
export function slotAad(archiveId: Uint8Array, slotId: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from('BF2K', 'latin1'), archiveId, slotId]);
}
