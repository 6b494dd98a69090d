// `key add|list|remove`: an encrypted archive's keyslots. Only the manifest set is rewritten; the data never is.
import { BlockFrameError } from '../errors.js';
import { withArchiveLock } from '../archive/lock.js';
import { withRepo, type Repository } from '../archive/repo.js';
import { isEncrypted, serializeManifest, type Manifest } from '../layout/manifest.js';
import { makeSlot, unwrap, type KeySlot } from '../transform/keys.js';
import type { OperationOptions } from './context.js';
import { resolveArchive } from './find.js';
import { loadSecrets, type KeyInput } from '../archive/keyring.js';

export interface KeySlotInfo {
  id: string;
  kind: KeySlot['kind'];
  kdf: string;
  createdAt: string;
  /** Did one of the caller's keys open this slot? */
  opens: boolean;
}

async function encrypted(repo: Repository, query: string, opts: OperationOptions): Promise<{ dir: string; m: Manifest }> {
  const dir = await resolveArchive(repo, query, await loadSecrets(opts.keys));
  const m = await repo.readManifest(dir);
  if (!isEncrypted(m)) throw new BlockFrameError('BF_USAGE', `archive ${dir} is not encrypted: it has no keys`, { archive: dir });
  return { dir, m };
}

/** The data key of `m` under the caller's keys: BF_KEY_REQUIRED / BF_KEY_WRONG otherwise. */
async function dataKey(dir: string, m: Manifest, opts: OperationOptions): Promise<Buffer> {
  const secrets = await loadSecrets(opts.keys);
  const enc = m.content!.encryption!;
  if (secrets.length === 0) throw new BlockFrameError('BF_KEY_REQUIRED', `archive ${dir} is encrypted: give a key that opens it`, { archive: dir });
  const opened = await unwrap(secrets, enc.keyslots, Buffer.from(enc.archive_id, 'hex'));
  if (!opened) throw new BlockFrameError('BF_KEY_WRONG', `archive ${dir}: none of the keys given opens it`, { archive: dir });
  return opened.dataKey;
}

/** The keyslots of an encrypted archive (no key needed; with keys, which slots they open). */
export async function listKeys(query: string, opts: OperationOptions = {}): Promise<{ dir: string; slots: KeySlotInfo[] }> {
  return withRepo(opts, async (repo) => {
    const { dir, m } = await encrypted(repo, query, opts);
    const enc = m.content!.encryption!;
    const secrets = await loadSecrets(opts.keys);
    const slots: KeySlotInfo[] = [];
    for (const s of enc.keyslots) {
      const opens = secrets.length > 0 && (await unwrap(secrets, [s], Buffer.from(enc.archive_id, 'hex'))) !== null;
      slots.push({ id: s.id, kind: s.kind, kdf: s.kdf.name === 'scrypt' ? `scrypt N=${s.kdf.n} r=${s.kdf.r} p=${s.kdf.p}` : s.kdf.name, createdAt: s.created_at, opens });
    }
    return { dir, slots };
  });
}

/**
 * Add a keyslot for `newKey` to an encrypted archive, unlocked with `opts.keys`. Rewrites the manifest set on every
 * store (under the archive's lock); the data is untouched. Errors: BF_KEY_REQUIRED, BF_KEY_WRONG, BF_USAGE.
 */
export async function addKey(query: string, newKey: KeyInput, opts: OperationOptions & { scrypt?: { n: number; r: number; p: number } } = {}): Promise<{ dir: string; slot: KeySlotInfo }> {
  const [secret] = await loadSecrets([newKey]);
  return withRepo(opts, async (repo) => {
    const { dir } = await encrypted(repo, query, opts);
    return withArchiveLock(repo, dir, async () => {
      const m = await repo.readManifest(dir);
      const dk = await dataKey(dir, m, opts);
      const enc = m.content!.encryption!;
      if ((await unwrap([secret!], enc.keyslots, Buffer.from(enc.archive_id, 'hex'))) !== null) throw new BlockFrameError('BF_USAGE', `archive ${dir}: that key already opens it`, { archive: dir });
      if (enc.keyslots.length >= 64) throw new BlockFrameError('BF_USAGE', `archive ${dir} already has 64 keyslots`, { archive: dir });
      const slot = await makeSlot(secret!, dk, Buffer.from(enc.archive_id, 'hex'), opts.scrypt);
      const next: Manifest = { ...m, content: { ...m.content!, encryption: { ...enc, keyslots: [...enc.keyslots, slot] } } };
      await repo.writeManifestSet(dir, serializeManifest(next), undefined, opts.signal);
      return { dir, slot: { id: slot.id, kind: slot.kind, kdf: slot.kdf.name, createdAt: slot.created_at, opens: true } };
    }, opts.signal);
  });
}

/**
 * Remove keyslot `id`, unlocked with `opts.keys` (which must open a slot other than the last one left). The data key
 * does not change: whoever kept the removed key and an old copy of the manifest can still read the data.
 */
export async function removeKey(query: string, id: string, opts: OperationOptions = {}): Promise<{ dir: string; removed: string; left: number }> {
  return withRepo(opts, async (repo) => {
    const { dir } = await encrypted(repo, query, opts);
    return withArchiveLock(repo, dir, async () => {
      const m = await repo.readManifest(dir);
      await dataKey(dir, m, opts);
      const enc = m.content!.encryption!;
      if (!enc.keyslots.some((s) => s.id === id)) throw new BlockFrameError('BF_USAGE', `archive ${dir} has no keyslot ${JSON.stringify(id)} (see: blockframe key list)`, { archive: dir });
      const keyslots = enc.keyslots.filter((s) => s.id !== id);
      if (keyslots.length === 0) throw new BlockFrameError('BF_USAGE', `refusing to remove the last keyslot of ${dir}: the archive would be unreadable`, { archive: dir });
      const next: Manifest = { ...m, content: { ...m.content!, encryption: { ...enc, keyslots } } };
      await repo.writeManifestSet(dir, serializeManifest(next), undefined, opts.signal);
      return { dir, removed: id, left: keyslots.length };
    }, opts.signal);
  });
}
