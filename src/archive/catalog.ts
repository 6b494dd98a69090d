// The catalog: NAME → archive directory (exact directory, file name, or hash prefix) over a repository, reading
// only the manifests a name can match. One lookup for the CLI, the library, the file server and the S3 API.
import { BlockFrameError } from '../errors.js';
import { ENCRYPTED_DIR_NAME, safeNameComponent } from '../layout/names.js';
import { isEncrypted } from '../layout/manifest.js';
import type { KeySecret } from '../transform/keys.js';
import { openContent } from './keyring.js';
import type { Repository } from './repo.js';

/** Whether the caller may know of archive `dir` (its manifest's `name`; undefined when unreadable). */
export type ArchiveFilter = (dir: string, name: string | undefined) => boolean;

const HASH_HEX = 64;

/**
 * Resolve `query` to exactly one archive directory: an exact directory name, else an exact file name, else a
 * hash prefix (at least 4 hex digits). An archive's directory is "{safe name}_{64 hex}" (layout/names.ts), so a
 * file name can only be held by directories with its safe prefix: the stores are listed by that prefix and only
 * those manifests are read (plus the encrypted archives', whose names are sealed, when keys are given). The
 * whole root is listed only for a hash prefix that no name matched.
 * With `visible`, archives it refuses do not exist for this lookup (never matched, counted or named in errors).
 * @throws BlockFrameError BF_AMBIGUOUS_NAME (several matches, listed), BF_ARCHIVE_NOT_FOUND, BF_KEY_REQUIRED (only
 * encrypted archives could match and no key was given), BF_MANIFEST_INVALID (the one archive a name points at is
 * damaged on every copy), store errors when no store answers.
 */
export async function resolveArchive(repo: Repository, query: string, secrets: readonly KeySecret[] = [], visible?: ArchiveFilter): Promise<string> {
  const nameOf = async (dir: string) => (await repo.readManifest(dir).catch(() => undefined))?.name;
  const isDirName = !query.includes('/') && query.length > HASH_HEX && /_[0-9a-f]{64}$/.test(query);
  if (isDirName && (await repo.listDirs(query)).includes(query) && (!visible || visible(query, await nameOf(query)))) return query;

  const safe = `${safeNameComponent(query)}_`;
  const byName: string[] = [];
  // Archives whose manifest can't be read, but whose directory name says they hold this file name.
  const damaged: { dir: string; err: unknown }[] = [];
  for (const dir of await repo.listDirs(safe)) {
    if (dir.length !== safe.length + HASH_HEX) continue;
    try {
      const m = await repo.readManifest(dir);
      if (visible && !visible(dir, m.name)) continue;
      if (m.name === query) byName.push(dir);
    } catch (err) {
      if (!visible || visible(dir, undefined)) damaged.push({ dir, err });
    }
  }
  // An encrypted archive's name is sealed: only a key that opens it can match it; without one, count them.
  let sealed = 0;
  const encryptedPrefix = `${ENCRYPTED_DIR_NAME}_`;
  if (byName.length === 0 || secrets.length) {
    for (const dir of await repo.listDirs(encryptedPrefix)) {
      if (dir.length !== encryptedPrefix.length + HASH_HEX || byName.includes(dir)) continue;
      const m = await repo.readManifest(dir).catch(() => undefined);
      if (!m || !isEncrypted(m) || (visible && !visible(dir, m.name))) continue;
      sealed++;
      if (secrets.length && (await openContent(dir, m, secrets).catch(() => null))?.name === query) byName.push(dir);
    }
  }
  let matches = byName;
  if (matches.length === 0 && /^[0-9a-fA-F]{4,64}$/.test(query)) {
    const prefix = query.toLowerCase();
    matches = [];
    for (const dir of await repo.listDirs()) {
      if (!dir.slice(-HASH_HEX).startsWith(prefix)) continue;
      if (!visible || visible(dir, await nameOf(dir))) matches.push(dir);
    }
  }
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) return ambiguous(query, matches);
  if (damaged.length === 1) {
    const e = damaged[0]!.err;
    const why = e instanceof BlockFrameError ? e.message : String(e);
    throw new BlockFrameError('BF_MANIFEST_INVALID', `archive ${damaged[0]!.dir} exists but its manifest is damaged on every copy: ${why}`, { archive: damaged[0]!.dir });
  }
  if (damaged.length > 1) return ambiguous(query, damaged.map((d) => d.dir));
  if (sealed > 0 && secrets.length === 0) {
    throw new BlockFrameError('BF_KEY_REQUIRED', `no archive named "${query}" among the unencrypted ones; ${sealed} encrypted archive(s) can be searched by name only with a key (or name one by its directory)`, { archive: query });
  }
  if (/^[0-9a-fA-F]{1,3}$/.test(query)) {
    throw new BlockFrameError('BF_ARCHIVE_NOT_FOUND', `no archive named "${query}"; a hash prefix needs at least 4 hex digits (try: blockframe list)`, { archive: query });
  }
  throw new BlockFrameError('BF_ARCHIVE_NOT_FOUND', `no archive named "${query}" in ${repo.label} (try: blockframe list)`, { archive: query });
}

function ambiguous(query: string, matches: string[]): never {
  throw new BlockFrameError('BF_AMBIGUOUS_NAME', `"${query}" matches ${matches.length} archives: ${matches.join(', ')} (use a directory name or hash prefix)`, {
    archive: query,
    candidates: matches,
  });
}
