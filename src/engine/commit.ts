// commit: turn one input (a file, or any InputSource) into a published archive (spool → fsync → publish on every store), idempotently.
import { basename } from 'node:path';
import { randomBytes } from 'node:crypto';
import { spoolFor } from '../archive/shards.js';
import { loadSecrets } from '../archive/keyring.js';
import type { EncodedInput } from '../archive/write/encode-input.js';
import { autoLevel, checkTransforms, StoredInput } from './commit-transforms.js';
import type { FrameParams } from '../transform/frame-codec.js';
import { makeSlot, newDataKey, type KeySecret, type KeySlot } from '../transform/keys.js';
import { ARCHIVE_ID_BYTES, metadataAad, sealRandom } from '../transform/seal.js';
import { BlockFrameError } from '../errors.js';
import { serializeManifest, type Manifest, type ManifestContent } from '../layout/manifest.js';
import { buildManifest, planArchive, planLargeBlob } from '../layout/plan.js';
import { blobDir } from '../layout/keys.js';
import { BLOB_NAME } from '../layout/pack.js';
import { archiveDirName, ENCRYPTED_DIR_NAME, safeNameComponent } from '../layout/names.js';
import type { Tier, TierPolicy } from '../layout/tiers.js';
import { pathStores } from '../layout/placement.js';
import { cleanLeftovers, Staging } from '../archive/publish.js';
import { withRepo, type Repository } from '../archive/repo.js';
import { fileSource, type InputSource, type InputStat } from '../io/input.js';
import { withArchiveLock } from '../archive/lock.js';
import { hasArchiveKeys, removeArchive } from '../archive/remove.js';
import { verifyArchive } from './verify.js';
import { repair } from './repair.js';
import { checkAborted, withPool, type OperationOptions } from './context.js';
import { hashFile } from '../archive/write/hash-file.js';
import { changed, writeShards } from '../archive/write/shard-writer.js';
import { writeShardsInOrder } from '../archive/write/segment-writer.js';
import { DEFAULT_CHUNK_SIZE } from '../layout/chunks.js';
import { VERSION } from '../version.js';

export interface CommitOptions extends OperationOptions {
  /** Force a tier instead of choosing by size. */
  tier?: Tier;
  /** Segment size for Tiers 2 to 4 (default 32 MiB). */
  segmentSize?: number;
  /** Override the size thresholds between tiers. */
  policy?: Partial<TierPolicy>;
  /** Name recorded in the manifest (default: the input's base name). */
  name?: string;
  /** Tier 4: target blocks per level-2 group (default 24; see docs/FORMAT.md for the overhead it gives). */
  groupBlocks?: number;
  /** Rewrite the archive even when the same content is already archived (say, with another tier or segment size). */
  force?: boolean;
  /**
   * Compress frames with zstd at this level (1-19), or 'auto' (level 3 unless a sample of the file shrinks by less
   * than 3%, then no compression). Format v2; docs/FORMAT.md §12.2.
   */
  compress?: number | 'auto';
  /** Encrypt with AES-256-GCM; every key in `keys` gets a keyslot (at least one is needed). docs/FORMAT.md §12.4. */
  encrypt?: boolean;
  /** Plaintext bytes per frame with transforms (default 1 MiB; a power of two, 64 KiB to 16 MiB). */
  frameSize?: number;
  /** scrypt cost for new passphrase keyslots (default N = 2^17, r = 8, p = 1). */
  scrypt?: { n: number; r: number; p: number };
  /**
   * Archive the input as a format-v3 large blob (docs/FORMAT.md §13.1): at `blobs/{h[0:2]}/blob_{h}` (h its BLAKE3),
   * named "blob", without `source`, Tier 3 (Tier 4 from 35 GiB) with the store set's code and full blocks
   * (layout/plan.ts planLargeBlob; `tier`, `segmentSize` and `name` are ignored). Folder commits use it for files
   * of PACK_THRESHOLD (16 MiB) and more; refused (BF_USAGE) with compress or encrypt. Idempotent: the same content
   * again is 'already-archived'.
   */
  largeBlob?: boolean;
  /**
   * Keep the written shards in the page cache (default false: whole rows skip it with O_DIRECT, io/direct-writes.ts,
   * since an archive is rarely read back soon). The S3 server sets it: a client often reads back what it just put.
   */
  cache?: boolean;
}

export interface CommitResult {
  /**
   * 'archived': new; 'already-archived': the same content was there, and sound; 'repaired': it was there,
   * damaged, and repair healed it; 'rewritten': it was there but unrecoverable (or `force`), and was written anew.
   */
  status: 'archived' | 'already-archived' | 'repaired' | 'rewritten';
  /** Settings given but not applied because the content was already archived (use `force` to rewrite). */
  ignored?: string[];
  name: string;
  /** Archive directory name under the root (on every store). */
  dir: string;
  /** Where it is: the absolute path of the archive directory for a single store, else "dir on N stores (…)". */
  path: string;
  size: number;
  tier: Tier;
  originalHash: string;
  segments: number;
  stripes: number;
  manifest: Manifest;
}

/** Commit the file at `file` (see commitInput). */
export async function commit(file: string, opts: CommitOptions = {}): Promise<CommitResult> {
  return commitInput(fileSource(file), opts);
}

/**
 * Commit whatever `source` reads as one archive (the name defaults to the base name of `source.path`): the same
 * checks, idempotence and publication as commit(file). The source is stat'ed before and after and must not
 * change meanwhile (BF_FILE_CHANGED). Used for inputs that are not one file, such as S3 multipart parts.
 */
export async function commitInput(source: InputSource, opts: CommitOptions = {}): Promise<CommitResult> {
  const secrets = await loadSecrets(opts.keys);
  return withRepo(opts, (repo) => commitTo(repo, source, opts, secrets));
}

async function commitTo(repo: Repository, source: InputSource, opts: CommitOptions, secrets: KeySecret[]): Promise<CommitResult> {
  const file = source.path;
  const name = opts.largeBlob ? BLOB_NAME : (opts.name ?? basename(file));
  if (name.length === 0 || name.length > 4096) throw new BlockFrameError('BF_USAGE', `invalid archive name: it must have 1 to 4096 characters (it has ${name.length})`, { field: 'name' });
  const before = await source.stat();
  // Nothing is written to a set with a store missing (not mounted): the error names it and what to do.
  repo.requireAllStores();
  const wanted = checkTransforms(opts, secrets);
  if (wanted && opts.largeBlob) throw new BlockFrameError('BF_USAGE', 'a large blob of a folder commit is stored without compression or encryption (format 3.0)', { field: 'largeBlob' });
  if (!wanted) return commitStored(repo, source, name, before, opts, null);
  // Transforms: encode the file into a stored stream first; the tier follows from the stored size.
  const input = await source.open();
  try {
    return await withPool(opts, async (pool) => {
      await repo.markIfNew(opts.signal);
      await repo.prepareStaging();
      const existing = wanted.encrypt ? [] : await sameNameAndSize(repo, name, before.size);
      if (existing.length && !opts.force) {
        const hash = await hashFile(pool, input, file, before.size, opts);
        const hit = existing.find((e) => e.manifest.original_hash === hash);
        if (hit) return commitStored(repo, source, name, before, { ...opts, pool }, null);
      }
      const level = wanted.level === 'auto' ? await autoLevel(input, before.size, wanted.frameSize) : wanted.level;
      // 'auto' found nothing to gain and nothing is encrypted: a plain archive, without an encode pass.
      if (level === null && !wanted.encrypt) return commitStored(repo, source, name, before, { ...opts, pool }, null);
      const archiveId = randomBytes(ARCHIVE_ID_BYTES);
      const dataKey = wanted.encrypt ? newDataKey() : undefined;
      const params: FrameParams = { zstdLevel: level ?? undefined, ...(dataKey && { key: dataKey, archiveId }) };
      // Keyslots first: a passphrase's scrypt takes 128 MiB for a moment, which must not add to the memory the
      // encode and shard passes hold (peak RSS 330 MiB when it ran at the end, 200 MiB before it).
      const keyslots: KeySlot[] = [];
      if (dataKey) for (const s of secrets) keyslots.push(await makeSlot(s, dataKey, archiveId, opts.scrypt));
      // The frames go from the encoder straight into the shard writer (commit-transforms.ts StoredInput).
      const stored = new StoredInput({ input, inputPath: file, size: before.size, frameSize: wanted.frameSize, params, pool, signal: opts.signal, spool: async () => (await spoolFor(repo, 0)).spool });
      const describe = async (enc: EncodedInput): Promise<Transformed> => {
        const content: ManifestContent = {
          frame_size: wanted.frameSize,
          stored_size: enc.storedSize,
          transforms: [...(level !== null ? [{ type: 'zstd' as const, level }] : []), ...(dataKey ? [{ type: 'aes-256-gcm' as const }] : [])],
          frames: enc.table.toBase64(),
        };
        if (dataKey) {
          // The sealed facts also bind the plaintext size and frame size, so cutting frames off the end (and
          // `size` with them) is caught when the archive is opened, not only by the whole-file hash.
          const facts = { name, original_hash: enc.plainHash, size: before.size, frame_size: wanted.frameSize, source: sourceOf(before) };
          content.encryption = { archive_id: archiveId.toString('hex'), metadata: sealRandom(dataKey, metadataAad(archiveId), Buffer.from(JSON.stringify(facts))), keyslots };
        }
        return { content, plainHash: enc.plainHash };
      };
      try {
        return await commitStored(repo, source, name, before, { ...opts, pool }, { stored, describe });
      } finally {
        await stored.close();
      }
    });
  } finally {
    await input.close();
  }
}

function sourceOf(st: InputStat): Manifest['source'] {
  return { mode: st.mode, mtime: new Date(st.mtimeMs).toISOString() };
}

/** With transforms: the encoded stream is what commitStored archives; the manifest describes the plaintext. */
interface Transformed {
  content: ManifestContent;
  plainHash: string;
}

/** A transformed commit: the stored stream, and the manifest's description of it once it is all encoded. */
interface TransformedInput {
  stored: StoredInput;
  describe: (enc: EncodedInput) => Promise<Transformed>;
}

/** Archive `source` as it is, or, with `tf`, the stored stream encoded from it. */
async function commitStored(repo: Repository, source: InputSource, name: string, before: InputStat, opts: CommitOptions, tf: TransformedInput | null): Promise<CommitResult> {
  // With transforms the plan is made for the stored stream's upper bound (its tier, docs/FORMAT.md §12.2), and
  // written for its real length, which the writer learns on the way (the same tier and segment size).
  const planFor = (storedBytes: number, tier = opts.tier) =>
    opts.largeBlob
      ? planLargeBlob(storedBytes, repo.storeCount, repo.failures)
      : planArchive({ storedBytes, stores: repo.storeCount, failures: repo.failures, tier, policy: opts.policy, segmentSize: opts.segmentSize, groupBlocks: opts.groupBlocks });
  const storedBytes = tf ? tf.stored.bound : before.size;
  // The code follows from the stores: refused here, before anything is written, when they can't survive the failures.
  let plan = planFor(storedBytes);
  const geometry = plan.geometry;
  const file = source.path;
  // With transforms the user's input is read by the encoder (commitTo opened it).
  const input = tf ? null : await source.open();
  let t: Transformed | null = null;
  try {
    return await withPool(opts, async (pool) => {
      // Directory stores are created here (the only operation that may create them), each with its marker
      // when the set is new (docs/FORMAT.md §14).
      await repo.markIfNew(opts.signal);
      await repo.prepareStaging();
      // Idempotence: only when an archive of the same name and size exists do we pay a hash pass to compare.
      // A large blob is found by its hash, which the caller looked up first (and the publish below checks again).
      const existing = !input || opts.largeBlob ? [] : await sameNameAndSize(repo, name, before.size);
      let rewrite = false;
      if (input && existing.length) {
        const hash = await hashFile(pool, input, file, before.size, opts);
        const hit = existing.find((e) => e.manifest.original_hash === hash);
        if (hit && !opts.force) {
          await checkUnchanged(source, before);
          // "Already archived" only counts when the archive is sound: heal it, or rewrite it from the file in hand.
          const healed = await withArchiveLock(repo, hit.dir, async () => {
            const h = await verifyArchive(repo, hit.dir, pool, { signal: opts.signal });
            if (h.status === 'healthy') return 'already-archived' as const;
            if (h.status === 'repairable') {
              await repair([hit.dir], { storeSet: repo.set, pool, signal: opts.signal });
              return 'repaired' as const;
            }
            return null;
          }, opts.signal);
          if (healed) return { ...result(healed, repo, hit.dir, hit.manifest), ignored: ignoredSettings(opts, hit.manifest) };
          rewrite = true;
        }
        rewrite ||= hit !== undefined;
      }
      await cleanLeftovers(repo);
      const where = pathStores(geometry, repo.storeCount);
      const staging = await Staging.create(repo, (rel) => where.get(rel) ?? 0);
      try {
        checkAborted(opts.signal);
        let done = 0;
        const total = storedBytes + [...geometry.stripes, ...geometry.level2].reduce((s, st) => s + st.shardSize * st.parityShards, 0);
        const w = tf ? await tf.stored.open(geometry, (n) => planFor(n, plan.tier).geometry) : { input: input!, geometry };
        // A streamed stored input reads only in order: segment after segment. Anything else is a file the one-pass
        // writer reads row by row across a stripe's segments.
        const hashes = await ('inOrder' in w && w.inOrder ? writeShardsInOrder : writeShards)({
          input: w.input,
          inputPath: file,
          geometry: w.geometry,
          settle: w.settle,
          chunkSize: DEFAULT_CHUNK_SIZE,
          staging,
          pool,
          signal: opts.signal,
          onBytes: (n) => opts.onProgress?.((done += n), total),
          hashInput: tf === null,
          direct: !opts.cache,
        });
        if (tf) {
          const enc = await tf.stored.finish();
          t = await tf.describe(enc);
          plan = planFor(enc.storedSize, plan.tier);
        }
        await checkUnchanged(source, before);
        const manifest = buildManifest(plan, hashes, {
          name,
          size: before.size,
          source: opts.largeBlob ? undefined : sourceOf(before),
          transformed: t && { content: t.content, plainHash: t.plainHash },
          createdAt: new Date().toISOString(),
          generator: `blockframe ${VERSION}`,
        });
        const enc = t?.content.encryption;
        const dir = enc ? archiveDirName(ENCRYPTED_DIR_NAME, enc.archive_id) : opts.largeBlob ? blobDir(hashes.original) : archiveDirName(name, t?.plainHash ?? hashes.original);
        return await withArchiveLock(
          repo,
          dir,
          async () => {
            // What is there under this name already: an archive another commit just published (kept, unless
            // rewriting), or one whose manifests are all damaged (replaced by this sound one).
            if (await hasArchiveKeys(repo, dir)) {
              // A manifest that contradicts the directory name (docs/FORMAT.md §7.1) is not sound: the file in hand is.
              const sound = await repo.loadManifest(dir, opts.signal).then((r) => !r.contradicted, () => false);
              if (sound && !rewrite && !opts.force) {
                await staging.discard();
                return result('already-archived', repo, dir, await repo.readManifest(dir));
              }
              await removeArchive(repo, dir, opts.signal);
              rewrite = true;
            }
            const outcome = await staging.publish(dir, serializeManifest(manifest), opts.signal);
            const status = outcome === 'published' ? (rewrite ? 'rewritten' : 'archived') : 'already-archived';
            return result(status, repo, dir, outcome === 'published' ? manifest : await repo.readManifest(dir), t, name);
          },
          opts.signal,
        );
      } catch (err) {
        await staging.discard();
        throw err;
      }
    });
  } finally {
    await input?.close();
  }
}

async function checkUnchanged(source: InputSource, before: InputStat): Promise<void> {
  const after = await source.stat().catch(() => null);
  if (!after || after.size !== before.size || after.mtimeMs !== before.mtimeMs || after.ino !== before.ino) throw changed(source.path);
}

/** Settings the caller asked for that an existing archive does not have. */
function ignoredSettings(opts: CommitOptions, m: Manifest): string[] | undefined {
  const out: string[] = [];
  if (opts.tier !== undefined && opts.tier !== m.tier) out.push(`tier ${opts.tier} (the archive is tier ${m.tier})`);
  if (opts.segmentSize !== undefined && m.tier !== 1 && opts.segmentSize !== m.segment_size) out.push(`segment size ${opts.segmentSize} (the archive has ${m.segment_size})`);
  const zstd = m.content?.transforms.find((x) => x.type === 'zstd');
  if (opts.compress !== undefined && (zstd?.type !== 'zstd' || (typeof opts.compress === 'number' && opts.compress !== zstd.level))) {
    out.push(`compression zstd:${opts.compress} (the archive has ${zstd?.type === 'zstd' ? `zstd:${zstd.level}` : 'none'})`);
  }
  return out.length ? out : undefined;
}

async function sameNameAndSize(store: Repository, name: string, size: number): Promise<{ dir: string; manifest: Manifest }[]> {
  const prefix = `${safeNameComponent(name)}_`;
  const out: { dir: string; manifest: Manifest }[] = [];
  for (const dir of await store.listDirs(prefix)) {
    const manifest = await store.readManifest(dir).catch(() => null);
    if (manifest && manifest.size === size && manifest.name === name) out.push({ dir, manifest });
  }
  return out;
}

function result(status: CommitResult['status'], store: Repository, dir: string, manifest: Manifest, t?: Transformed | null, name?: string): CommitResult {
  return {
    status,
    name: manifest.name ?? name ?? '(encrypted)',
    dir,
    path: store.where(dir),
    size: manifest.size,
    tier: manifest.tier,
    originalHash: manifest.original_hash ?? t?.plainHash ?? '',
    segments: manifest.stripes.reduce((n, s) => n + s.data.length, 0),
    stripes: manifest.stripes.length,
    manifest,
  };
}
