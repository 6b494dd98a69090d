// The keys an operation holds, and opening encrypted archives with them (docs/FORMAT.md §12.4).
import { BlockFrameError } from '../errors.js';
import { readKeyFile } from '../io/keyfile.js';
import { frameTable, isEncrypted, type Manifest } from '../layout/manifest.js';
import type { FrameTable } from '../transform/frames.js';
import type { FrameParams } from '../transform/frame-codec.js';
import { KEYFILE_MIN_BYTES, unwrap, type KeySecret } from '../transform/keys.js';
import { metadataAad, openRandom } from '../transform/seal.js';

/** A key as the library takes it: a passphrase, the path of a key file, or a key file's bytes. */
export type KeyInput = { passphrase: string } | { keyFile: string } | { keyBytes: Uint8Array; label?: string };

/** Read key files and check them: BF_KEYFILE_INVALID when one is unreadable or shorter than 32 bytes. */
export async function loadSecrets(keys: readonly KeyInput[] = []): Promise<KeySecret[]> {
  const out: KeySecret[] = [];
  for (const k of keys) {
    if ('passphrase' in k) {
      if (k.passphrase.length === 0) throw new BlockFrameError('BF_USAGE', 'an empty passphrase is not a key');
      out.push({ kind: 'passphrase', passphrase: k.passphrase });
      continue;
    }
    let bytes: Uint8Array;
    const label = 'keyFile' in k ? k.keyFile : (k.label ?? 'key bytes');
    if ('keyFile' in k) bytes = await readKeyFile(k.keyFile);
    else bytes = k.keyBytes;
    if (bytes.length < KEYFILE_MIN_BYTES) throw new BlockFrameError('BF_KEYFILE_INVALID', `key file ${label} holds ${bytes.length} bytes; a key file needs at least ${KEYFILE_MIN_BYTES} (make one: head -c 32 /dev/urandom > key)`, { path: label });
    out.push({ kind: 'keyfile', bytes, label });
  }
  return out;
}

/** What a reader needs to turn stored bytes back into the file. */
export interface Content {
  /** The file's name and BLAKE3 (from the sealed metadata when encrypted). */
  name: string;
  originalHash: string;
  source?: Manifest['source'];
  /** null when the stored stream is the file (no transforms). */
  table: FrameTable | null;
  params: FrameParams;
}

interface SealedFacts {
  name: string;
  original_hash: string;
  size: number;
  frame_size: number;
  source?: Manifest['source'];
}

/** Open an archive's content: for an encrypted one, unwrap the data key with `secrets` (BF_KEY_REQUIRED / BF_KEY_WRONG). */
export async function openContent(dir: string, m: Manifest, secrets: readonly KeySecret[]): Promise<Content> {
  const c = m.content;
  if (!c) return { name: m.name!, originalHash: m.original_hash!, source: m.source, table: null, params: {} };
  const zstd = c.transforms.find((t) => t.type === 'zstd');
  const params: FrameParams = { zstdLevel: zstd?.type === 'zstd' ? zstd.level : undefined };
  if (!isEncrypted(m)) return { name: m.name!, originalHash: m.original_hash!, source: m.source, table: frameTable(m), params };
  const enc = c.encryption!;
  if (secrets.length === 0) throw new BlockFrameError('BF_KEY_REQUIRED', `archive ${dir} is encrypted: give a key (--key-file FILE, or BLOCKFRAME_PASSPHRASE / BLOCKFRAME_KEY_FILE)`, { archive: dir });
  const archiveId = Buffer.from(enc.archive_id, 'hex');
  const opened = await unwrap(secrets, enc.keyslots, archiveId);
  if (!opened) throw new BlockFrameError('BF_KEY_WRONG', `archive ${dir}: none of the ${secrets.length} key(s) given opens any of its ${enc.keyslots.length} keyslot(s)`, { archive: dir });
  const meta = openRandom(opened.dataKey, metadataAad(archiveId), enc.metadata);
  if (!meta) throw new BlockFrameError('BF_FRAME_INVALID', `archive ${dir}: the sealed metadata fails authentication`, { archive: dir });
  let facts: SealedFacts;
  try {
    facts = JSON.parse(meta.toString('utf8')) as SealedFacts;
  } catch {
    throw new BlockFrameError('BF_FRAME_INVALID', `archive ${dir}: the sealed metadata is not JSON`, { archive: dir });
  }
  if (typeof facts.name !== 'string' || !/^[0-9a-f]{64}$/.test(facts.original_hash)) throw new BlockFrameError('BF_FRAME_INVALID', `archive ${dir}: the sealed metadata lacks name or original_hash`, { archive: dir });
  if (facts.size !== m.size || facts.frame_size !== c.frame_size) {
    throw new BlockFrameError('BF_FRAME_INVALID', `archive ${dir}: the manifest's size or frame size differs from the sealed ones (frames cut off or moved?)`, { archive: dir });
  }
  return { name: facts.name, originalHash: facts.original_hash, source: facts.source, table: frameTable(m), params: { ...params, key: opened.dataKey, archiveId } };
}

/** The name to show for an archive without opening it: the file name, or "(encrypted)" when sealed. */
export function shownName(m: Manifest): string {
  return m.name ?? '(encrypted)';
}
