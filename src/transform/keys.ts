// Owns key-encryption keys and keyslots of format v2 (docs/FORMAT.md §12.4): scrypt and HKDF derivation, wrap, unwrap.
import { hkdf, randomBytes, scrypt } from 'node:crypto';
import { BlockFrameError } from '../errors.js';
import { KEY_BYTES, openRandom, sealRandom, slotAad } from './seal.js';

/** Where a key-encryption key comes from: a passphrase, or the bytes of a key file (at least 32). */
export type KeySecret = { kind: 'passphrase'; passphrase: string; label?: string } | { kind: 'keyfile'; bytes: Uint8Array; label?: string };

/** scrypt cost for new passphrase slots (RFC 7914): N = 2^17, r = 8, p = 1 (128 MiB, about 0.3 s here). */
export const SCRYPT_DEFAULT = { n: 1 << 17, r: 8, p: 1 };
export const KEYFILE_MIN_BYTES = 32;
const HKDF_INFO = 'blockframe keyfile v2';

export type Kdf = { name: 'scrypt'; n: number; r: number; p: number; salt: string } | { name: 'hkdf-sha256'; salt: string };

export interface KeySlot {
  id: string;
  kind: 'passphrase' | 'keyfile';
  kdf: Kdf;
  wrapped: string;
  created_at: string;
}

/** Derived KEKs, by secret and kdf, so an archive set opened with one passphrase pays scrypt once per salt. */
const kekCache = new Map<string, Promise<Buffer>>();

function cacheKey(secret: KeySecret, kdf: Kdf): string {
  const s = secret.kind === 'passphrase' ? `p:${secret.passphrase}` : `f:${Buffer.from(secret.bytes).toString('base64')}`;
  return `${s}\u0000${JSON.stringify(kdf)}`;
}

/** The KEK for `secret` under `kdf` (its kind must match). */
export function deriveKek(secret: KeySecret, kdf: Kdf): Promise<Buffer> {
  const k = cacheKey(secret, kdf);
  let p = kekCache.get(k);
  if (!p) {
    p = derive(secret, kdf);
    kekCache.set(k, p);
    if (kekCache.size > 256) kekCache.delete(kekCache.keys().next().value!);
    p.catch(() => kekCache.delete(k));
  }
  return p;
}

function derive(secret: KeySecret, kdf: Kdf): Promise<Buffer> {
  const salt = Buffer.from(kdf.salt, 'base64');
  if (kdf.name === 'scrypt') {
    if (secret.kind !== 'passphrase') return Promise.reject(new BlockFrameError('BF_INTERNAL', 'scrypt slot with a key file'));
    const maxmem = 256 * kdf.n * kdf.r;
    return new Promise((res, rej) => scrypt(secret.passphrase.normalize('NFC'), salt, KEY_BYTES, { N: kdf.n, r: kdf.r, p: kdf.p, maxmem }, (e, k) => (e ? rej(e) : res(k))));
  }
  if (secret.kind !== 'keyfile') return Promise.reject(new BlockFrameError('BF_INTERNAL', 'hkdf slot with a passphrase'));
  return new Promise((res, rej) => hkdf('sha256', secret.bytes, salt, HKDF_INFO, KEY_BYTES, (e, k) => (e ? rej(e) : res(Buffer.from(k)))));
}

/** A new keyslot wrapping `dataKey` for `secret` (a fresh salt and slot id). */
export async function makeSlot(secret: KeySecret, dataKey: Uint8Array, archiveId: Uint8Array, scryptParams = SCRYPT_DEFAULT): Promise<KeySlot> {
  const salt = randomBytes(16).toString('base64');
  const kdf: Kdf = secret.kind === 'passphrase' ? { name: 'scrypt', ...scryptParams, salt } : { name: 'hkdf-sha256', salt };
  const id = randomBytes(8);
  const kek = await deriveKek(secret, kdf);
  return { id: id.toString('hex'), kind: secret.kind, kdf, wrapped: sealRandom(kek, slotAad(archiveId, id), dataKey), created_at: new Date().toISOString() };
}

/** The data key, when `secret` opens `slot`; null otherwise. */
export async function openSlot(secret: KeySecret, slot: KeySlot, archiveId: Uint8Array): Promise<Buffer | null> {
  if ((slot.kind === 'passphrase') !== (secret.kind === 'passphrase')) return null;
  const kek = await deriveKek(secret, slot.kdf);
  const dk = openRandom(kek, slotAad(archiveId, Buffer.from(slot.id, 'hex')), slot.wrapped);
  return dk && dk.length === KEY_BYTES ? dk : null;
}

/** Try every secret on every slot; the data key and the slot that opened, or null. */
export async function unwrap(secrets: readonly KeySecret[], slots: readonly KeySlot[], archiveId: Uint8Array): Promise<{ dataKey: Buffer; slot: KeySlot } | null> {
  for (const s of secrets) {
    for (const slot of slots) {
      const dk = await openSlot(s, slot, archiveId);
      if (dk) return { dataKey: dk, slot };
    }
  }
  return null;
}

/** A fresh random data key. */
export function newDataKey(): Buffer {
  return randomBytes(KEY_BYTES);
}
